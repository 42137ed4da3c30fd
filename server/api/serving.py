"""How uvicorn serves the API: timeouts against half-sent requests, a connection limit, the
trusted proxies, a brake on the log line an exhausted file-descriptor table repeats, and an
access log without residents' names (``PrivatePaths``).

uvicorn closes an idle kept-alive connection (``timeout_keep_alive``) but waits for a request's
headers forever: a thousand half-open connections (slowloris) hold a thousand file descriptors.
``HeaderTimeoutH11`` closes a connection whose request line and headers have not all arrived
within ``http.header_timeout_s`` of its start (or of the previous response), however slowly
they trickle in.

uvicorn also waits for every open response before it exits, and a Server-Sent Events stream never
finishes by itself: without ``Server`` a wall left open keeps a stopped server alive (systemd's
stop would hang). The graceful timeout is the second line: whatever still runs after it is
cancelled.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.api.stream import Streams

if TYPE_CHECKING:
    import asyncio

    from uvicorn import Config
    from uvicorn._types import ASGIApplication

    from server.config import HttpConfig

GRACEFUL_S = 3
FD_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE})
FD_TEXT = "Too many open files"


def header_timeout_protocol(timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose headers take longer than ``timeout_s``."""

    class HeaderTimeoutH11(H11Protocol):
        header_timeout_s = timeout_s
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:  # still waiting for a whole request head
                if self._header_timer is None:
                    self._arm()
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()  # arms the keep-alive timeout
            self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutH11


class RepeatBrake(logging.Filter):
    """Lets one "Too many open files" record through per ``every_s``; the next one that passes
    says how many were held back. Other records pass untouched."""

    def __init__(self, every_s: float = 10.0, clock: Any = time.monotonic) -> None:  # noqa: ANN401
        super().__init__()
        self.every_s, self.clock = every_s, clock
        self._next = float("-inf")
        self.held = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not _out_of_fds(record):
            return True
        with self._lock:
            now = self.clock()
            if now < self._next:
                self.held += 1
                return False
            self._next = now + self.every_s
            held, self.held = self.held, 0
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last {self.every_s:g} s)"
        return True


def _out_of_fds(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, OSError) and exc.errno in FD_ERRNOS:
        return True
    return FD_TEXT in str(record.msg)


class PrivatePaths(logging.Filter):
    """The access log without residents' names: the query string (``/api/persons/find?q=王秀华``)
    and the tail of ``/person/<name or id>`` become "…"."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args  # uvicorn.access: (client, method, path?query, http version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], private_path(args[2]), args[3], args[4])
        return True


def private_path(target: str) -> str:
    """``target`` (a path with its query) with the query and a person page's tail as "…"."""
    path, q, _ = target.partition("?")
    m = PERSON_PAGE.match(path)
    if m:
        path = m.group(1) + "…" + path[m.end() :]
    return path + ("?…" if q else "")


PERSON_PAGE = re.compile(r"^(/person/)[^/]+")
_PRIVATE = PrivatePaths()
LOGGERS = ("asyncio", "uvicorn.error", "uvicorn")
_BRAKE = RepeatBrake()


def install_log_brake() -> RepeatBrake:
    """Attach the one brake to the loggers that report a failing accept() (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _BRAKE not in logger.filters:
            logger.addFilter(_BRAKE)
    return _BRAKE


def http_config(http: HttpConfig, api: ASGIApplication, log_level: str = "info") -> Config:
    """uvicorn's settings for the API: address, TLS, timeouts, connection limit, proxies."""
    from uvicorn import Config

    install_log_brake()
    tls = {"ssl_certfile": str(http.tls_cert), "ssl_keyfile": str(http.tls_key)} if http.tls else {}
    config = Config(
        api,
        host=http.host,
        port=http.port,
        log_level=log_level,
        http=header_timeout_protocol(http.header_timeout_s),
        timeout_keep_alive=max(1, round(http.keepalive_timeout_s)),
        limit_concurrency=http.max_connections,
        timeout_graceful_shutdown=GRACEFUL_S,
        h11_max_incomplete_event_size=http.max_header_bytes,
        # X-Forwarded-For/-Proto only from the configured proxies (uvicorn's default believes
        # 127.0.0.1, so anything on the server's host could pick its address for the brake).
        proxy_headers=bool(http.trusted_proxies),
        forwarded_allow_ips=list(http.trusted_proxies) or None,
        **tls,
    )
    access = logging.getLogger("uvicorn.access")  # after Config: it configures the loggers
    if _PRIVATE not in access.filters:
        access.addFilter(_PRIVATE)
    return config


class Server(uvicorn.Server):
    """uvicorn that ends the API's streams when it is told to stop (SIGTERM, SIGINT)."""

    def __init__(self, config: uvicorn.Config, api: FastAPI) -> None:
        super().__init__(config)
        self.streams: Streams = api.state.streams
        self.signals: list[int] = []  # the signals that stopped it

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn's, but the signal is not raised again once it has stopped: the caller
        still has the bus, the jobs and the database to close, then exits 0."""
        with super().capture_signals():
            yield
            self.signals = list(self._captured_signals)
            self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # no new connection, then the open streams end
            server.close()
        self.streams.end_all()
        await super().shutdown(sockets)
