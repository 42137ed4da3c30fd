"""The officer's commands against a running server: trajectory, search raise/list/close, alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.store.records import PersonEntry
from tests.server.conftest import passage

ROOT = Path(__file__).resolve().parents[2]


def cli(url: str, token: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GATEWATCH_TOKEN"}
    if token:
        env["GATEWATCH_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "gatewatch", *args, "--url", url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_officer_commands(server, http_url: str) -> None:
    officer = server.tokens["officer"]
    now = datetime.now(UTC)
    server.store.upsert_person(PersonEntry(id="p-li", name="Li", role="resident", care_flags=[]))
    server.store.insert_events(
        [
            passage(server.cfg.site, 1, "p-li", "in", now - timedelta(hours=5)),
            passage(server.cfg.site, 2, "p-li", "out", now - timedelta(hours=1)),
        ]
    )
    r = cli(http_url, officer, "trajectory", "p-li", "--since", "24h", "--reason", "welfare check")
    assert r.returncode == 0, r.stderr
    # The site's language (zh-CN by default) and local time: see test_officer_cli_local.py.
    assert "出  g1/c1" in r.stdout and "起在小区外" in r.stdout
    r = cli(http_url, officer, "search", "raise", "p-li", "--reason", "did not come home", "--json")
    sid = json.loads(r.stdout)["search_id"]
    assert sid in cli(http_url, officer, "search", "list").stdout
    assert f"寻人 {sid} 已结束" in cli(http_url, officer, "search", "close", sid).stdout
    server.store.add_alert("not_seen", "p-li", "since:x", {"hours": 50})
    assert "超时未见  Li（p-li）" in cli(http_url, officer, "alerts").stdout
    r = cli(http_url, server.tokens["viewer"], "search", "raise", "p-li", "--reason", "x-x-x")
    assert r.returncode == 2 and "403" in r.stderr
    r = cli(http_url, None, "alerts")
    assert r.returncode == 2 and "GATEWATCH_TOKEN" in r.stderr


def test_the_example_server_config_is_valid() -> None:
    from server.config import load_server_config

    cfg = load_server_config(ROOT / "configs/server.yaml")
    assert cfg.mqtt.client_id and cfg.retention.visitor_days == 7
