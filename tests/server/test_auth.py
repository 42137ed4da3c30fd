"""Issue 9 items 11 and 14: token expiry, revocation, brute-force brake, admin token, audit."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from server.states import UserRole
from server.store import now_utc
from tests.server.conftest import auth, server_config
from tests.server.test_officer_cli import cli


def test_expired_token_is_refused(client, server) -> None:
    token = server.store.add_user("old", UserRole.OFFICER, expires=now_utc() - timedelta(seconds=1))
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_api_tokens_expire_after_the_configured_days(client, server) -> None:
    r = client.post(
        "/api/users", json={"name": "o2", "role": "officer"}, headers=auth(server, "admin")
    )
    assert r.status_code == 201, r.text
    left = datetime.fromisoformat(r.json()["expires"]) - now_utc()
    assert timedelta(days=89) < left <= timedelta(days=90)


def test_duplicate_user_name_is_409(client, server) -> None:
    r = client.post(
        "/api/users", json={"name": "officer1", "role": "viewer"}, headers=auth(server, "admin")
    )
    assert r.status_code == 409
    assert r.json() == {
        "detail": "user officer1 exists already; revoke it or rotate its token instead"
    }


def test_revoke_ends_the_token_and_its_sessions(client, server) -> None:
    officer = auth(server, "officer")
    assert client.post("/api/login", headers=officer).status_code == 204
    r = client.delete("/api/users/officer1", headers=auth(server, "admin"))
    assert r.status_code == 200 and r.json() == {"revoked": "officer1"}
    assert client.get("/api/me", headers=officer).status_code == 401
    assert client.get("/api/me").status_code == 401, "the session cookie died with the token"
    assert client.delete("/api/users/nobody", headers=auth(server, "admin")).status_code == 404


def test_rotate_gives_a_new_token_and_kills_the_old(client, server) -> None:
    r = client.post("/api/users/viewer1/token", headers=auth(server, "admin"))
    assert r.status_code == 200
    new = r.json()["token"]
    assert client.get("/api/me", headers=auth(server, "viewer")).status_code == 401
    me = client.get("/api/me", headers={"Authorization": f"Bearer {new}"})
    assert me.json() == {"name": "viewer1", "role": "viewer"}


def test_failed_logins_are_braked_with_429_and_audited(client, server) -> None:
    limit = server.cfg.http.auth_failures
    for i in range(limit):
        r = client.get("/api/board", headers={"Authorization": f"Bearer wrong-{i}"})
        assert r.status_code == 401, (i, r.text)
    r = client.get("/api/board", headers={"Authorization": "Bearer wrong-again"})
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= server.cfg.http.auth_window_s + 1
    assert "too many failed logins" in r.json()["detail"]
    r = client.get("/api/board", headers=auth(server, "viewer"))
    assert r.status_code == 429, "no token is checked from a banned client"
    denied = _audit_rows(server, "auth_denied")
    assert len(denied) == limit and denied[0].target == "/api/board"


def _audit_rows(server, action: str):  # noqa: ANN001, ANN202
    return [r for r in server.store.audit_log(now_utc() - timedelta(hours=1)) if r.action == action]


def test_role_refusal_is_audited(client, server) -> None:
    assert client.get("/api/persons", headers=auth(server, "officer")).status_code == 403
    rows = _audit_rows(server, "access_denied")
    assert [(r.user, r.target) for r in rows] == [("officer1", "/api/persons")]


@pytest.mark.parametrize(
    "path,role,action",
    [
        ("/api/board", "officer", "read_board"),
        ("/api/alerts", "officer", "list_alerts"),
        ("/api/searches", "officer", "list_searches"),
        ("/api/persons", "admin", "list_persons"),
    ],
)
def test_bulk_reads_of_identities_are_audited(client, server, path, role, action) -> None:
    assert client.get(path, headers=auth(server, role)).status_code == 200
    assert [r.user for r in _audit_rows(server, action)] == [f"{role}1"]


def test_viewer_board_is_not_audited_it_shows_no_identities(client, server) -> None:
    assert client.get("/api/board", headers=auth(server, "viewer")).status_code == 200
    assert _audit_rows(server, "read_board") == []


def test_nonexistent_search_reads_write_no_audit_row(client, server) -> None:
    officer = auth(server, "officer")
    assert client.get("/api/searches/s-none", headers=officer).status_code == 404
    assert client.post("/api/searches/s-none/close", headers=officer).status_code == 404
    rows = server.store.audit_log(now_utc() - timedelta(hours=1))
    assert [r for r in rows if r.target == "s-none"] == []


@pytest.mark.parametrize("token", ["short-token", "a" * 40, "password" * 4])
def test_weak_bootstrap_admin_token_refuses_to_start(tmp_path: Path, monkeypatch, token) -> None:
    from server.app import ServerApp
    from server.tokens import WeakToken

    monkeypatch.setenv("GATEWATCH_ADMIN_TOKEN", token)
    with pytest.raises(WeakToken, match="GATEWATCH_ADMIN_TOKEN is too weak"):
        ServerApp(server_config(tmp_path, "s1", 1))


def test_strong_bootstrap_admin_token_makes_the_first_admin(tmp_path: Path, monkeypatch) -> None:
    from server.app import ServerApp

    token = secrets.token_urlsafe(24)
    monkeypatch.setenv("GATEWATCH_ADMIN_TOKEN", token)
    app = ServerApp(server_config(tmp_path, "s1", 1))
    try:
        assert app.store.user_by_token(token).role == UserRole.ADMIN
    finally:
        app.engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_users_cli_adds_lists_and_revokes(server, http_url: str) -> None:
    admin = server.tokens["admin"]
    r = cli(http_url, admin, "users", "add", "desk2", "--role", "officer", "--json")
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["token"]
    assert server.store.user_by_token(token).name == "desk2"
    r = cli(http_url, admin, "users", "revoke", "desk2")
    from server.i18n import text

    said = text(server.cfg.locale, "cli.user_revoked_done", name="desk2")  # the site's language
    assert r.returncode == 0 and said in r.stdout
    assert server.store.user_by_token(token) is None
    r = cli(http_url, admin, "users", "list")
    assert "desk2" in r.stdout and text(server.cfg.locale, "cli.user_revoked") in r.stdout
