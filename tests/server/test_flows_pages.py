"""The workflow fixes in real Chromium (one browser for the module): the search a person page links
to opens, confirmed sightings only and once, no verdicts once closed; the visit round sheet, the
elders roster and the person page printed to A4 PDFs (Chromium's own print to PDF), laid out as
paper shows them: names whole, rows by address, date and signature columns, no hour labels on top
of each other, colours kept."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contract.events import SightingCandidate
from server.i18n import catalogue
from tests.server.browser import SHOTS, chrome, fit, needs_chromium, shoot, sign_in, wait
from tests.server.conftest import auth, passage
from tests.server.people_data import PEOPLE, born, compound, ingest

pytestmark = [needs_chromium, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]
ZH = catalogue("zh-CN")
# A4 at 96 px per inch, less the 10 mm margins: what a printed line has.
A4_PORTRAIT_PX, A4_LANDSCAPE_PX = round(190 / 25.4 * 96), round(277 / 25.4 * 96)
ROOMS = {"p-wang": "201", "p-li": "101", "p-zhang": "702", "p-zhao": "301", "p-chen": "601",
         "p-liu": "202"}  # fmt: skip


def _by():
    from selenium.webdriver.common.by import By

    return By


@pytest.fixture(scope="module")
def driver():
    d = chrome("1080p")
    yield d
    d.quit()


def ready(d) -> bool:  # noqa: ANN001
    return d.execute_script("return document.body.dataset.ready === '1'")


def js(d, script: str, *args):  # noqa: ANN001, ANN202
    return d.execute_script(script, *args)


def print_pdf(d, name: str) -> Path:  # noqa: ANN001
    """Chromium's print to PDF on A4 (the page's @page size wins, as in the print dialog), with
    background graphics off as a browser prints by default: colour must be asked for."""
    out = d.execute_cdp_cmd("Page.printToPDF", {
        "paperWidth": 8.27, "paperHeight": 11.69, "preferCSSPageSize": True,
        "printBackground": False, "marginTop": 0.4, "marginBottom": 0.4, "marginLeft": 0.4,
        "marginRight": 0.4,
    })  # fmt: skip
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.pdf"
    path.write_bytes(base64.b64decode(out["data"]))
    return path


def is_a4(pdf: Path, landscape: bool) -> bool:
    """The first page's MediaBox (points) is A4 (595 x 842) the given way round."""
    m = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf.read_bytes())
    assert m, f"{pdf} has no MediaBox"
    w, h = float(m.group(1)), float(m.group(2))
    want = (842, 595) if landscape else (595, 842)
    return abs(w - want[0]) < 2 and abs(h - want[1]) < 2


