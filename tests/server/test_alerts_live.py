"""Alerts at volume in real Chromium (one browser, two windows: /alerts and the wall): 500
repeats of one person are one row with its count; a new alert shows on /alerts without a reload
(with a beep once sound is on); acknowledged there, it leaves the wall within 2 s and the wall
stops flashing; the wall's alert tile shows only whole rows and "另有 N 条" for the rest; the
per-role boxes add up to the totals, watchlist people included; "全部确认" after a confirm step
clears the wall."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.states import AlertRule, AlertState
from server.store.records import PersonEntry
from tests.server.browser import chrome, needs_chromium, shoot, sign_in, wait
from tests.server.wall_fixtures import Edge

pytestmark = [needs_chromium, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]
STATIC = Path(__file__).resolve().parents[2] / "server" / "static" / "js"
ROLES = ("resident", "visitor", "courier", "staff", "watchlist")
VISITORS = 9  # open visitor alerts besides the merged one: more than the wall's tile holds
# How many rows of the wall's alert tile reach below the tile (cut mid-line).
CUT_ROWS = """
const t = document.getElementById('alerts-tile').getBoundingClientRect();
return [...document.querySelectorAll('#alerts li')]
  .filter(e => e.getBoundingClientRect().bottom > t.bottom).length;
"""


def _seed(server) -> int:  # noqa: ANN001
    """500 watchlist occurrences of one person in the last ten minutes, and VISITORS others."""
    s = server.store
    for p in (PersonEntry(id="p-risk", name="刘某某", role="watchlist"),
              PersonEntry(id="p-zhang", name="张某", role="watchlist"),
              PersonEntry(id="p-wang", name="王秀英", role="resident")):  # fmt: skip
        s.upsert_person(p)
    start = datetime.now(UTC) - timedelta(minutes=10)
    for i in range(500):
        at = start + timedelta(seconds=i)
        ev = {"event_id": f"e{i}", "gate": "north", "direction": "in", "ts": at.isoformat()}
        merged = s.raise_alert(AlertRule.WATCHLIST_SEEN, "p-risk", f"e{i}", ev, now=at)
    for i in range(VISITORS):
        s.raise_alert(AlertRule.VISITOR_INSIDE_AT_NIGHT, f"v-{i:012x}", f"n{i}",
                      {"gate": "east", "since": start.isoformat(), "hours": 5.0},
                      now=start - timedelta(minutes=5))  # fmt: skip
    return merged.id


def _js(d, script: str):  # noqa: ANN001, ANN202
    return d.execute_script(script)


def _figures(d, kind: str) -> tuple[int, int]:  # noqa: ANN001
    """The total and the sum of the per-role boxes of ``kind`` (inside, in, out)."""
    total = "inside-total" if kind == "inside" else f"{kind}-total"
    values = [int(_js(d, f"return document.getElementById('{kind}-{r}').dataset.value || 0"))
              for r in ROLES]  # fmt: skip
    return int(_js(d, f"return document.getElementById('{total}').dataset.value || -1")), sum(
        values
    )


def _wall_ids(d) -> set[int]:  # noqa: ANN001
    return set(_js(d, "return [...document.querySelectorAll('#alerts li[data-id]')]"
                      ".map(e => Number(e.dataset.id))"))  # fmt: skip


def test_alerts_live_merged_and_acknowledged_off_the_wall(server, broker, http_url: str) -> None:
    merged_id = _seed(server)
    edge = Edge(server, broker)
    d = chrome("1080p")
    try:
        # /alerts: the 500 occurrences are one row with its count.
        sign_in(d, http_url, server.tokens["officer"], "/alerts")
        wait(d, lambda d: d.find_elements("css selector", f'#rows tr[data-id="{merged_id}"]'))
        rows = d.find_elements("css selector", "#rows tr[data-id]")
        assert len(rows) == 1 + VISITORS
        merged = d.find_element("css selector", f'#rows tr[data-id="{merged_id}"]')
        assert merged.get_attribute("data-count") == "500" and "500 次" in merged.text
        assert "刘某某（p-risk）" in merged.text and "首次" in merged.text
        assert d.find_element("id", "count").text == f"共 {1 + VISITORS} 条"
        alerts_win = d.current_window_handle

        # The wall in a second window: whole rows only, "另有 N 条" for the rest.
        d.switch_to.new_window("window")
        wall_win = d.current_window_handle
        sign_in(d, http_url, server.tokens["officer"], "/wall")
        wait(d, lambda d: _js(d, "return document.body.dataset.ready === '1'"
                                 " && document.body.dataset.stream === 'open'"))  # fmt: skip
        more = int(_js(d, "return document.getElementById('alerts-tile').dataset.more"))
        shown = int(_js(d, "return document.getElementById('alerts-tile').dataset.shown"))
        assert more > 0 and shown + more == 1 + VISITORS
        assert f"另有 {more} 条" in d.find_element("id", "alerts").text
        cut = _js(d, CUT_ROWS)
        assert cut == 0, "an alert cut mid-line"
        assert merged_id in _wall_ids(d) and "500 次" in d.find_element("id", "alerts").text
        # One beep for both pages (sound.js), no copy of it in wall.js.
        assert _js(d, "return typeof GW.sound") == "function", "the wall loads sound.js"
        assert "AudioContext" not in (STATIC / "wall.js").read_text(encoding="utf-8")
        d.find_element("id", "sound").click()

        # A new watchlist alert shows on /alerts without a reload, with a beep.
        d.switch_to.window(alerts_win)
        wait(d, lambda d: _js(d, "return document.body.dataset.stream === 'open'"))
        d.find_element("id", "sound").click()
        _js(d, "window.notReloaded = true")
        t0 = time.monotonic()
        edge.send("p-zhang", "in", gate="south", role="watchlist")
        edge.send("p-wang", "in", gate="south", role="resident")
        wait(d, lambda d: d.find_elements("css selector", '#rows a[href="/person/p-zhang"]'), 60)
        live_s = time.monotonic() - t0
        assert _js(d, "return window.notReloaded === true"), "the page reloaded"
        wait(d, lambda d: _js(d, "return document.body.dataset.sounds") == "1", 30)
        [new_id] = [a.id for a in server.store.alerts() if a.person_id == "p-zhang"]
        assert live_s < 5, f"the new alert took {live_s:.1f} s to show on /alerts"

        # The wall got it live and flashes until it is acknowledged.
        d.switch_to.window(wall_win)
        wait(d, lambda d: new_id in _wall_ids(d), 30)
        wait(d, lambda d: _js(d, "return document.body.dataset.sounds") == "1", 30)
        tile = d.find_element("id", "alerts-tile")
        assert "flash" in tile.get_attribute("class") and "high" in tile.get_attribute("class")
        wait(d, lambda d: _figures(d, "inside")[0] == 2, 30)  # the wall refetched its figures
        for kind in ("inside", "in", "out"):
            total, boxes = _figures(d, kind)
            assert total == boxes, f"{kind}: the role boxes add up to {boxes}, the total {total}"
        assert int(_js(d, "return document.getElementById('inside-watchlist').dataset.value")) == 1
        shoot(d, "wall-alerts", ready=lambda d: _js(d, "return document.body.dataset.ready"))

        # Acknowledged on /alerts: off the wall within 2 s, and the flash stops.
        d.switch_to.window(alerts_win)
        row = d.find_element("css selector", f'#rows tr[data-id="{new_id}"]')
        t0 = time.monotonic()
        row.find_element("css selector", "button.ack").click()
        d.switch_to.window(wall_win)
        wait(d, lambda d: new_id not in _wall_ids(d), 30)
        gone_s = time.monotonic() - t0
        assert gone_s < 2.0, f"the acknowledged alert stayed {gone_s:.2f} s on the wall"
        assert "flash" not in d.find_element("id", "alerts-tile").get_attribute("class")

        # "全部确认" for the filtered set, after a confirm step: the wall's tile empties.
        d.switch_to.window(alerts_win)
        acked = f'#rows tr[data-id="{new_id}"][data-state="acknowledged"]'
        wait(d, lambda d: d.find_elements("css selector", acked))
        shoot(d, "alerts", ready=lambda d: _js(d, "return document.body.dataset.loaded"))
        d.find_element("id", "ack-all").click()
        wait(d, lambda d: d.find_element("id", "confirm").is_displayed())
        text = d.find_element("id", "confirm-text").text
        assert text == f"将确认符合当前筛选条件的全部 {1 + VISITORS} 条待处理告警。", text
        shoot(d, "alerts-confirm")
        d.find_element("id", "confirm-yes").click()
        wait(d, lambda d: d.find_element("id", "done").is_displayed())
        assert d.find_element("id", "done").text == f"已确认 {1 + VISITORS} 条告警"
        assert not d.find_elements("css selector", '#rows tr[data-state="open"]')
        d.switch_to.window(wall_win)
        wait(d, lambda d: "暂无待处理告警" in d.find_element("id", "alerts").text, 30)
        d.switch_to.window(alerts_win)
        d.get(http_url + "/alerts?lang=en")
        wait(d, lambda d: "Acknowledge all" in d.find_element("id", "ack-all").text
             and d.find_elements("css selector", "#rows tr[data-count='500']"))  # fmt: skip
        assert "500×" in d.find_element("css selector", "#rows tr[data-count='500']").text
        shoot(d, "alerts-en", ready=lambda d: _js(d, "return document.body.dataset.loaded"))
        # The row's button acknowledges as seen (its id, up to the list's time), then "全部确认".
        bulk, one_row = server.store.audit_log(datetime.now(UTC) - timedelta(hours=1),
                                               action="alert_acknowledge_bulk")  # fmt: skip
        assert one_row.detail["ids"] == [new_id] and one_row.detail["upto_ts"]
        assert bulk.user == "officer1" and bulk.detail["count"] == 1 + VISITORS

        # A pushed message's link /alerts?id=N: that alert only, and a way to all of them.
        s = server.store
        one = s.raise_alert(AlertRule.OUT_NOT_BACK, "p-wang", "late", {"gate": "south"})
        d.get(http_url + f"/alerts?id={one.id}&lang=zh-CN")
        wait(d, lambda d: _js(d, "return document.body.dataset.loaded")
             and d.find_elements("css selector", f'#rows tr[data-id="{one.id}"]'))  # fmt: skip
        assert len(d.find_elements("css selector", "#rows tr[data-id]")) == 1
        assert d.find_element("id", "only-one").is_displayed()
        assert f"#{one.id}" in d.find_element("id", "only-one").text
        assert d.find_element("id", "show-all").get_attribute("href") == http_url + "/alerts"
        shoot(d, "alerts-one", ready=lambda d: _js(d, "return document.body.dataset.loaded"))
        # A repeat merges in after the list was shown (not pushed live here): the officer's
        # acknowledgement from the stale row leaves it open and says so.
        wait(d, lambda d: _js(d, "return document.body.dataset.stream === 'open'"))
        assert s.raise_alert(AlertRule.OUT_NOT_BACK, "p-wang", "again", {"gate": "east"}).id \
            == one.id  # fmt: skip
        d.find_element("css selector", f'#rows tr[data-id="{one.id}"] button.ack').click()
        wait(d, lambda d: d.find_element("id", "done").is_displayed())
        assert "未确认" in d.find_element("id", "done").text
        shoot(d, "alerts-skipped")
        assert s.alert(one.id).state == AlertState.OPEN

        # The stream ends with the sign-in (signed out elsewhere): the page asks to sign in
        # again instead of staying on "live lost" for good.
        s.close_session(d.get_cookie("gw_session")["value"])
        # (the page reloads on the way: ask by script, never hold an element across it)
        shown = ("const e = document.getElementById('login');"
                 " return !!e && e.getClientRects().length > 0")
        wait(d, lambda d: _js(d, shown), 30)
    finally:
        d.quit()
        edge.close()
