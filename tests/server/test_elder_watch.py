"""Each elder-watch rule fires once on a constructed history, and not on a normal one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.config import ElderWatchConfig
from server.store import Store
from server.store.records import PersonEntry
from server.watch.elder import ElderWatch
from tests.server.conftest import passage

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 20:00 in the compound (UTC+8)


@pytest.fixture()
def store(db_url: str) -> Store:
    from server.db import make_engine, migrate

    engine = make_engine(db_url)
    migrate(engine)
    s = Store(engine)
    people = [
        ("p-old-away", date(1945, 1, 1), []),  # 81, last seen 3 days ago (inside)
        ("p-old-out", date(1950, 6, 1), []),  # 76, went out 8 h ago
        ("p-old-night", date(1950, 6, 1), []),  # 76, went out at 02:00 local, came back
        ("p-alone", date(1990, 1, 1), ["lives_alone"]),  # young, lives alone, nothing for 30 h
        ("p-old-normal", date(1940, 1, 1), []),  # 86, in and out by day, back home
        ("p-young", date(2000, 1, 1), []),  # 26: not watched, away for a week
    ]
    for pid, born, flags in people:
        s.upsert_person(
            PersonEntry(id=pid, name=pid, role="resident", birth_date=born, care_flags=flags)
        )
    h = lambda n: NOW - timedelta(hours=n)  # noqa: E731
    s.insert_events(
        [
            passage("s", 1, "p-old-away", "in", h(72)),
            passage("s", 2, "p-old-out", "in", h(20)),
            passage("s", 3, "p-old-out", "out", h(8)),
            passage("s", 4, "p-old-night", "out", h(18)),  # 18:00 UTC = 02:00 local
            passage("s", 5, "p-old-night", "in", h(17)),
            passage("s", 6, "p-alone", "in", h(30)),
            passage("s", 7, "p-old-normal", "out", h(5)),  # 15:00 local
            passage("s", 8, "p-old-normal", "in", h(3)),
            passage("s", 9, "p-young", "out", h(170)),
        ]
    )
    return s


def test_each_rule_fires_once_with_evidence(store: Store) -> None:
    published = []
    watch = ElderWatch(ElderWatchConfig(out_not_back_h=6), store, published.append)
    first = watch.scan(NOW)
    got = sorted((a.rule, a.person_id) for a in first)
    assert got == [
        ("no_passage_today", "p-alone"),
        ("not_seen", "p-old-away"),
        ("out_at_night", "p-old-night"),
        ("out_not_back", "p-old-out"),
    ]
    by_rule = {a.rule: a for a in first}
    assert by_rule["not_seen"].evidence["hours"] == 72.0
    assert by_rule["out_at_night"].evidence["local_time"] == "02:00"
    # UTC for machines, the compound's local time (UTC+8) for people.
    assert by_rule["out_at_night"].evidence["went_out"] == "2026-11-29T18:00:00+00:00"
    assert by_rule["out_at_night"].evidence["went_out_local"] == "2026-11-30 02:00"
    assert by_rule["out_not_back"].evidence["went_out_local"] == "2026-11-30 12:00"
    assert by_rule["not_seen"].evidence["last_seen_local"] == "2026-11-27 20:00"
    assert by_rule["no_passage_today"].evidence["last_seen_local"] == "2026-11-29 14:00"
    assert by_rule["out_not_back"].evidence["hours"] == 8.0
    assert [a.rule for a in published] == [a.rule for a in first]
    # Once per episode: scanning again, or a minute later, adds nothing.
    assert watch.scan(NOW) == []
    assert watch.scan(NOW + timedelta(minutes=1)) == []
    assert len(store.alerts("open")) == 4


def test_a_new_episode_alerts_again(store: Store) -> None:
    watch = ElderWatch(ElderWatchConfig(out_not_back_h=6), store)
    watch.scan(NOW)
    store.insert_events(
        [
            passage("s", 20, "p-old-out", "in", NOW + timedelta(hours=1)),
            passage("s", 21, "p-old-out", "out", NOW + timedelta(hours=2)),
        ]
    )
    later = watch.scan(NOW + timedelta(hours=9))
    assert ("out_not_back", "p-old-out") in [(a.rule, a.person_id) for a in later]


def test_a_normal_history_raises_nothing(db_url: str) -> None:
    from server.db import make_engine, migrate

    engine = make_engine(db_url)
    migrate(engine)
    s = Store(engine)
    s.upsert_person(
        PersonEntry(
            id="p-gran",
            name="Gran",
            role="resident",
            birth_date=date(1938, 5, 5),
            care_flags=["lives_alone"],
        )
    )
    day = lambda d, hh: NOW - timedelta(days=d) + timedelta(hours=hh - 12)  # noqa: E731
    s.insert_events(
        [
            passage("s", i, "p-gran", d, day(n, hh))
            for i, (n, hh, d) in enumerate(
                [
                    (2, 1, "out"),
                    (2, 3, "in"),
                    (1, 2, "out"),
                    (1, 4, "in"),
                    (0, 1, "out"),
                    (0, 2, "in"),
                ],
                1,
            )
        ]
    )
    assert ElderWatch(ElderWatchConfig(), s).scan(NOW) == []


@pytest.mark.parametrize("window_h,fires", [(24, True), (29.9, True), (30.1, False)])
def test_no_passage_today_window_comes_from_config(
    store: Store, window_h: float, fires: bool
) -> None:
    cfg = ElderWatchConfig(no_passage_today_h=window_h)
    got = [(f.rule, f.person_id) for f in ElderWatch(cfg, store).findings(NOW)]
    assert (("no_passage_today", "p-alone") in got) is fires


def test_the_rule_registry_runs_each_rule() -> None:
    from server.states import AlertRule
    from server.watch.elder import RULES

    assert set(RULES) == set(AlertRule) - {
        AlertRule.SIGHTING,
        AlertRule.WATCHLIST_SEEN,
        AlertRule.VISITOR_INSIDE_AT_NIGHT,
    }
