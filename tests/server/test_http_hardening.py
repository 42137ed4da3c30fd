"""Issue 19 items 8-12 and 16: slow clients, non-finite JSON, login, the brake, CSRF, outages."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import auth

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # not about the store

# -- 9: NaN, Infinity, 1e999 in a JSON body ------------------------------------------------------


NON_FINITE_BODIES = [
    ("/api/searches", "officer", b"NaN"),
    ("/api/searches", "officer", b'{"person_id": NaN, "reason": "lost child"}'),
    ("/api/searches", "officer", b'{"person_id": "p1", "reason": Infinity}'),
    ("/api/users", "admin", b'{"name": "u9", "role": "viewer", "expires_days": 1e999}'),
    ("/api/users", "admin", b'{"name": "u9", "role": "viewer", "expires_days": -Infinity}'),
]


@SQLITE
def test_non_finite_numbers_in_a_body_are_422_with_a_reason(client, server) -> None:
    for path, role, body in NON_FINITE_BODIES:
        headers = {**auth(server, role), "Content-Type": "application/json"}
        r = client.post(path, content=body, headers=headers)
        assert r.status_code == 422, (body, r.text)
        detail = json.loads(r.text)["detail"]  # strict JSON: no NaN in the answer either
        assert any("NaN, Infinity" in e["msg"] for e in detail), (body, detail)


# -- 10: a session cookie does not log in ----------------------------------------------------------


@SQLITE
def test_only_a_token_logs_in_a_cookie_does_not_renew_itself(client, server) -> None:
    assert client.post("/api/login", headers=auth(server, "viewer")).status_code == 204
    sid = client.cookies.get("gw_session")
    r = client.post("/api/login")  # the cookie alone
    assert r.status_code == 401, r.text
    assert "log in with a token" in r.json()["detail"]
    assert "set-cookie" not in r.headers
    assert client.cookies.get("gw_session") == sid
    assert client.get("/api/me").status_code == 200, "the session itself still works"


@SQLITE
def test_only_a_viewers_session_renews_and_says_so_by_key(client, server) -> None:
    assert client.post("/api/login", headers=auth(server, "officer")).status_code == 204
    r = client.post("/api/session/renew")
    assert r.status_code == 403 and r.json()["key"] == "session.not_viewer", r.text
    assert client.post("/api/login", headers=auth(server, "viewer")).status_code == 204
    r = client.post("/api/session/renew")
    assert r.status_code == 200 and r.json()["renew_in_s"] == 6 * 3600, r.text


@SQLITE
def test_a_kiosk_session_renews_up_to_its_cap_and_never_past_its_token(server) -> None:
    from datetime import timedelta

    from server.states import UserRole
    from server.store import now_utc

    store, h12 = server.store, timedelta(hours=12)
    sid = store.open_session("viewer1", h12)
    t0 = now_utc()
    # Renewed every 11 hours: 12 hours on, up to 30 days after the sign-in, then no further.
    ends = [store.renew_session(sid, h12, timedelta(days=30), t0 + timedelta(hours=11 * i))
            for i in range(1, 68)]  # fmt: skip
    assert all(e is not None for e in ends[:65]) and ends[-1] is None, "it ended at its cap"
    cap = max(e for e in ends if e is not None)
    assert timedelta(days=30) - timedelta(seconds=5) < cap - t0 <= timedelta(days=30)
    assert ends[0] is not None and ends[0] - t0 == timedelta(hours=23)
    # A token that ends in 5 hours: its session is not renewed past it.
    until = t0 + timedelta(hours=5)
    store.add_user("kiosk-5h", UserRole.VIEWER, expires=until)
    short = store.open_session("kiosk-5h", timedelta(hours=1))
    got = store.renew_session(short, h12, timedelta(days=30), t0 + timedelta(minutes=30))
    assert got is not None and abs((got - until).total_seconds()) < 1


# -- 12: cross-site changes with the cookie ----------------------------------------------------


@SQLITE
def test_a_change_with_the_cookie_from_another_site_is_403(client, server) -> None:
    assert client.post("/api/login", headers=auth(server, "officer")).status_code == 204
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    for method, path in [
        ("post", "/api/searches/s-x/close"),
        ("post", "/api/alerts/1/acknowledge"),
        ("post", "/api/logout"),
    ]:
        r = getattr(client, method)(path, headers=evil)
        assert r.status_code == 403, (path, r.text)
        assert "cross-site request refused: Origin http://evil.example" in r.json()["detail"]
        assert r.json()["key"] == "error.cross_site", "the pages say it in their language"
    for bad in ({"Origin": "null"}, {"Referer": "http://evil.example/x.html"}):
        r = client.post("/api/searches/s-x/close", headers=bad)
        assert r.status_code == 403, (bad, r.text)
    # the server's own origin (or its Referer), and reads from anywhere, pass
    r = client.post("/api/searches/s-x/close", headers={"Origin": "http://testserver"})
    assert r.status_code == 404
    r = client.post("/api/searches/s-x/close", headers={"Referer": "http://testserver/search"})
    assert r.status_code == 404
    assert client.get("/api/me", headers=evil).status_code == 200
    # a token in the Authorization header is no ambient credential: Origin does not matter
    r = client.post("/api/searches/s-x/close", headers={**evil, **auth(server, "officer")})
    assert r.status_code == 404
    assert client.get("/api/me").status_code == 200, "the session still works"


# -- 11: the login brake: forwarded addresses, parallel guesses --------------------------------


def _wrong(url: str, n: int, forwarded: bool, workers: int = 50) -> list[int]:
    """``n`` requests with wrong tokens, ``workers`` at a time; their statuses."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    def one(i: int) -> int:
        h = {"Authorization": f"Bearer wrong-{i}"}
        if forwarded:
            h["X-Forwarded-For"] = f"10.9.{i // 250}.{i % 250 + 1}"
        return c.get("/api/me", headers=h).status_code

    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(base_url=url, timeout=60, limits=limits) as c, ThreadPoolExecutor(
        workers
    ) as pool:
        return list(pool.map(one, range(n)))


