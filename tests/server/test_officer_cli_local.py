"""The officer CLI speaks the site's language and prints the compound's local time (from
GET /api/site), keeps --json as the API's raw answer, and says which person does not exist."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.clitext import CliSite
from server.i18n import text
from server.localtime import day_time_text
from server.store.records import PersonEntry
from tests.server.conftest import passage, start_subscribed
from tests.server.test_officer_cli import cli

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _history(server) -> tuple[datetime, datetime]:  # noqa: ANN001
    now = datetime.now(UTC).replace(microsecond=0)
    went_in, went_out = now - timedelta(hours=5), now - timedelta(hours=1)
    server.store.upsert_person(PersonEntry(id="p-li", name="李明", role="resident", care_flags=[]))
    server.store.insert_events(
        [
            passage(server.cfg.site, 1, "p-li", "in", went_in),
            passage(server.cfg.site, 2, "p-li", "out", went_out),
        ]  # fmt: skip
    )
    return went_in, went_out


def local(ts: datetime | str, tz: ZoneInfo = SHANGHAI, locale: str = "zh-CN") -> str:
    """'12月7日 周一 14:05': the CLI's times, with the weekday."""
    return day_time_text(ts, tz, locale)


@SQLITE
def test_trajectory_in_chinese_and_local_time(server, http_url: str) -> None:
    went_in, went_out = _history(server)
    r = cli(http_url, server.tokens["officer"], "trajectory", "p-li", "--reason", "welfare check")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{local(went_in)}  进  g1/c1"
    assert lines[1] == f"{local(went_out)}  出  g1/c1"
    last = text("zh-CN", "cli.last_seen", time=local(went_out), place="g1/c1",
                where="在小区外", since=local(went_out))  # fmt: skip
    assert lines[2] == last
    utc = went_out.strftime("%Y-%m-%d %H:%M")
    assert utc not in r.stdout and "T" not in r.stdout and "+00:00" not in r.stdout


@SQLITE
def test_json_is_the_apis_raw_answer(server, http_url: str) -> None:
    _history(server)
    r = cli(http_url, server.tokens["officer"], "trajectory", "p-li", "--reason", "x-x-x", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["passages"][0]["ts"].endswith("+00:00") or got["passages"][0]["ts"].endswith("Z")
    assert [p["event_id"] for p in got["passages"]] == [
        e.event_id for e in reversed(server.store.events(datetime.now(UTC) - timedelta(days=1)))
    ]


@SQLITE
def test_a_wrong_person_id_says_no_such_person(server, http_url: str) -> None:
    r = cli(http_url, server.tokens["officer"], "search", "raise", "p-nope", "--reason", "missing")
    assert r.returncode == 2
    assert "no such person: p-nope" in r.stderr and "查无此人：p-nope" in r.stderr
    assert "Traceback" not in r.stderr


@SQLITE
def test_users_list_in_chinese_with_local_expiry(server, http_url: str) -> None:
    r = cli(http_url, server.tokens["admin"], "users", "add", "aux1", "--role", "viewer",
            "--days", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "aux1（只读）的访问令牌，只显示这一次：" in r.stdout
    r = cli(http_url, server.tokens["admin"], "users", "list")
    [row] = [ln for ln in r.stdout.splitlines() if ln.startswith("aux1")]
    expires = datetime.now(UTC) + timedelta(days=1)
    day = local(expires).rsplit(" ", 1)[0]
    assert "只读" in row and "有效" in row and f"有效期至 {day}" in row


@pytest.fixture()
def en_server(tmp_path: Path, broker, db_url: str):
    """A running ServerApp of an English-speaking site in another zone."""
    from scripts.standins import server_config
    from server.app import ServerApp

    site = "s" + secrets.token_hex(3)
    cfg = server_config(tmp_path, site, broker.port, db_url, locale="en", timezone="Europe/Berlin")
    app = start_subscribed(ServerApp(cfg))
    app.tokens = {r: app.store.add_user(f"{r}1", r) for r in ("admin", "officer")}
    yield app
    app.stop()


@pytest.fixture()
def en_url(en_server):
    """The English site's API served by uvicorn on a free port (as conftest's http_url)."""
    import threading
    import time

    import uvicorn

    from server.api import create_api
    from tests.mqtt_helpers import free_port

    port = free_port()
    config = uvicorn.Config(create_api(en_server), host="127.0.0.1", port=port, log_level="warning")
    http = uvicorn.Server(config)
    threading.Thread(target=http.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not http.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    http.should_exit = True


@SQLITE
def test_an_english_site_in_its_own_zone(en_server, en_url: str) -> None:
    _, went_out = _history(en_server)
    r = cli(en_url, en_server.tokens["officer"], "trajectory", "p-li", "--reason", "check")
    assert r.returncode == 0, r.stderr
    berlin = local(went_out, ZoneInfo("Europe/Berlin"), "en")
    assert f"{berlin}  out  g1/c1" in r.stdout
    assert f"last seen {berlin} at g1/c1, outside since {berlin}" in r.stdout
    r = cli(en_url, en_server.tokens["officer"], "search", "raise", "p-nope", "--reason", "x-x-x")
    assert r.returncode == 2 and r.stderr.strip().endswith("no such person: p-nope")


def test_evidence_reads_as_text_in_local_time() -> None:
    ev = {"went_out": "2026-11-30T13:04:00+00:00", "went_out_local": "2026-11-30 21:04",
          "local_time": "21:04", "gate": "north", "hours": 3.5, "direction": "out"}  # fmt: skip
    zh = CliSite("zh-CN", SHANGHAI).evidence(ev)
    went = local(ev["went_out"])
    assert zh == f"外出 {went}，门岗 north，已过 3 小时 30 分，方向 出"
    assert went in ("11月30日 周一 21:04", "2026年11月30日 周一 21:04")
    en = CliSite("en", SHANGHAI).evidence(ev)
    went = local(ev["went_out"], SHANGHAI, "en")
    assert en == f"went out {went}, gate north, for 3 h 30 min, direction out"
    assert CliSite("en", SHANGHAI).evidence({"last_seen": None}) == "last seen None"
