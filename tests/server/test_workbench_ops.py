"""The officer's search, alerts, visitors and audit pages in real Chromium, on data that came in
through the real ingest (passages and sighting candidates over MQTT): a search raised from the
page answers at once, candidates appear live and are confirmed / rejected, the search closes
with a note; alerts filter, acknowledge with a note and show it; visitors inside are listed; the
audit log is for admins only. Screenshots: search, alerts, visitors, audit (1080p and 2160p)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.localtime import day_time_text
from server.store.records import PersonEntry
from tests.conftest import FACES, needs_shared
from tests.server.browser import chrome, needs_chromium, shoot, sign_in, wait
from tests.server.conftest import auth, passage
from tests.server.test_sightings import _candidate, _ingest, _send

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
SH = ZoneInfo("Asia/Shanghai")


def _people(server) -> None:  # noqa: ANN001
    for pid, name, born, building in (
        ("p-wang", "王秀英", date(1941, 5, 2), "7"),
        ("p-li", "李桂兰", date(1938, 9, 12), "12"),
        ("p-zhao", "赵德明", date(1950, 1, 20), "3"),
    ):
        server.store.upsert_person(PersonEntry(id=pid, name=name, role="resident", birth_date=born,
                                               building=building, unit="2",
                                               care_flags=["lives_alone"]))  # fmt: skip


def _local_noon_before(hours: float) -> datetime:
    """The latest local noon at least ``hours`` ago (out by day, not at night)."""
    noon = datetime.now(SH).replace(hour=12, minute=0, second=0, microsecond=0)
    while noon > datetime.now(SH) - timedelta(hours=hours):
        noon -= timedelta(days=1)
    return noon.astimezone(UTC)


def _by(driver, css: str):  # noqa: ANN001, ANN202
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def _text(driver, css: str) -> str:  # noqa: ANN001
    """The first match's text, read in one step (rows are redrawn while a test waits)."""
    js = "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''"
    return driver.execute_script(js, css)


def _texts(driver, css: str) -> list[str]:  # noqa: ANN001
    js = "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText)"
    return driver.execute_script(js, css)


def _pictures_loaded(driver) -> bool:  # noqa: ANN001
    """Every evidence picture on the page has loaded (checked in one step)."""
    js = ("const i = [...document.querySelectorAll('.cand img')];"
          "return i.length > 0 && i.every(e => e.complete && e.naturalWidth > 0)")  # fmt: skip
    return driver.execute_script(js)


def _raise_by_name(d, client, server) -> str:  # noqa: ANN001
    """Type part of the name, pick the person, give a reason, raise; the answer shows at once."""
    _by(d, "#q")[0].send_keys("王")
    wait(d, lambda d: _by(d, "#matches button.match"))
    assert "王秀英" in _text(d, "#matches") and "7 号楼" in _text(d, "#matches")
    _by(d, "#matches button.match")[0].click()
    _by(d, "#reason")[0].send_keys("家属报告老人走失")
    _by(d, "#raise")[0].click()
    wait(d, lambda d: _text(d, "#believed"))
    [s] = server.store.searches()
    api = client.get(f"/api/searches/{s.id}", headers=auth(server, "officer")).json()
    assert api["believed_inside"] is False
    assert _text(d, "#believed") == "判断：在小区外"
    last = datetime.fromisoformat(api["whereabouts"]["last_seen"]).astimezone(SH)
    assert _text(d, "#last-seen") == f"最后出现：south 出，{day_time_text(last, SH, 'zh-CN')}"
    assert "距今 2 小时" in _text(d, "#answer")
    wait(d, lambda d: "ok" in _by(d, "#live")[0].get_attribute("class"))  # the stream is open
    return s.id


