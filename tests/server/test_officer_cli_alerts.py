"""``gatewatch alerts``: the list in the site's local time and language with names and evidence
as text, acknowledge / close with a note, ``--json`` keeps the API's JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.localtime import day_time_text
from server.store.records import PersonEntry
from tests.server.conftest import passage
from tests.server.test_officer_cli import cli
from tests.server.test_sightings import _ingest


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_alerts_list_ack_and_close_with_notes(server, broker, http_url: str) -> None:
    officer = server.tokens["officer"]
    server.store.upsert_person(PersonEntry(id="p-wang", name="王秀英", role="resident"))
    went = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 12:00 in Xi'an
    _ingest(server, broker, [passage(server.cfg.site, 1, "p-wang", "out", went, gate="south")])
    evidence = {"went_out": went.isoformat(), "gate": "south", "hours": 6.2}  # the watch's shape
    aid = server.store.add_alert("out_not_back", "p-wang", "e1", evidence)
    created = server.store.alerts()[0].created
    r = cli(http_url, officer, "alerts")
    assert r.returncode == 0, r.stderr
    local = created.astimezone(ZoneInfo("Asia/Shanghai"))
    tz = ZoneInfo("Asia/Shanghai")
    assert r.stdout.strip() == (
        f"#{aid}  {day_time_text(local, tz, 'zh-CN')}  外出未归  王秀英（p-wang）  [待处理]  "
        f"south 出 {day_time_text(went, tz, 'zh-CN')}，已 6 小时 12 分未归"
    )
    r = cli(http_url, officer, "alerts", "ack", str(aid), "--note", "已联系女儿")
    assert r.returncode == 0 and r.stdout.strip() == f"告警 #{aid}：已确认（officer1）", r.stderr
    r = cli(http_url, officer, "alerts", "--state", "acknowledged")
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith(f"#{aid} ") and "[已确认]" in lines[0]
    assert lines[1].endswith("officer1: 已确认 — 已联系女儿")
    r = cli(http_url, officer, "alerts", "close", str(aid), "--note", "已回家", "--json")
    assert json.loads(r.stdout) == {"alert_id": aid, "state": "closed", "by": "officer1"}
    r = cli(http_url, officer, "alerts", "--state", "closed", "--json")
    [a] = json.loads(r.stdout)
    assert [(h["state"], h["note"]) for h in a["history"]] == [
        ("acknowledged", "已联系女儿"), ("closed", "已回家")]  # fmt: skip
    assert a["evidence"]["gate"] == "south" and a["summary"][0]["key"] == "alerts.ev.out_not_back"
    assert cli(http_url, officer, "alerts").stdout.strip() == "没有待处理的告警"
    r = cli(http_url, officer, "alerts", "close", "99999")
    assert r.returncode == 2 and "no alert 99999" in r.stderr  # the API's 404 message
    r = cli(http_url, officer, "alerts", "ack")
    assert r.returncode == 2 and "ID" in r.stderr
    assert (datetime.now(UTC) - created) < timedelta(minutes=5)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_alerts_show_merged_counts_and_ack_several(server, http_url: str) -> None:
    officer, s = server.tokens["officer"], server.store
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    for i in range(3):  # three occurrences, a minute apart: one alert
        ev = {"gate": "north", "direction": "in", "ts": (t0 + timedelta(minutes=i)).isoformat()}
        merged = s.raise_alert("watchlist_seen", "p-risk", f"e{i}", ev, now=t0 + i * timedelta(
            minutes=1))  # fmt: skip
    night = [s.add_alert("visitor_inside_at_night", f"v-{i:012x}", f"n{i}", {"gate": "east"})
             for i in range(2)]  # fmt: skip
    last = (t0 + timedelta(minutes=2)).astimezone(ZoneInfo("Asia/Shanghai"))
    r = cli(http_url, officer, "alerts", "--rule", "watchlist_seen")
    shown = day_time_text(last, ZoneInfo("Asia/Shanghai"), "zh-CN")
    assert r.stdout.strip().endswith(f"共 3 次，最近 {shown}"), r.stdout
    r = cli(http_url, officer, "alerts", "ack", str(night[0]), str(merged.id), "--note", "巡查")
    assert r.returncode == 0 and r.stdout.strip() == "已确认 2 条告警（officer1）", r.stderr
    r = cli(http_url, officer, "alerts", "ack", "--all", "--yes", "--rule",
            "visitor_inside_at_night", "--json")  # fmt: skip
    assert json.loads(r.stdout)["ids"] == [night[1]], r.stderr
    assert not s.alerts("open")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_ack_all_confirms_the_servers_count_and_needs_a_terminal_or_yes(server, http_url) -> None:
    import os
    import subprocess
    import sys

    from sqlalchemy import insert

    from server import tables as t
    from tests.server.test_officer_cli import ROOT

    now = datetime.now(UTC)
    n = 2001  # more than one page of the list (2000 at most)
    with server.store.engine.begin() as conn:
        conn.execute(insert(t.alerts), [
            {"rule": "visitor_inside_at_night", "person_id": f"v-{i:012x}", "episode": f"b{i}",
             "state": "open", "evidence": {"gate": "east"}, "created": now, "updated": now,
             "count": 1, "last_ts": now} for i in range(n)])  # fmt: skip
    env = os.environ | {"GATEWATCH_TOKEN": server.tokens["officer"]}
    r = subprocess.run([sys.executable, "-m", "gatewatch", "alerts", "ack", "--all", "--url",
                        http_url], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=180)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert f"将确认 {n} 条待处理告警" in r.stderr and "--yes" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(server.store.alerts("open")) == n, "nothing acknowledged"
    r = cli(http_url, server.tokens["officer"], "alerts", "ack", "--all", "--yes")
    assert r.returncode == 0 and r.stdout.strip() == f"已确认 {n} 条告警（officer1）", r.stderr
    assert not server.store.alerts("open")
