"""Words people read: display names of the compound, gates and cameras (``names:``), lengths of
time as said ("2 小时 5 分"), similarity as a percentage, dates with the weekday, roles and audit
actions by their names, server errors in the page's language, a name where an id was expected
(/person/王秀华, ``gatewatch trajectory 王秀华``), a two-character reason.

One server (SQLite) and one Chromium for the module; the CLI runs as its own process against the
served API, as tests/server/test_officer_cli*.py do.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from server.i18n import LOCALES, catalogue
from server.localtime import day_time_text, duration_text, pct_text
from server.site.names import SiteNames
from server.states import AuditAction, UserRole
from server.store.records import PersonEntry
from tests.server.browser import needs_chromium
from tests.server.conftest import passage, served, server_config, start_subscribed

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NAMES = {"site": "曲江花园", "gates": {"g1": {"name": "北门", "cameras": {"c1": "进门"}}}}
# (seconds, zh-CN, en): the rules of duration_text and GW.duration
DURATIONS = [
    (0, "不到 1 分钟", "under 1 min"),
    (59, "不到 1 分钟", "under 1 min"),
    (89, "1 分钟", "1 min"),
    (90, "2 分钟", "2 min"),
    (38 * 60, "38 分钟", "38 min"),
    (3599, "1 小时", "1 h"),
    (2 * 3600 + 5 * 60, "2 小时 5 分", "2 h 5 min"),
    (6.2 * 3600, "6 小时 12 分", "6 h 12 min"),
    (86_399, "1 天", "1 d"),
    (50 * 3600, "2 天 2 小时", "2 d 2 h"),
    (3 * 86_400 + 4 * 3600 + 100, "3 天 4 小时", "3 d 4 h"),
]


def test_lengths_of_time_as_people_say_them() -> None:
    for seconds, zh, en in DURATIONS:
        assert duration_text(seconds, "zh-CN") == zh, seconds
        assert duration_text(seconds, "en") == en, seconds
    assert duration_text(-5, "zh-CN") == "不到 1 分钟"  # a clock a little ahead
    assert all("." not in duration_text(s * 37.7, "zh-CN") for s in range(0, 20_000, 97))


def test_similarity_as_a_percentage_and_dates_with_the_weekday() -> None:
    assert [pct_text(s, "zh-CN") for s in (0.874, 0.5, 1.2, -0.1)] == ["87%", "50%", "100%", "0%"]
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    ts = datetime(2026, 12, 7, 6, 5, tzinfo=UTC)  # 14:05 in Shanghai, a Monday
    assert day_time_text(ts, SHANGHAI, "zh-CN", now) == "12月7日 周一 14:05"
    assert day_time_text(ts, SHANGHAI, "en", now) == "Mon 7 Dec 14:05"
    late = datetime(2026, 12, 6, 16, 30, tzinfo=UTC)  # past midnight in Shanghai: Monday
    assert day_time_text(late.isoformat(), SHANGHAI, "zh-CN", now) == "12月7日 周一 00:30"
    last_year = datetime(2025, 12, 31, 2, 0, tzinfo=UTC)
    assert day_time_text(last_year, SHANGHAI, "zh-CN", now) == "2025年12月31日 周三 10:00"


def test_display_names_fall_back_to_the_ids(tmp_path: Path) -> None:
    from contract.config import ConfigError
    from server.config import load_server_config

    n = SiteNames.model_validate(NAMES)
    assert (n.gate("g1"), n.camera("g1", "c1")) == ("北门", "进门")
    assert n.where("g1", "c1") == "北门（进门）"
    assert (n.gate("south"), n.camera("south", "c9"), n.where("south", "c9")) == (
        "south", "c9", "south/c9")  # fmt: skip
    assert n.camera("g1", "c2") == "c2" and n.gate(None) == "" and n.where("g1", None) == "北门"
    f = tmp_path / "s.yaml"
    f.write_text(f"site: s1\ndata_dir: {tmp_path}\nnames:\n  site: 曲江花园\n  gates:\n"
                 "    north: {name: 北门, cameras: {in-cam: 进门, out-cam: 出门}}\n")  # fmt: skip
    cfg = load_server_config(f)
    assert cfg.names.where("north", "out-cam") == "北门（出门）" and cfg.names.site == "曲江花园"
    f.write_text(f"site: s1\ndata_dir: {tmp_path}\nnames:\n  gates:\n    north gate: {{}}\n")
    with pytest.raises(ConfigError, match="names"):
        load_server_config(f)


def test_every_audit_action_and_role_has_a_name_in_both_languages() -> None:
    for loc in LOCALES:
        c = catalogue(loc)
        assert [a.value for a in AuditAction if f"audit.act.{a.value}" not in c] == [], loc
        assert [r.value for r in UserRole if f"cli.user_role.{r.value}" not in c] == [], loc
    assert catalogue("zh-CN")["cli.user_role.officer"] == "民警"


def test_the_enrollment_tools_words_have_the_same_keys_in_both_languages() -> None:
    from enroll.words import Words, catalogues

    zh, en = (catalogues()[loc] for loc in LOCALES)
    assert set(zh) == set(en) and all(v.strip() for v in [*zh.values(), *en.values()])
    assert Words("zh-CN").templates(3) == "3 个人脸模板"
    assert Words("en").templates(1) == "1 template"


# -- against a running server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory, broker):  # noqa: ANN001, ANN201
    """A running server whose compound, gate g1 and camera c1 have display names; two residents
    called 王秀华, one 李明, passages at g1/c1."""
    from server.app import ServerApp

    tmp = tmp_path_factory.mktemp("words")
    site = "s" + secrets.token_hex(3)
    cfg = server_config(tmp, site, broker.port, f"sqlite:///{tmp / 'gw.db'}", names=NAMES)
    app = start_subscribed(ServerApp(cfg))
    app.tokens = {r: app.store.add_user(f"{r}1", r) for r in ("admin", "officer", "viewer")}
    today = datetime.now(SHANGHAI).date()
    people = (("p-wang1", "王秀华", "3", 76), ("p-wang2", "王秀华", "12", 81),
              ("p-li", "李明", "5", 40))  # fmt: skip
    for pid, name, building, years in people:
        born = date(today.year - years, 1, 1)
        app.store.upsert_person(PersonEntry(id=pid, name=name, role="resident",
                                            building=building, birth_date=born))  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    app.store.insert_events([passage(site, 1, "p-wang1", "in", now - timedelta(hours=5)),
                             passage(site, 2, "p-wang1", "out", now - timedelta(minutes=38))])
    app.store.add_alert("not_seen", "p-li", "since:x", {"hours": 50, "gate": "g1",
                        "last_seen": (now - timedelta(hours=50)).isoformat()})  # fmt: skip
    yield app
    app.stop()


@pytest.fixture(scope="module")
def url(named):  # noqa: ANN001, ANN201
    with served(named) as u:
        yield u


def _get(url: str, token: str, path: str) -> httpx.Response:
    return httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_errors_carry_a_catalogue_key_and_an_english_detail(named, url: str) -> None:  # noqa: ANN001
    viewer = {"Authorization": f"Bearer {named.tokens['viewer']}"}
    r = httpx.post(url + "/api/searches", json={"person_id": "p-li", "reason": "家属报告"},
                   headers=viewer, timeout=30)  # fmt: skip
    assert r.status_code == 403
    assert r.json() == {"detail": "role viewer may not do this (needs admin/officer)",
                        "key": "error.k.role_forbidden",
                        "values": {"role": "viewer", "needs": ["admin", "officer"]}}  # fmt: skip
    r = _get(url, named.tokens["officer"], "/api/persons/p-nope/overview")
    assert r.status_code == 404 and r.json() == {
        "detail": "no such person: p-nope", "key": "error.k.no_such_person",
        "values": {"id": "p-nope"}}  # fmt: skip
    assert _get(url, named.tokens["officer"], "/api/alerts/999999").json().get("key") is None
    assert _get(url, named.tokens["viewer"], "/api/site").json()["names"] == NAMES
    # A reason of two characters (家属) is a reason; one is not.
    ok = _get(url, named.tokens["officer"], "/api/trajectory/p-wang1?reason=%E5%AE%B6%E5%B1%9E")
    assert ok.status_code == 200
    short = _get(url, named.tokens["officer"], "/api/trajectory/p-wang1?reason=%E5%AE%B6")
    assert short.status_code == 422 and short.json()["detail"][0]["type"] == "string_too_short"


def gw(url: str, token: str, *args: str, lang: str | None = None) -> subprocess.CompletedProcess:
    """The real CLI, no terminal on stdin (as a script or cron would run it)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWATCH_TOKEN", "GATEWATCH_LANG")}
    env["GATEWATCH_TOKEN"] = token
    if lang:
        env["GATEWATCH_LANG"] = lang
    return subprocess.run([sys.executable, "-m", "gatewatch", *args, "--url", url],
                          input="", capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=180)  # fmt: skip