def _judge(d, client, server, sid: str) -> None:  # noqa: ANN001
    """Both candidates' cards: confirm one, reject the other; the page and the API agree."""
    cards = {c.get_attribute("data-cid"): c for c in _by(d, ".cand")}
    first, second = sorted(cards)
    cards[first].find_element("css selector", "button.confirm").click()
    wait(d, lambda d: _by(d, f'.cand[data-cid="{first}"][data-verdict="confirmed"]'))
    _by(d, f'.cand[data-cid="{second}"] button.reject')[0].click()
    wait(d, lambda d: _by(d, f'.cand[data-cid="{second}"][data-verdict="rejected"]'))
    assert "已确认" in _text(d, f'.cand[data-cid="{first}"] .verdict')
    assert "已排除" in _text(d, f'.cand[data-cid="{second}"] .verdict')
    got = client.get(f"/api/searches/{sid}/candidates", headers=auth(server, "officer")).json()
    assert {c["candidate_id"]: c["verdict"] for c in got} == {first: "confirmed",
                                                              second: "rejected"}  # fmt: skip
    assert len(_by(d, "#confirmed li.sighting")) == 1


@needs_chromium
@needs_shared
@SQLITE
def test_search_page_raise_candidates_live_judge_and_close(
    server, broker, http_url, client, engine
) -> None:
    _people(server)
    site, now = server.cfg.site, datetime.now(UTC)
    _ingest(server, broker, [
        passage(site, 1, "p-wang", "in", now - timedelta(hours=6), gate="north"),
        passage(site, 2, "p-wang", "none", now - timedelta(hours=4), gate="building-7"),
        passage(site, 3, "p-wang", "out", now - timedelta(hours=2), gate="south"),
    ])  # fmt: skip
    d = chrome("1080p")
    try:
        sign_in(d, http_url, server.tokens["officer"], "/search")
        sid = _raise_by_name(d, client, server)
        for _ in range(2):  # two candidates from an edge, with evidence from a real face photo
            _send(server, broker, _candidate(server, sid, engine))
        wait(d, lambda d: len(_by(d, ".cand")) == 2)
        wait(d, _pictures_loaded)
        assert len(_by(d, ".cand img")) == 4
        _judge(d, client, server, sid)
        assert "[object" not in d.page_source and "undefined" not in _text(d, "main")
        shoot(d, "search", ready=_pictures_loaded)
        _by(d, "#close-note")[0].send_keys("已在 7 号楼楼道找到，家属已接回")
        _by(d, "#close-search")[0].click()
        wait(d, lambda d: "已在 7 号楼楼道找到" in _text(d, "#history"))
        assert server.store.search(sid).close_note == "已在 7 号楼楼道找到，家属已接回"
        # A photo search: a file dropped in (here chosen through the input), look-back answer.
        _by(d, "#photo")[0].send_keys(str(FACES / "obama/1.jpg"))
        _by(d, "#reason")[0].send_keys("派出所协查照片")
        _by(d, "#raise-photo")[0].click()
        wait(d, lambda d: "照片寻人" in _text(d, "#answer h2"))
        assert "48 小时内没有匹配的访客" in _text(d, "#answer")
        d.get(http_url + "/search?person=p-li")  # the person page's "raise a search"
        wait(d, lambda d: _text(d, "#picked") == "已选：李桂兰（p-li）")
    finally:
        d.quit()


def _alerts_from_ingest(server, broker) -> None:  # noqa: ANN001
    """Passages over MQTT, then the elder watch: out_not_back for 王秀英 (out at local noon),
    not_seen for 李桂兰 (last in 50 h ago), and a visitor inside at night."""
    site = server.cfg.site
    _ingest(server, broker, [
        passage(site, 11, "p-wang", "out", _local_noon_before(7), gate="south"),
        passage(site, 12, "p-li", "in", _local_noon_before(50), gate="north"),
        passage(site, 13, "v-3f9a2c7d1e0b", "in", datetime.now(UTC) - timedelta(hours=3),
                gate="north"),
        passage(site, 14, "v-8b1e44c0a9d2", "in", datetime.now(UTC) - timedelta(minutes=40),
                gate="east"),
    ])  # fmt: skip
    rules = {(a.rule, a.person_id) for a in server.watch.scan(datetime.now(UTC))}
    assert {("out_not_back", "p-wang"), ("not_seen", "p-li")} <= rules


