"""'Today' is the compound's day (Asia/Shanghai, UTC+8), not UTC's: at the local midnight boundary
(16:00 UTC) a passage at 23:30 local belongs to yesterday and one at 00:30 to today, an elder turns
70, a lives-alone episode starts and a courier's last valid day ends, all by the local calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from server.config import ElderWatchConfig
from server.localtime import local_midnight
from server.store import Store
from server.store.records import PersonEntry
from server.watch.elder import ElderWatch
from tests.server.conftest import passage

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 30 November, local: 23:30 on the 29th and 00:30 on the 30th are both 29 November in UTC.
LATE = datetime(2026, 11, 29, 23, 30, tzinfo=SHANGHAI)
EARLY = datetime(2026, 11, 30, 0, 30, tzinfo=SHANGHAI)



def test_today_counts_from_local_midnight(store: Store) -> None:
    assert LATE.astimezone(UTC).date() == EARLY.astimezone(UTC).date() == date(2026, 11, 29)
    store.insert_events(
        [
            passage("s", 1, "p-a", "in", LATE.astimezone(UTC)),
            passage("s", 2, "p-b", "in", EARLY.astimezone(UTC)),
        ]  # fmt: skip
    )
    now = EARLY + timedelta(minutes=5)
    midnight = local_midnight(now, SHANGHAI)
    assert midnight == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
    assert store.counts_by_role(midnight) == {"resident": 1}, "only the 00:30 passage is today"
    utc_midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert store.counts_by_role(utc_midnight) == {"resident": 2}, "UTC's day would count both"
    yesterday = local_midnight(now, SHANGHAI, days_back=1)
    assert [e.identity for e in store.events(yesterday, None) if e.ts < midnight] == ["p-a"]


def test_an_elder_is_watched_from_her_local_70th_birthday(store: Store) -> None:
    store.upsert_person(PersonEntry(id="p-wang", name="王秀华", role="resident",
                                    birth_date=date(1956, 11, 30), care_flags=[]))  # fmt: skip
    store.insert_events([passage("s", 1, "p-wang", "in", LATE.astimezone(UTC) - timedelta(days=5))])
    watch = ElderWatch(ElderWatchConfig(), store, tz=SHANGHAI)
    assert watch.watched(LATE.astimezone(UTC)) == [], "69 until local midnight"
    [w] = watch.watched(EARLY.astimezone(UTC))
    assert w.person.id == "p-wang"


def test_no_passage_today_starts_a_new_episode_at_local_midnight(store: Store) -> None:
    store.upsert_person(
        PersonEntry(id="p-alone", name="独居", role="resident", birth_date=date(1990, 1, 1),
                    care_flags=["lives_alone"])
    )  # fmt: skip
    seen = LATE.astimezone(UTC) - timedelta(hours=30)  # not long enough for not_seen (48 h)
    store.insert_events([passage("s", 1, "p-alone", "in", seen)])
    watch = ElderWatch(ElderWatchConfig(), store, tz=SHANGHAI)
    [late] = watch.scan(LATE.astimezone(UTC))
    assert late.rule == "no_passage_today"
    assert watch.scan(LATE.astimezone(UTC) + timedelta(minutes=20)) == [], "same local day"
    [early] = watch.scan(EARLY.astimezone(UTC))  # the same UTC day, the next local one
    assert early.rule == "no_passage_today" and early.alert_id != late.alert_id
    assert early.evidence["last_seen_local"] == "2026-11-28 17:30"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_boards_today_starts_at_local_midnight(server) -> None:
    from server.api.auth import Caller
    from server.api.routes.board import board_at

    evening = datetime(2026, 11, 29, 20, 0, tzinfo=SHANGHAI)  # yesterday, after UTC's midnight
    night = datetime(2026, 11, 30, 1, 0, tzinfo=SHANGHAI)
    server.store.insert_events([passage(server.cfg.site, 1, "p-a", "in", evening.astimezone(UTC)),
                                passage(server.cfg.site, 2, "p-b", "in", night.astimezone(UTC))])
    viewer = Caller(name="viewer1", role="viewer")
    at_three = datetime(2026, 11, 30, 3, 0, tzinfo=SHANGHAI).astimezone(UTC)
    board = board_at(server, server.store, viewer, at_three)
    assert board.counts_today == {"resident": 1}, "only the 01:00 passage is today"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_couriers_last_valid_day_ends_at_local_midnight(server) -> None:
    face = server.face
    server.store.upsert_person(PersonEntry(id="c-1", name="快递员", role="courier",
                                           valid_until=date(2026, 11, 29)))  # fmt: skip
    rng = np.random.default_rng(1)
    e = rng.standard_normal((1, face.dim)).astype(np.float32)
    server.store.add_templates("c-1", e / np.linalg.norm(e), face.model_id, [None])
    assert server.publish_gallery(LATE.astimezone(UTC)).persons == 1, "still 29 Nov locally"
    assert server.publish_gallery(EARLY.astimezone(UTC)).persons == 0, "30 Nov locally"