def test_the_cli_by_name_with_display_names_and_a_note(named, url: str) -> None:  # noqa: ANN001
    officer = named.tokens["officer"]
    # Two people called 王秀华 and no terminal: the list (building, age) and a non-zero exit.
    r = gw(url, officer, "trajectory", "王秀华", "--reason", "家属")
    assert r.returncode != 0, r.stdout
    rows = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("  ")]
    assert sorted((row[2], row[3]) for row in rows) == [("12", "号楼"), ("3", "号楼")], r.stdout
    assert any(row[4:6] == ["76", "岁"] for row in rows) and "--pick" in r.stdout
    pick = next(row[0].rstrip(".") for row in rows if row[-1] == "p-wang1")
    # --pick N: that person's passages, gate and camera by name, dates with the weekday.
    r = gw(url, officer, "trajectory", "王秀华", "--pick", pick, "--reason", "家属")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.endswith("  进  北门（进门）") and "周" in first and "T" not in first, r.stdout
    assert "最后出现：" in r.stdout and "，北门（进门）；" in r.stdout, r.stdout
    # A unique name needs no choice; close with a note.
    r = gw(url, officer, "search", "raise", "李明", "--reason", "家属", "--json")
    assert r.returncode == 0, r.stderr
    sid = json.loads(r.stdout)["search_id"]
    r = gw(url, officer, "search", "close", sid, "--note", "已在女儿家找到")
    assert r.returncode == 0 and "备注：已在女儿家找到" in r.stdout, r.stderr
    [closed] = [s for s in named.store.searches() if s.id == sid]
    assert closed.state == "closed"



