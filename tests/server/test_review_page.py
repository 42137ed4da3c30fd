"""The review queue page in real Chromium: one screen of items from real gate captures (real
faces, sent over MQTT), the gate's face beside the reference photo or "无登记照片", confirm by
keyboard, reject, skip, reject all shown after a confirm step; the person page lists the
templates with their provenance and removes a gate template. Screenshots: review-1080p/2160p."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from server import tables as t
from server.states import ReviewState, TemplateSource
from tests.conftest import needs_shared
from tests.server.browser import chrome, needs_chromium, shoot, sign_in, wait
from tests.server.conftest import served
from tests.server.learning_data import Gate, capture, jpeg
from tests.server.test_learning import _in_band, compound, lserver  # noqa: F401

pytestmark = [needs_shared, needs_chromium,
              pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]  # fmt: skip
SHOWN = 8


@pytest.fixture()
def lhttp(lserver):  # noqa: ANN001, ANN201, F811
    with served(lserver) as url:
        yield url


def _js(d, script: str, *args):  # noqa: ANN001, ANN002, ANN202
    return d.execute_script(script, *args)


def _cards(d) -> list[dict]:  # noqa: ANN001
    return _js(d, "return [...document.querySelectorAll('.rcard')].map(c => ({id: +c.dataset.id,"
               " here: c.classList.contains('here'), verdict: c.dataset.verdict || null,"
               " text: c.innerText}))")  # fmt: skip


def _pictures_loaded(d) -> bool:  # noqa: ANN001
    return _js(d, "const i = [...document.querySelectorAll('.rcard img')];"
               "return i.length > 0 && i.every(e => e.complete && e.naturalWidth > 0)")  # fmt: skip


def _key(d, key: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(d).send_keys(key).perform()


def _fill_queue(server, broker, c, engine) -> list[str]:  # noqa: ANN001
    """SHOWN + 2 near misses of different people (real band photos); half with a reference."""
    pts = server.learning.points()
    seen, picked = set(), []
    for pid, s in _in_band(engine, c, pts):
        if pid not in seen:
            seen.add(pid)
            picked.append((pid, s))
    assert len(picked) >= SHOWN + 2, "not enough people with a photo in the band"
    picked = picked[: SHOWN + 2]
    with server.engine.begin() as conn:
        for pid, _ in picked[::2]:
            ref = c.enrolled[pid].context
            conn.execute(insert(t.reference_photos).values(
                person_id=pid, jpeg=jpeg(ref), width=ref.shape[1], height=ref.shape[0],
                created=datetime.now(UTC), created_by="admin1"))  # fmt: skip
    gate = Gate(server, broker)
    try:
        for i, (pid, s) in enumerate(picked):
            cap = capture(server, c, s, pid, "review", identity=f"v-{i + 1:012x}")
            assert gate.send(cap) == "review_item"
    finally:
        gate.close()
    return [pid for pid, _ in picked]


def test_review_page_keyboard_bulk_and_the_person_page(
    lserver, lhttp, broker, compound, engine  # noqa: F811
) -> None:
    pids = _fill_queue(lserver, broker, compound, engine)
    d = chrome("1080p")
    try:
        sign_in(d, lhttp, lserver.tokens["officer"], "/review")
        wait(d, lambda d: _js(d, "return document.body.dataset.ready") == "1")
        cards = _cards(d)
        assert len(cards) == SHOWN and cards[0]["here"]
        assert "待审核：10 项" in _js(d, "return document.getElementById('count').innerText")
        first = lserver.learning.item(cards[0]["id"])
        assert f"是否为 {first.person_name}？" in cards[0]["text"]
        assert f"{first.building} 号楼" in cards[0]["text"] and first.gate in cards[0]["text"]
        no_ref = [c for c in cards if "无登记照片" in c["text"]]
        assert len(no_ref) == SHOWN // 2, "every card without a reference photo says so"
        assert _js(d, "return document.querySelectorAll('.rcard img.reference').length") == (
            SHOWN // 2)  # fmt: skip
        wait(d, _pictures_loaded)
        shoot(d, "review", _pictures_loaded)
        # keyboard: Y confirms the selected card, N rejects the next, J moves on, U skips
        _key(d, "y")
        wait(d, lambda d: _cards(d)[0]["verdict"] == "confirmed")
        assert _cards(d)[1]["here"], "the next open card is selected"
        _key(d, "n")
        wait(d, lambda d: _cards(d)[1]["verdict"] == "rejected")
        _key(d, "j")
        _key(d, "u")
        wait(d, lambda d: _cards(d)[3]["verdict"] == "skipped")
        assert _cards(d)[4]["here"]
        confirmed = lserver.learning.item(cards[0]["id"])
        assert (confirmed.state, confirmed.decided_by) == (ReviewState.CONFIRMED, "officer1")
        assert lserver.learning.item(cards[1]["id"]).state == ReviewState.REJECTED
        # reject all shown: a confirm step first; the skipped one stays open
        d.find_element("id", "reject-all").click()
        wait(d, lambda d: _js(d, "return document.getElementById('bulk-dialog').open"))
        assert "5 项" in _js(d, "return document.getElementById('bulk-text').innerText")
        d.find_element("id", "bulk-go").click()
        wait(d, lambda d: sum(c["verdict"] == "rejected" for c in _cards(d)) == 6)
        states = [lserver.learning.item(c["id"]).state for c in cards]
        assert states.count(ReviewState.OPEN) == 1 and states.count(ReviewState.REJECTED) == 6
        assert lserver.learning.store.open_count() == 3  # the skipped one and the two not shown
        # the person page lists the confirmed template with its provenance and removes it
        pid = confirmed.person_id
        sign_in(d, lhttp, lserver.tokens["officer"], f"/person/{pid}")
        wait(d, lambda d: _js(d, "return document.body.dataset.ready") == "1")
        rows = _js(d, "return [...document.querySelectorAll('#template-rows tr')].map(r => "
                   "[r.dataset.source, r.innerText, !!r.querySelector('button.remove')])")
        assert [(r[0], r[2]) for r in rows] == [("enrollment", False), ("gate_confirmed", True)]
        assert "门岗（民警确认）" in rows[1][1] and "officer1" in rows[1][1]
        shoot(d, "review-person-templates", lambda d: _js(
            d, "document.getElementById('templates').scrollIntoView(); return true"))
        button = d.find_element("css selector", "#template-rows button.remove")
        button.click()
        button.click()  # the second step
        wait(d, lambda d: "已移除" in _js(d, "return document.getElementById('template-note')"
                                           ".innerText"))  # fmt: skip
        left = [x.source for x in lserver.learning.store.person_templates(pid)]
        assert left == [TemplateSource.ENROLLMENT]
        # English when asked
        d.get(f"{lhttp}/review?lang=en")
        wait(d, lambda d: _js(d, "return document.body.dataset.ready") == "1")
        assert "Is this " in _cards(d)[0]["text"]
        assert any("No reference photo" in c["text"] or "Reference photo" in c["text"]
                   for c in _cards(d))  # fmt: skip
        del pids
    finally:
        d.quit()