class printed:  # noqa: N801
    """Lay the page out as on paper: print media at the printed line's width."""

    def __init__(self, d, width_px: int) -> None:  # noqa: ANN001
        self.d, self.width = d, width_px

    def __enter__(self):  # noqa: ANN204
        self.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        metrics = {"width": self.width, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
        self.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        self.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        fit(self.d, "1080p")


# How many text lines each visible matching element takes (a broken name takes two or more).
LINES = """return [...document.querySelectorAll(arguments[0])]
  .filter(e => e.getClientRects().length)
  .map(e => { const r = document.createRange(); r.selectNodeContents(e);
              const tops = new Set([...r.getClientRects()].filter(x => x.width > 0)
                                   .map(x => Math.round(x.top)));
              return [e.textContent, tops.size]; });"""


def rooms(client, server) -> None:  # noqa: ANN001
    """Rooms for the compound's residents, and 刘建国 (the issue's name) who lives alone."""
    for pid, name, role, age, building, unit, phone, flags in PEOPLE:
        body = {"id": pid, "name": name, "role": role, "birth_date": born(age),
                "building": building, "unit": unit, "room": ROOMS[pid], "phone": phone,
                "care_flags": flags}  # fmt: skip
        assert client.put(f"/api/persons/{pid}", json=body,
                          headers=auth(server, "admin")).status_code == 200  # fmt: skip
    body = {"id": "p-liujg", "name": "刘建国", "role": "resident", "birth_date": born(83),
            "building": "3", "unit": "2", "room": "701", "phone": "13800000007",
            "care_flags": ["lives_alone", "serious_illness"]}  # fmt: skip
    assert client.put("/api/persons/p-liujg", json=body,
                      headers=auth(server, "admin")).status_code == 200  # fmt: skip


def test_search_opens_from_the_person_page_confirmed_once_and_closed_without_verdicts(
    client, server, broker, http_url, driver
):
    now = compound(client, server, broker)  # 王: in 30 h ago, lobby 20 h ago, out 3 h ago
    site = server.cfg.site
    ingest(server, broker, [passage(site, 30, "p-wang", "in", now - timedelta(hours=2))])
    r = client.post("/api/searches", json={"person_id": "p-wang", "reason": "家属报告走失"},
                    headers=auth(server, "officer"))  # fmt: skip
    sid = r.json()["search_id"]
    seen = passage(site, 31, "p-wang", "out", gate="east", search_id=sid)  # automatic sighting
    ingest(server, broker, [seen])

    def cand(event_id: str, minutes: int) -> SightingCandidate:
        return SightingCandidate(
            candidate_id=uuid.uuid4().hex, search_id=sid, site=site, gate="east", camera="c1",
            ts=datetime.now(UTC) - timedelta(minutes=minutes), track_id=minutes, score=0.41,
            frames_at_threshold=3, frames_considered=5, threshold=0.3, event_id=event_id,
            model_id="sface:test")  # fmt: skip

    same, other = cand(seen.event_id, 1), cand(uuid.uuid4().hex, 30)
    for c in (same, other):
        server.searches.take_candidate(c)
    v = client.post(f"/api/searches/{sid}/candidates/{same.candidate_id}/verdict",
                    json={"verdict": "confirmed"}, headers=auth(server, "officer"))  # fmt: skip
    assert v.status_code == 200, v.text

    By = _by()
    sign_in(driver, http_url, server.tokens["officer"], "/person/p-wang")
    wait(driver, ready)
    link = driver.find_element(By.CSS_SELECTOR, "#search-state a")
    assert link.get_attribute("href").endswith(f"/search?id={sid}")
    link.click()
    wait(driver, lambda d: d.find_element(By.ID, "detail").is_displayed())
    assert "王秀英" in driver.find_element(By.ID, "detail-title").text
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#candidates .cand")) == 2)
    confirmed = js(driver, "return [...document.querySelectorAll('#confirmed li.sighting')]"
                           ".map(e => e.dataset.cid)")  # fmt: skip
    assert confirmed == [same.candidate_id], "only the confirmed one, once"
    back = (now - timedelta(hours=2)).astimezone(server.tz).strftime("%-m%-d%H%M")
    internal = driver.find_element(By.ID, "last-internal").text
    assert internal.startswith("自 ") and "楼内摄像头未再看到" in internal, internal
    assert back in re.sub(r"\D", "", internal)
    shown = lambda d: d.find_element(By.ID, "detail").is_displayed()  # noqa: E731
    shoot(driver, "search", shown)

    driver.find_element(By.ID, "close-note").send_keys("已在 7 号楼找到")
    driver.find_element(By.ID, "close-search").click()
    wait(driver, lambda d: not d.find_element(By.ID, "close-box").is_displayed())
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#candidates .closed-note")) == 2)
    assert driver.find_elements(By.CSS_SELECTOR, "#candidates button") == []
    alerts = [a for a in server.store.alerts() if a.evidence.get("search_id") == sid]
    assert alerts and {a.state for a in alerts} == {"resolved"}
    shoot(driver, "search-closed", shown)


def test_round_sheet_roster_and_person_print_on_a4(client, server, broker, http_url, driver):
    compound(client, server, broker)
    rooms(client, server)
    By = _by()
    sign_in(driver, http_url, server.tokens["officer"], "/visits")
    wait(driver, ready)
    # A visit that found nobody home: the visitor is the signed-in officer, and 王 stays due.
    assert driver.find_element(By.ID, "visitor").get_attribute("value") == "officer1"
    driver.find_element(By.CSS_SELECTOR, '#due-rows tr[data-id="p-wang"] button.pick').click()
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "outcome")).select_by_value("not_home")
    driver.find_element(By.ID, "save").click()
    wait(driver, lambda d: "王秀英" in d.find_element(By.ID, "recent-rows").text)
    wang = driver.find_element(By.CSS_SELECTOR, '#due-rows tr[data-id="p-wang"] .last').text
    assert wang.endswith("上门不在家"), wang
    assert driver.find_element(By.ID, "visitor").get_attribute("value") == "officer1"
    assert "3 号楼 2 单元 701 室" in driver.find_element(By.ID, "due-rows").text
    shoot(driver, "visits", ready)

    due = client.get("/api/visits/due", headers=auth(server, "officer")).json()["rows"]
    by_address = sorted(due, key=lambda r: (int(r["building"]), int(r["unit"]), int(r["room"])))
    with printed(driver, A4_LANDSCAPE_PX):
        assert not driver.find_element(By.ID, "due").is_displayed()
        assert js(driver, "return [...document.querySelectorAll('#round-rows tr')]"
                          ".map(e => e.dataset.id)") == [r["id"] for r in by_address]  # fmt: skip
        heads = js(driver, "return [...document.querySelectorAll('#round th')]"
                           ".map(e => e.textContent)")  # fmt: skip
        assert heads[-2:] == [ZH["flows.visits.date_column"], ZH["flows.visits.signature_column"]]
        for text, lines in js(driver, LINES, "#round td.name, #round td.addr"):
            assert lines == 1, f"{text!r} breaks over {lines} lines"
        assert js(driver, "return document.getElementById('round').scrollWidth") <= A4_LANDSCAPE_PX
    sheet = print_pdf(driver, "visits-round")
    assert is_a4(sheet, landscape=True), "the round sheet prints on A4 landscape"

    driver.get(http_url + "/elders")
    wait(driver, ready)
    assert "3 号楼 2 单元 701 室" in driver.find_element(By.ID, "rows").text
    shoot(driver, "elders", ready)
    with printed(driver, A4_LANDSCAPE_PX):
        for text, lines in js(driver, LINES, "#rows td.name a, #rows td.address, #rows td.age"):
            assert lines == 1, f"{text!r} breaks over {lines} lines"
        assert js(driver, "return document.getElementById('roster').scrollWidth") <= A4_LANDSCAPE_PX
    assert is_a4(print_pdf(driver, "elders"), landscape=True)

    driver.get(http_url + "/person/p-zhang")  # in 60 h ago, not seen since
    wait(driver, ready)
    [band] = driver.find_elements(By.CSS_SELECTOR, "#timeline .band")
    assert band.get_attribute("class").split() == ["band", "inside", "earlier"]
    assert band.value_of_css_property("left") == "0px"
    first = driver.find_element(By.CSS_SELECTOR, "#stay-rows td.earlier").text
    assert first.endswith("之前已开始"), first
    shoot(driver, "person-earlier", ready)
    driver.get(http_url + "/person/p-wang")
    wait(driver, ready)
    shoot(driver, "person", ready)
    overlaps = """const r = [...document.querySelectorAll('#timeline .hour')]
      .filter(e => getComputedStyle(e).visibility !== 'hidden' && e.getClientRects().length)
      .map(e => e.getBoundingClientRect()).sort((a, b) => a.left - b.left);
      return [r.length, r.slice(1).filter((x, i) => x.left < r[i].right).length];"""
    with printed(driver, A4_PORTRAIT_PX):
        wait(driver, lambda d: js(d, overlaps)[1] == 0)
        shown, _ = js(driver, overlaps)
        assert shown >= 6, "the printed timeline still tells the time"
        adjust = js(driver, "return ['.band', '.legend .swatch.inside', '.tick']"
                            ".map(s => getComputedStyle(document.querySelector(s))"
                            ".printColorAdjust)")  # fmt: skip
        assert adjust == ["exact"] * 3
    assert is_a4(print_pdf(driver, "person"), landscape=False)
    driver.get(http_url + "/person/p-zhang?lang=en")
    wait(driver, ready)
    first = driver.find_element(By.CSS_SELECTOR, "#stay-rows td.earlier").text
    assert first.startswith("began before"), first
    shoot(driver, "person-earlier-en", ready)
