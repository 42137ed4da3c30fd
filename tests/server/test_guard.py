"""Issue 9 items 8, 10, 16: credentials before bodies, body caps, no token in URLs or logs."""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from urllib.parse import urlparse

import psutil
import pytest

from tests.server.conftest import auth

MB = 1 << 20


def _stream(url: str, path: str, headers: dict[str, str], total: int) -> tuple[int, str, int]:
    """PUT ``total`` bytes chunked to ``path``; (status, body, bytes sent before the answer)."""
    u = urlparse(url)
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    head = f"PUT {path} HTTP/1.1\r\nHost: {u.netloc}\r\nTransfer-Encoding: chunked\r\n"
    head += "Content-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    s.sendall(head.encode())
    chunk = b"[" + b"1," * (32 * 1024 - 1)
    sent, answer = 0, b""
    try:
        while sent < total:
            if select.select([s], [], [], 0)[0]:
                break
            s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    deadline = time.monotonic() + 10
    try:
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) == 0:
            if time.monotonic() > deadline:
                break
            part = s.recv(65536)
            if not part:
                break
            answer += part
    except ConnectionResetError:
        pass
    s.close()
    status_line, _, rest = answer.partition(b"\r\n")
    body = rest.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in rest else b""
    return int(status_line.split()[1]), body.decode(errors="replace"), sent


def _rss() -> int:
    return psutil.Process().memory_info().rss


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_anonymous_50mb_body_is_refused_before_it_is_read(server, http_url: str) -> None:
    before, t0 = _rss(), time.monotonic()
    status, body, sent = _stream(http_url, "/api/persons/p1", {}, 50 * MB)
    elapsed, grown = time.monotonic() - t0, _rss() - before
    assert status == 401, body
    assert "missing token" in json.loads(body)["detail"]
    assert sent < 16 * MB, f"the server read {sent} bytes before answering"
    assert elapsed < 5 and grown < 20 * MB, (elapsed, grown)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_wrong_token_with_big_body_is_refused_before_it_is_read(server, http_url: str) -> None:
    status, _, sent = _stream(
        http_url, "/api/persons/p1", {"Authorization": "Bearer x" * 3}, 50 * MB
    )
    assert status == 401 and sent < 16 * MB


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_streamed_body_over_the_limit_gets_413_with_the_limit(server, http_url: str) -> None:
    before = _rss()
    status, body, sent = _stream(http_url, "/api/persons/p1", auth(server, "admin"), 50 * MB)
    assert status == 413, body
    limit = server.cfg.http.max_body_bytes
    assert json.loads(body)["detail"] == (
        f"request body larger than {limit} bytes, this route's limit"
    )
    assert sent < 16 * MB and _rss() - before < 20 * MB


def test_declared_content_length_over_the_limit_gets_413(client, server) -> None:
    big = b"x" * (server.cfg.http.max_body_bytes + 1)
    r = client.put("/api/persons/p1", content=big, headers=auth(server, "admin"))
    assert r.status_code == 413 and "bytes, this route's limit" in r.json()["detail"]
    assert r.json()["key"] == "error.too_large", "the pages say it in their language"


def test_token_in_the_query_string_is_not_accepted(client, server) -> None:
    r = client.get(f"/api/board?token={server.tokens['viewer']}")
    assert r.status_code == 401, "a token in a URL must not authenticate"
    r = client.get(f"/api/board/stream?token={server.tokens['viewer']}")
    assert r.status_code == 401


def test_login_sets_a_strict_httponly_session_cookie(client, server) -> None:
    r = client.post("/api/login", headers=auth(server, "officer"))
    assert r.status_code == 204
    cookie = r.headers["set-cookie"]
    assert "gw_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert server.tokens["officer"] not in cookie
    assert client.get("/api/me").json() == {"name": "officer1", "role": "officer"}
    assert client.post("/api/logout").status_code == 204
    client.cookies.clear()
    assert client.get("/api/me").status_code == 401


def test_access_log_never_shows_a_credential(server, http_url: str, caplog) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.INFO)
    # uvicorn's access logger does not propagate to the root, where caplog listens.
    access.addHandler(caplog.handler)
    try:
        sid = _requests_with_credentials(server, http_url)
    finally:
        access.removeHandler(caplog.handler)
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/api/board/stream" in line for line in lines), lines
    for secret in (*server.tokens.values(), sid):
        assert not any(secret in line for line in lines)


def _requests_with_credentials(server, http_url: str) -> str:  # noqa: ANN001
    """Requests with a token, a session cookie and a stream; the session id."""
    import httpx

    with httpx.Client(base_url=http_url) as c:
        r = c.post("/api/login", headers=auth(server, "viewer"))
        assert r.status_code == 204
        assert c.get("/api/board").status_code == 200
        with c.stream("GET", "/api/board/stream") as s:
            assert s.status_code == 200
        c.get("/api/board", headers=auth(server, "officer"))
        return c.cookies.get("gw_session") or "no-session"


def test_gallery_version_zero_is_404_not_the_latest(client, server) -> None:
    v = server.publish_gallery().version
    assert client.get(f"/api/gallery/{v}", headers=auth(server, "edge")).status_code == 200
    r = client.get("/api/gallery/0", headers=auth(server, "edge"))
    assert r.status_code == 404 and r.json() == {"detail": "no gallery v0"}


def test_docs_and_schema_need_a_credential(client, server) -> None:
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/docs").status_code == 401
    assert client.get("/openapi.json", headers=auth(server, "viewer")).status_code == 200
    assert client.get("/api/health").status_code == 200


def test_pages_carry_a_content_security_policy(client, server) -> None:
    import re

    from server.api.routes.pages import PAGES

    for path in [*PAGES, "/person/p-1"]:
        page = client.get(path)
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        # no inline script (JSON data blocks are not run) and no inline style
        scripts = re.findall(r"<script([^>]*)>", page.text)
        assert all("src=" in a or 'type="application/json"' in a for a in scripts), path
        assert " style=" not in page.text, path
        for js in re.findall(r'<script src="([^"]+)"', page.text):
            r = client.get(js)
            assert r.status_code == 200, js
            assert "innerHTML" not in r.text and "eval(" not in r.text, js
