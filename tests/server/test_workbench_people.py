"""The elders, visits and person pages in real Chromium, on data entered through the admin API
and the MQTT ingest: what they show equals what the API says; sort, filter, record, raise."""

from __future__ import annotations

import pytest

from server.i18n import catalogue
from tests.server.browser import chrome, needs_chromium, shoot, sign_in, wait
from tests.server.conftest import auth
from tests.server.people_data import compound

pytestmark = [needs_chromium, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]
ZH, EN = catalogue("zh-CN"), catalogue("en")


def _by():
    from selenium.webdriver.common.by import By

    return By


def ready(d) -> bool:  # noqa: ANN001
    return d.execute_script("return document.body.dataset.ready === '1'")


def column(d, selector: str, attr: str = "id") -> list[str]:  # noqa: ANN001
    return d.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset[arguments[1]])",
        selector,
        attr,
    )


@pytest.fixture()
def driver():
    d = chrome("1080p")
    yield d
    d.quit()


def test_elders_page_matches_the_api_sorts_and_filters(client, server, broker, http_url, driver):
    compound(client, server, broker)
    api = client.get("/api/elders", headers=auth(server, "officer")).json()["rows"]
    sign_in(driver, http_url, server.tokens["officer"], "/elders")
    wait(driver, ready)
    By = _by()
    assert driver.find_element(By.CSS_SELECTOR, "#main h1").text == ZH["elders.title"]
    assert column(driver, "#rows tr") == [r["id"] for r in api]
    for r in api:
        tr = driver.find_element(By.CSS_SELECTOR, f'#rows tr[data-id="{r["id"]}"]')
        where = {True: "common.inside", False: "common.outside", None: "common.unknown"}
        assert tr.find_element(By.CSS_SELECTOR, ".inout").text == ZH[where[r["inside"]]]
        assert tr.find_element(By.CSS_SELECTOR, ".name a").text == r["name"]
        assert (
            tr.find_element(By.CSS_SELECTOR, ".name a")
            .get_attribute("href")
            .endswith(f"/person/{r['id']}")
        )
        if r["last_seen"]:
            assert r["gate"] in tr.find_element(By.CSS_SELECTOR, ".last").text
    wang = driver.find_element(By.CSS_SELECTOR, '#rows tr[data-id="p-wang"] .last').text
    assert "north/c1" in wang
    shoot(driver, "elders", ready)

    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "sort")).select_by_value("age")
    by_age = [r["id"] for r in sorted(api, key=lambda r: -r["age"])]
    wait(driver, lambda d: column(d, "#rows tr") == by_age)
    Select(driver.find_element(By.ID, "flag")).select_by_value("lives_alone")
    wait(driver, lambda d: column(d, "#rows tr") == ["p-zhang", "p-wang"])
    assert "flag=lives_alone" in driver.find_element(By.ID, "csv").get_attribute("href")
    Select(driver.find_element(By.ID, "flag")).select_by_value("")
    Select(driver.find_element(By.ID, "building")).select_by_value("7")
    wait(driver, lambda d: sorted(column(d, "#rows tr")) == ["p-chen", "p-zhang"])

    driver.get(http_url + "/elders?lang=en")
    wait(driver, ready)
    assert driver.find_element(By.CSS_SELECTOR, "#main h1").text == EN["elders.title"]
    cell = driver.find_element(By.CSS_SELECTOR, '#rows tr[data-id="p-wang"] .inout').text
    assert cell == EN["common.outside"]