def _alerts_page(d, client, server, http_url: str) -> None:  # noqa: ANN001
    sign_in(d, http_url, server.tokens["officer"], "/alerts")
    wait(d, lambda d: len(_by(d, "#rows tr[data-id]")) >= 2)
    text = _text(d, "#rows")
    assert "[object" not in text and "undefined" not in text and "{" not in text
    link = _by(d, '#rows a[href="/person/p-wang"]')
    assert link and link[0].text == "王秀英（p-wang）"
    assert "south 出" in text and "小时" in text and "分未归" in text and "超时未见" in text
    Select = __import__("selenium.webdriver.support.select", fromlist=["Select"]).Select
    Select(_by(d, "#f-rule")[0]).select_by_value("out_not_back")
    wait(d, lambda d: len(_by(d, "#rows tr[data-id]")) == 1)
    [row] = _by(d, "#rows tr[data-id]")
    aid = row.get_attribute("data-id")
    row.find_element("css selector", "input.note").send_keys("已电话联系女儿，正在回家路上")
    row.find_element("css selector", "button.ack").click()
    wait(d, lambda d: _by(d, f'#rows tr[data-id="{aid}"][data-state="acknowledged"]'))
    assert "已电话联系女儿" in _text(d, f'#rows tr[data-id="{aid}"] .history')
    api = client.get("/api/alerts?rule=out_not_back", headers=auth(server, "officer")).json()
    assert [(h["state"], h["note"]) for h in api[0]["history"]] == [
        ("acknowledged", "已电话联系女儿，正在回家路上")]  # fmt: skip
    Select(_by(d, "#f-rule")[0]).select_by_value("")
    wait(d, lambda d: len(_by(d, "#rows tr[data-id]")) >= 2)
    shoot(d, "alerts")
    d.get(http_url + "/alerts?lang=en")
    wait(d, lambda d: "out at south" in _text(d, "#rows"))
    assert _text(d, "main h1") == "Alerts" and "not back for" in _text(d, "#rows")


def _sign_out(d) -> None:  # noqa: ANN001
    _by(d, "#signout")[0].click()  # signs out, then reloads the page
    wait(d, lambda d: d.execute_script(
        "const l = document.getElementById('login'); return l && !l.hidden"))  # fmt: skip


def _visitors_page(d, server, http_url: str) -> None:  # noqa: ANN001
    d.get(http_url + "/visitors?lang=zh-CN")
    wait(d, lambda d: _by(d, '#rows tr[data-id="v-3f9a2c7d1e0b"]'))
    row = _text(d, '#rows tr[data-id="v-3f9a2c7d1e0b"]')
    assert "north" in row and "3 小时" in row and "0 分" not in row
    assert _text(d, "#count") == "当前在场访客：2 人"
    shoot(d, "visitors")


@needs_chromium
@SQLITE
def test_alerts_visitors_and_audit_pages(server, broker, http_url, client) -> None:
    _people(server)
    _alerts_from_ingest(server, broker)
    d = chrome("1080p")
    try:
        _alerts_page(d, client, server, http_url)
        _visitors_page(d, server, http_url)
        _sign_out(d)
        sign_in(d, http_url, server.tokens["admin"], "/audit")
        # The page acknowledges through the list's endpoint (upto_ts: nothing unseen).
        wait(d, lambda d: _by(d, '#rows tr[data-action="alert_acknowledge_bulk"]'))
        assert "在告警列表确认" in _text(d, '#rows tr[data-action="alert_acknowledge_bulk"]')
        assert "查看在场访客" in _text(d, "#rows")
        _by(d, "#f-user")[0].send_keys("officer1")
        _by(d, "#apply")[0].click()
        wait(d, lambda d: set(_texts(d, "#rows tr[data-id] td:nth-child(2)")) == {"officer1"})
        shoot(d, "audit")
        _sign_out(d)
        sign_in(d, http_url, server.tokens["officer"], "/audit")
        wait(d, lambda d: _by(d, "#forbidden")[0].is_displayed())
        assert "审计日志仅限管理员查看" in _text(d, "#forbidden")
        assert not _by(d, "#rows tr[data-id]")
    finally:
        d.quit()