def test_brake_counts_every_parallel_guess_and_ignores_forwarded_for(server) -> None:
    from tests.server.conftest import served

    limit = server.cfg.http.auth_failures
    with served(server) as url:
        statuses = _wrong(url, 200, forwarded=True)
        import httpx

        banned = httpx.get(url + "/api/me", headers={"Authorization": "Bearer wrong"})
    assert banned.status_code == 429 and banned.json()["key"] == "error.too_many"
    assert banned.json()["values"]["s"] == int(banned.headers["retry-after"])
    assert statuses.count(401) <= limit and statuses.count(401) + statuses.count(429) == 200, (
        f"{statuses.count(401)} of 200 parallel wrong tokens evaluated (brake: {limit})"
    )


@SQLITE
def test_forwarded_for_is_believed_from_a_configured_proxy_only(server) -> None:
    from tests.server.conftest import served

    limit = server.cfg.http.auth_failures
    with served(server, {"trusted_proxies": ["127.0.0.1"]}) as url:
        statuses = _wrong(url, 2 * limit, forwarded=True, workers=4)
    assert statuses == [401] * (2 * limit), "behind a proxy each client address has its own brake"


# -- 8: slowloris, file descriptors, the log line -----------------------------------------------


def _half_open(url: str, n: int) -> list:
    """``n`` connections that send a request line and one header, never the blank line."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(url)
    socks = []
    for _ in range(n):
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    return socks


def _closed_by_server(s, deadline: float) -> bool:  # noqa: ANN001
    import select
    import time

    while time.monotonic() < deadline:
        if select.select([s], [], [], 0.2)[0]:
            try:
                return s.recv(1024) == b""
            except ConnectionResetError:
                return True
        try:
            s.sendall(b"X")  # a slowloris drips bytes: they must not reset the clock
        except OSError:
            return True
    return False


@SQLITE
def test_half_open_connections_are_closed_and_requests_answered(server) -> None:
    import time

    import httpx

    from tests.server.conftest import served

    with served(server, {"header_timeout_s": 1, "max_connections": 40}) as url:
        t0 = time.monotonic()
        socks = _half_open(url, 50)
        try:
            closed = [_closed_by_server(s, t0 + 20) for s in socks]
            took = time.monotonic() - t0
        finally:
            for s in socks:
                s.close()
        assert all(closed), f"{closed.count(False)} of 50 half-open connections still open"
        assert took < 10, f"took {took:.1f} s to close them (header timeout 1 s)"
        assert httpx.get(f"{url}/api/health", timeout=10).status_code == 200


def test_too_many_open_files_is_logged_once_per_window() -> None:
    import errno
    import logging

    from server.api.serving import RepeatBrake

    now = [0.0]
    brake = RepeatBrake(every_s=10, clock=lambda: now[0])
    logger = logging.getLogger("test.fd-brake")
    logger.propagate = False
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: seen.append(r.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.addFilter(brake)
    try:
        err = OSError(errno.EMFILE, "Too many open files")
        for _ in range(1000):
            try:
                raise err
            except OSError:
                logger.exception("socket.accept() out of system resource")
        logger.error("another error")
        now[0] = 10.5
        logger.error("accept failed: [Errno 24] Too many open files")
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(brake)
    assert seen == [
        "socket.accept() out of system resource",
        "another error",
        "accept failed: [Errno 24] Too many open files (999 more like it in the last 10 s)",
    ]


@SQLITE
def test_the_access_log_writes_no_names(server) -> None:
    import logging

    from server.api import create_api
    from server.api.serving import http_config

    http_config(server.cfg.http, create_api(server))  # installs the filter
    access = logging.getLogger("uvicorn.access")
    seen = []
    for target in ("/person/%E7%8E%8B%E7%A7%80%E5%8D%8E", "/person/王秀华/photos",
                   "/api/persons/find?q=%E7%8E%8B", "/api/wall"):  # fmt: skip
        record = access.makeRecord("uvicorn.access", logging.INFO, __file__, 1,
                                   '%s - "%s %s HTTP/%s" %d',
                                   ("127.0.0.1:5000", "GET", target, "1.1", 200), None)  # fmt: skip
        assert access.filter(record)
        seen.append(record.getMessage())
    assert seen == [
        '127.0.0.1:5000 - "GET /person/… HTTP/1.1" 200',
        '127.0.0.1:5000 - "GET /person/…/photos HTTP/1.1" 200',
        '127.0.0.1:5000 - "GET /api/persons/find?… HTTP/1.1" 200',
        '127.0.0.1:5000 - "GET /api/wall HTTP/1.1" 200',
    ]


def test_an_outage_answer_carries_its_catalogue_key() -> None:
    from sqlalchemy.exc import OperationalError

    from server.api.failures import RETRY_AFTER_S, outage_response
    from server.i18n import catalogue

    for cause, key in (("unable to open database", "error.outage"),
                       ("database or disk is full", "error.disk_full")):  # fmt: skip
        r = outage_response(OperationalError("INSERT", {}, Exception(cause)))
        body = json.loads(r.body)
        assert r.status_code == 503 and body["key"] == key
        assert body["values"] == {"s": RETRY_AFTER_S}
        assert "nothing was stored" in body["detail"]
        assert all(key in catalogue(loc) for loc in ("zh-CN", "en"))


def test_the_shipped_unit_raises_the_file_limit_above_the_connection_limit() -> None:
    import configparser
    from pathlib import Path

    from server.config import HttpConfig

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(Path(__file__).resolve().parents[2] / "configs" / "gatewatch-server.service")
    nofile = int(unit["Service"]["LimitNOFILE"])
    assert nofile >= 65536 and HttpConfig().max_connections * 4 <= nofile