def test_visits_page_records_a_visit_and_the_person_leaves_the_due_list(
    client, server, broker, http_url, driver
):
    compound(client, server, broker)
    sign_in(driver, http_url, server.tokens["officer"], "/visits")
    wait(driver, ready)
    By = _by()
    due = [
        r["id"]
        for r in client.get("/api/visits/due", headers=auth(server, "officer")).json()["rows"]
    ]
    assert column(driver, "#due-rows tr") == due and "p-wang" in due
    shoot(driver, "visits", ready)
    # Chosen from the due list.
    driver.find_element(By.CSS_SELECTOR, '#due-rows tr[data-id="p-wang"] button.pick').click()
    wait(driver, lambda d: column(d, "#chosen .picked") == ["p-wang"])
    visitor = driver.find_element(By.ID, "visitor")
    assert visitor.get_attribute("value") == "officer1"  # the signed-in officer by default
    visitor.clear()
    visitor.send_keys("辅警小王")
    driver.find_element(By.ID, "note").send_keys("腿脚不便，需要送菜上门")
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "outcome")).select_by_value("needs_help")
    driver.find_element(By.ID, "save").click()
    wait(driver, lambda d: "p-wang" not in column(d, "#due-rows tr"))
    wait(driver, lambda d: "王秀英" in d.find_element(By.ID, "recent-rows").text)
    assert ZH["visits.outcome.needs_help"] in driver.find_element(By.ID, "recent-rows").text
    # Found by typing a name.
    driver.find_element(By.ID, "person-q").send_keys("张")
    wait(driver, lambda d: "p-zhang" in column(d, "#choices button.choice"))
    driver.find_element(By.CSS_SELECTOR, '#choices button.choice[data-id="p-zhang"]').click()
    driver.find_element(By.ID, "save").click()
    wait(driver, lambda d: "p-zhang" not in column(d, "#due-rows tr"))
    api = client.get("/api/visits/due", headers=auth(server, "officer")).json()["rows"]
    assert {r["id"] for r in api} == set(column(driver, "#due-rows tr")) == {"p-zhao", "p-chen"}
    visits = client.get("/api/visits", headers=auth(server, "officer")).json()
    assert [(v["person_id"], v["visitor"]) for v in visits] == [
        ("p-zhang", "辅警小王"), ("p-wang", "辅警小王")
    ]  # fmt: skip
    shoot(driver, "visits-recorded", ready)


def test_person_page_timeline_tables_and_raise_search(client, server, broker, http_url, driver):
    compound(client, server, broker)
    visit = {"person_id": "p-wang", "visitor": "社区网格员小刘", "outcome": "ok", "note": "精神好"}
    r = client.post("/api/visits", json=visit, headers=auth(server, "officer"))
    assert r.status_code == 201, r.text
    o = client.get("/api/persons/p-wang/overview", headers=auth(server, "officer")).json()
    sign_in(driver, http_url, server.tokens["officer"], "/person/p-wang")
    wait(driver, ready)
    By = _by()
    assert driver.find_element(By.ID, "name").text == "王秀英"
    assert driver.find_element(By.ID, "where-now").text == ZH["common.outside"]
    bands = driver.find_elements(By.CSS_SELECTOR, "#timeline .band")
    assert len(bands) == len(o["stays"]) == 2
    assert [b.get_attribute("class").split()[1] for b in bands] == [s["where"] for s in o["stays"]]
    assert [b.get_attribute("data-since") for b in bands] == [s["since"] for s in o["stays"]]
    assert len(driver.find_elements(By.CSS_SELECTOR, "#timeline .tick")) == len(o["passages"]) == 3
    assert len(driver.find_elements(By.CSS_SELECTOR, "#timeline .tick.internal")) == 1
    assert len(driver.find_elements(By.CSS_SELECTOR, "#passage-rows tr")) == 3
    assert "独居" in driver.find_element(By.ID, "facts").text
    assert "社区网格员小刘" in driver.find_element(By.ID, "visit-rows").text
    shoot(driver, "person", ready)

    driver.find_element(By.ID, "raise").click()
    reason = driver.find_element(By.ID, "reason")
    wait(driver, lambda d: reason.is_displayed())
    assert reason.get_attribute("value") == ZH["person.search_reason_default"]
    driver.find_element(By.ID, "raise-go").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-state .raised"))
    searches = client.get("/api/searches", headers=auth(server, "officer")).json()
    assert [(s["person_id"], s["reason"]) for s in searches] == [("p-wang", "家属报告走失")]
    sid = driver.find_element(By.CSS_SELECTOR, "#search-state .raised").get_attribute("data-search")
    assert sid == searches[0]["id"]
    driver.execute_script("document.getElementById('stays').scrollIntoView()")
    shoot(driver, "person-tables", ready)

    driver.get(http_url + "/person/c-sun")
    wait(driver, ready)
    assert "已过期" in driver.find_element(By.CSS_SELECTOR, "#facts .expired").text
    driver.get(http_url + "/person/p-nobody")
    wait(driver, ready)
    missing = driver.find_element(By.ID, "missing")
    assert missing.is_displayed() and missing.text.startswith("查无此人\n")
    assert "没有编号为“p-nobody”的人员" in missing.text  # and the search by name (test_words.py)
    assert not driver.find_element(By.ID, "person-root").is_displayed()
