"""See a face, in real Chromium: passage crops fetched from the edge's own code over the real
broker (person page, visitors inside), a watchlist alert's pushed crop (alerts page), and the
offline text in place of the picture once that edge is stopped."""

from __future__ import annotations

import pytest

from server.i18n import catalogue
from server.site.names import SiteNames
from tests.face_gate import FaceGate, real_face
from tests.mqtt_helpers import wait_until
from tests.server.browser import SHOTS, chrome, needs_chromium, shoot, sign_in, wait
from tests.server.conftest import auth

pytestmark = [needs_chromium, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]
ZH, EN = catalogue("zh-CN"), catalogue("en")


def boxes(d, selector: str) -> list[dict]:  # noqa: ANN001
    """The face boxes under ``selector``: state, event, picture source kind, text, size."""
    return d.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' .face-box')].map(b => ({"
        "state: b.dataset.state, event: b.dataset.event, text: b.innerText.trim(),"
        "src: (b.querySelector('img') || {}).src || '', w: b.offsetWidth, h: b.offsetHeight,"
        "loaded: !!b.querySelector('img') && b.querySelector('img').naturalWidth > 0}))",
        selector,
    )


def states(d, selector: str) -> list[str]:  # noqa: ANN001
    return [b["state"] for b in boxes(d, selector)]


def at_passages(want: list[str]):  # noqa: ANN201
    """For a screenshot of the passages table: scrolled to it, its boxes in these states."""
    return lambda d: (d.execute_script("document.getElementById('passages').scrollIntoView()")
                      or states(d, "#passage-rows") == want)  # fmt: skip


def enrol(client, server, pid: str, name: str, role: str, **where: str) -> None:  # noqa: ANN001
    r = client.put(f"/api/persons/{pid}", json={"id": pid, "name": name, "role": role, **where},
                   headers=auth(server, "admin"))  # fmt: skip
    assert r.status_code == 200, r.text


def test_crops_for_passages_and_a_watchlist_alert_then_the_offline_text(
    client, server, broker, http_url, tmp_path
) -> None:
    enrol(client, server, "p-wang", "王秀英", "resident")
    enrol(client, server, "p-li", "李建国", "resident")
    enrol(client, server, "p-risk", "刘某某", "watchlist")
    enrol(client, server, "p-zhao1", "赵明", "resident", building="3", unit="2", room="701")
    enrol(client, server, "p-zhao2", "赵亮", "resident", building="3", unit="2", room="702")
    # The site's display names: shown wherever a gate or camera is named, never the raw ids.
    names = {"gates": {"north": {"name": "北门", "cameras": {"c1": "进门"}}}}
    server.cfg = server.cfg.model_copy(update={"names": SiteNames.model_validate(names)})
    gate = FaceGate(tmp_path / "gate", server.cfg.site, broker.port)
    stopped = False
    try:
        wang = [gate.send("p-wang", d, face=real_face(f"obama/{n}.jpg"))
                for d, n in (("out", 1), ("in", 4))]  # fmt: skip
        li = gate.send("p-li", "in", face=real_face("kit_harington/2.jpg"))
        visitor = gate.send("v-3f9a2c7d1e0b", "in", face=real_face("bbt_sheldon/1.jpg"))
        risk = gate.send("p-risk", "in", role="watchlist", face=real_face("biden/2.jpg"))
        for e in (*wang, li, visitor, risk):
            wait_until(lambda e=e: server.faces.store.passage_where(e) is not None, 60, "ingest")
        wait_until(lambda: server.faces.store.pushed_face(risk) is not None, 60, "the push")
        (SHOTS / "faces").mkdir(parents=True, exist_ok=True)
        d = chrome("1080p")
        try:
            sign_in(d, http_url, server.tokens["officer"], "/person/p-wang")
            wait(d, lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
            # Every passage row and the strip beside the reference photo: the gate's crops.
            # Asked for as they come into view (lazy): bring the table into view.
            d.execute_script("document.getElementById('passages').scrollIntoView()")
            wait(d, lambda d: states(d, "#passage-rows") == ["ok", "ok"])
            d.execute_script("window.scrollTo(0, 0)")
            wait(d, lambda d: states(d, "#latest-faces") == ["ok", "ok"])
            rows = boxes(d, "#passage-rows")
            assert [b["event"] for b in rows] == wang[::-1]  # newest first
            assert all(b["src"].startswith("data:image/jpeg") and b["loaded"] for b in rows)
            assert len({(b["w"], b["h"]) for b in rows}) == 1, "fixed-size boxes"
            shoot(d, "faces/person", lambda d: states(d, "#passage-rows") == ["ok", "ok"])
            named = d.execute_script(
                "return [...document.querySelectorAll('#latest-faces figcaption, .face-box img')]"
                ".map(e => e.alt || e.textContent)")  # fmt: skip
            assert len(named) == 6 and all("北门（进门）" in n and "north" not in n
                                           for n in named), named  # fmt: skip
            # The CSV export names the gate and camera as the page does.
            d.execute_script(
                "window.csv = null; const make = URL.createObjectURL;"
                "URL.createObjectURL = (b) => { b.text().then((t) => { window.csv = t; });"
                "return make(b); }; document.getElementById('export').click();")  # fmt: skip
            wait(d, lambda d: d.execute_script("return window.csv"))
            rows_csv = d.execute_script("return window.csv").strip("\ufeff").splitlines()[1:]
            assert len(rows_csv) == 2 and all('"北门","进门"' in r for r in rows_csv), rows_csv
            shoot(d, "faces/person-passages", at_passages(["ok", "ok"]))
            d.get(http_url + "/person/p-wang?lang=en")
            wait(d, lambda d: states(d, "#latest-faces") == ["ok", "ok"])
            d.execute_script("document.getElementById('passages').scrollIntoView()")
            wait(d, lambda d: states(d, "#passage-rows") == ["ok", "ok"])
            d.execute_script("window.scrollTo(0, 0)")
            shoot(d, "faces/person-en", lambda d: states(d, "#passage-rows") == ["ok", "ok"])

            # 查无此人 (an id that is no person): the matches with their rooms.
            d.get(http_url + "/person/赵?lang=zh-CN")
            wait(d, lambda d: len(d.find_elements("css selector", "#find-results li")) == 2)
            lines = [e.text for e in d.find_elements("css selector", "#find-results li")]
            assert any("701 室" in x for x in lines) and any("702 室" in x for x in lines), lines

            d.get(http_url + "/visitors?lang=zh-CN")
            wait(d, lambda d: states(d, "#rows") == ["ok"])
            assert boxes(d, "#rows")[0]["event"] == visitor
            shoot(d, "faces/visitors", lambda d: states(d, "#rows") == ["ok"])

            d.get(http_url + "/alerts")
            wait(d, lambda d: states(d, "#rows tr.high") == ["ok"])
            assert boxes(d, "#rows tr.high")[0]["event"] == risk
            shoot(d, "faces/alerts", lambda d: states(d, "#rows tr.high") == ["ok"])

            gate.stop()
            stopped = True
            wait_until(lambda: server.faces.store.gate_state("north", "c1") == "offline", 60,
                       "the gate's offline status")  # fmt: skip
            # 李's passage was never looked at: no answer in memory, and the gate is gone.
            d.get(http_url + "/person/p-li")
            wait(d, lambda d: states(d, "#latest-faces") == ["offline"])
            d.execute_script("document.getElementById('passages').scrollIntoView()")
            wait(d, lambda d: states(d, "#passage-rows") == ["offline"])
            d.execute_script("window.scrollTo(0, 0)")
            [box] = boxes(d, "#passage-rows")
            assert box["text"] == ZH["faces.offline"] == "门岗离线，暂无抓拍" and not box["src"]
            assert box["w"] == rows[0]["w"] and box["h"] == rows[0]["h"], "the same box, not empty"
            shoot(d, "faces/person-offline", lambda d: states(d, "#latest-faces") == ["offline"])
            shoot(d, "faces/person-offline-passages", at_passages(["offline"]))
            # The watchlist crop was pushed with its passage: still there, the gate offline.
            d.get(http_url + "/alerts")
            wait(d, lambda d: states(d, "#rows tr.high") == ["ok"])
        finally:
            d.quit()
    finally:
        if not stopped:
            gate.stop()
    views = client.get("/api/audit?since=1h&action=view_passage_face",
                       headers=auth(server, "admin")).json()  # fmt: skip
    assert {v["target"] for v in views} >= {*wang, li, visitor, risk}
    assert (SHOTS / "faces" / "person-1080p.png").exists()
