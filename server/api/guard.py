"""ASGI guard in front of every route: credential checked and body capped before it is read.

Runs before FastAPI parses anything, so an anonymous caller cannot make the server read, buffer
or parse a body, and no caller can send more than its route allows (streamed bytes are counted;
Content-Length is checked first but not trusted).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.api.auth import SESSION_COOKIE, Authenticator, Credential, Denied
from server.api.failures import OUTAGES, RETRY_AFTER_S, log_outage, outage_body

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/", "/api/health", "/favicon.ico"})
OPEN_PREFIXES = ("/static/", "/static-docs/")  # the pages' and the API docs' assets
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
NO_CSP = frozenset({"/docs"})  # Swagger UI runs an inline script of its own
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


class BodyTooLarge(HTTPException):
    """More bytes arrived than the route allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes, this route's limit")
        self.key, self.values = "error.too_large", {"limit": limit}  # keyed.py's

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "key": self.key, "values": self.values}


@dataclass(frozen=True)
class BodyLimits:
    """The largest body of any route, and of the routes that take uploads."""

    default: int
    uploads: dict[str, int]

    def of(self, path: str) -> int:
        return self.uploads.get(path, self.default)


@dataclass(frozen=True)
class OpenPaths:
    """Paths served without a credential: the pages' shells, which hold no data."""

    paths: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self.paths or path.startswith(self.prefixes))


class Guard:
    """Authenticates (401/429) and caps bodies (413) before the app sees the request."""

    def __init__(
        self,
        app: ASGIApp,
        auth: Authenticator,
        limits: BodyLimits,
        shells: OpenPaths = OpenPaths(),
        origins: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.auth = auth
        self.limits = limits
        self.shells = shells
        self.origins = origins  # more origins the pages are served from (http.public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or path in self.shells):
            client = scope["client"][0] if scope.get("client") else "unknown"
            cred = credential(scope)
            try:
                caller = await run_in_threadpool(self.auth.authenticate, cred, client, path)
            except Denied as d:
                keyed = {"key": "error.too_many", "values": {"s": d.retry_after_s}}
                extra = keyed if d.status == 429 else {}
                await _answer(send, d.status, {"detail": d.detail, **extra}, d.retry_after_s)
                return
            except OUTAGES as e:  # the database is down or full: not the caller's fault
                log_outage(e)
                await _answer(send, 503, outage_body(e), RETRY_AFTER_S)
                return
            if cred.token is None and scope["method"] in CHANGES:
                foreign = cross_site(scope, self.origins)
                if foreign is not None:
                    await _answer(send, 403, {"detail": foreign, "key": "error.cross_site",
                                              "values": {}})  # fmt: skip
                    return
            scope.setdefault("state", {})["caller"] = caller
        limit = self.limits.of(path)
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _answer(send, 413, BodyTooLarge(limit).body())
            return
        started = False

        async def send_marked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *_headers(path)]
            await send(message)

        try:
            await self.app(scope, _capped(receive, limit), send_marked)
        except BodyTooLarge as e:  # raised where no handler turned it into a response
            if started:
                raise
            await _answer(send, 413, e.body())


def credential(scope: Scope) -> Credential:
    """The bearer token of the Authorization header, else the session cookie."""
    authz = _header(scope, b"authorization") or ""
    if authz.startswith("Bearer ") and authz[7:].strip():
        return Credential(token=authz[7:].strip())
    raw = _header(scope, b"cookie")
    if raw:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(raw)
        except Exception:  # a malformed cookie header is no credential
            return Credential()
        if SESSION_COOKIE in cookie:
            return Credential(session=cookie[SESSION_COOKIE].value)
    return Credential()


def cross_site(scope: Scope, extra: frozenset[str] = frozenset()) -> str | None:
    """Why a change made with the session cookie comes from another site, or None.

    The browser's Origin (else its Referer) must be this server: the Host the request was sent
    to, or one of ``extra``. "null" (a sandboxed or no-referrer page) is foreign. A request with
    neither header is no browser's cross-site request (browsers send Origin with every POST, PUT,
    PATCH and DELETE) and passes.
    """
    origin = _header(scope, b"origin")
    said = "Origin"
    if origin is None:
        referer = _header(scope, b"referer")
        if referer is None:
            return None
        said, origin = "Referer", referer
    if origin.strip() != "null" and _ours(origin, _header(scope, b"host") or "", extra):
        return None
    shown = origin[:100]
    return (
        f"cross-site request refused: {said} {shown} is not this server; change data from "
        "the dashboard's own pages, or send a token in the Authorization header"
    )


def _ours(origin: str, host: str, extra: frozenset[str]) -> bool:
    try:
        o = urlsplit(origin.strip())
        if o.scheme not in DEFAULT_PORTS or not o.hostname:
            return False
        mine = f"{o.scheme}://{o.netloc}".lower()
        if mine in extra:
            return True
        h = urlsplit(f"//{host.strip()}")
        if not h.hostname or h.hostname != o.hostname:
            return False
        # nginx's $host carries no port: then the host name alone must match
        return h.port is None or h.port == (o.port or DEFAULT_PORTS[o.scheme])
    except ValueError:  # a malformed port or address
        return False


def _capped(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return capped


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return None


def _headers(path: str) -> list[tuple[bytes, bytes]]:
    h = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]
    if path not in NO_CSP:
        h.append((b"content-security-policy", CSP.encode()))
    return h


async def _answer(
    send: Send, status: int, answer: dict[str, Any], retry_after: int | None = None
) -> None:
    """``answer``: the JSON, {detail} and where the pages need it {key, values} (keyed.py)."""
    body = json.dumps(answer).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *_headers(""),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