def test_alert_texts_and_help_in_the_sites_words(capsys) -> None:  # noqa: ANN001
    from gatewatch.cli import build_parser
    from server.watch.alert_text import summary, summary_text

    ev = {"last_seen": "2026-12-05T06:05:00+00:00", "gate": "g1", "hours": 50}
    line = summary_text(summary("not_seen", ev), "zh-CN", SHANGHAI, SiteNames.model_validate(NAMES))
    assert line.startswith("最后见于 北门 ") and line.endswith("，已 2 天 2 小时未见"), line
    assert day_time_text(ev["last_seen"], SHANGHAI, "zh-CN") in line
    ev = {"ts": "2026-12-05T06:05:00+00:00", "gate": "g1", "camera": "c1", "score": 0.874}
    line = summary_text(summary("sighting", ev), "zh-CN", SHANGHAI, SiteNames.model_validate(NAMES))
    assert line.startswith("北门（进门）") and line.endswith("相似度 87%"), line
    # Help in the catalogue's words (Chinese unless GATEWATCH_LANG says otherwise).
    os.environ.pop("GATEWATCH_LANG", None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "close", "--help"])
    assert "备注（记入寻人记录和审计日志）" in capsys.readouterr().out


# -- the pages ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    from tests.server.browser import chrome

    d = chrome("1080p")
    yield d
    d.quit()


def _as(d, url: str, token: str, path: str) -> None:  # noqa: ANN001
    from tests.server.browser import sign_in

    d.delete_all_cookies()
    sign_in(d, url, token, path)


def _text(d, element_id: str) -> str:  # noqa: ANN001
    return d.execute_script("const e = document.getElementById(arguments[0]);"
                            "return e && !e.hidden ? e.innerText : ''", element_id)  # fmt: skip


@needs_chromium
def test_pages_say_it_in_chinese(named, url: str, browser) -> None:  # noqa: ANN001
    from tests.server.browser import shoot, wait

    d = browser
    # A viewer on the audit page: the server's refusal in Chinese, roles by name.
    _as(d, url, named.tokens["viewer"], "/audit")
    wait(d, lambda d: _text(d, "forbidden"))
    refused = _text(d, "forbidden")
    assert "您的身份（只读）无权执行此操作，需要：管理员" in refused, refused
    assert "may not" not in refused and "viewer" not in refused
    assert "只读" in _text(d, "who")
    # The formatters agree with the CLI's (same rules, one place each).
    seconds = [s for s, _, _ in DURATIONS]
    got = d.execute_script("return arguments[0].map((s) => GW.duration(s))", seconds)
    assert got == [zh for _, zh, _ in DURATIONS]
    got = d.execute_script("return [0.874, 0.5, 1.2].map(GW.pct)")
    assert got == ["87%", "50%", "100%"]
    times = ["2026-12-07T06:05:00+00:00", "2026-12-06T16:30:00+00:00", "2025-12-31T02:00:00Z"]
    got = d.execute_script("return arguments[0].map((t) => GW.fmt(t, 'datetime'))", times)
    assert got == [day_time_text(t, SHANGHAI, "zh-CN") for t in times]

    # A name in the person page's URL: 查无此人 and the people of that name; one match opens.
    _as(d, url, named.tokens["officer"], "/person/王秀华")
    wait(d, lambda d: len(d.find_elements("css selector", "#find-results li")) == 2)
    missing = _text(d, "missing")
    assert "查无此人" in missing and "3 号楼" in missing and "76 岁" in missing, missing
    shoot(d, "words-person-missing")
    d.get(url + "/person/李明")
    wait(d, lambda d: d.current_url.endswith("/person/p-li"))
    d.get(url + "/person/无名氏")
    wait(d, lambda d: "没有与“无名氏”相符的人员" in _text(d, "missing"))
    d.get(url + "/person/p-wang1")
    wait(d, lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    where = _text(d, "where-detail")
    assert "北门（进门）" in where and "分钟" in where and " 周" in where, where
    assert "." not in where.split("距最后出现")[1].split("\n")[0]
    shoot(d, "words-person")

    # The wall: the compound's and the gate's names.
    d.get(url + "/wall")
    wait(d, lambda d: d.execute_script("return document.body.dataset.ready === '1'"))
    assert d.find_element("css selector", ".wallbar h1").text.startswith("曲江花园")
    assert "北门 · 进门" in _text(d, "gates")
    day = _text(d, "date")
    assert re.fullmatch(r"\d{1,2}月\d{1,2}日 周[一二三四五六日]", day), day
    shoot(d, "words-wall")

    # The gates page: the gate's and camera's names, and its refusals in words.
    for _ in range(3):
        named.bus.refusals.refused("g1", "clock_skew")
    _as(d, url, named.tokens["officer"], "/gates")
    wait(d, lambda d: d.find_elements("css selector", '#rows tr[data-gate="g1"]'))
    row = d.find_element("css selector", '#rows tr[data-gate="g1"]').text
    assert "北门（进门）" in row and "时钟偏快" in row and "近期拒收 3 条通行记录" in row, row
    shoot(d, "words-gates")
    d.get(url + "/gates?lang=en")
    wait(d, lambda d: "Clock fast" in _text(d, "rows"))
    assert "3 passages refused recently" in _text(d, "rows")
    shoot(d, "words-gates-en")
    d.get(url + "/gates?lang=zh-CN")

    # The audit log as an admin: every action by its name.
    _as(d, url, named.tokens["admin"], "/audit")
    wait(d, lambda d: d.find_elements("css selector", "#rows tr[data-action]"))
    actions = d.execute_script("return [...document.querySelectorAll('#rows td.action')]"
                               ".map((e) => e.textContent)")  # fmt: skip
    assert "查找人员" in actions and "查看人员档案" in actions
    assert not [a for a in actions if "_" in a], actions
    shoot(d, "words-audit")
