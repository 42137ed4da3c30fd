"""Server-Sent Events from the live hub.

A stream ends by itself when the credential that opened it ends (revoked, rotated, logged out,
expired: re-checked every ``RECHECK_S``) and when the server shuts down (``Streams.end_all``,
called as uvicorn begins to shut down: it waits for open responses, so a stream that never ends
would keep the process alive).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from server.api.guard import credential
from server.live import END, Hub
from server.store import Store

log = logging.getLogger(__name__)
KEEP_ALIVE_S = 15
RECHECK_S = 2.0  # how often a stream re-checks its credential

LiveItem = dict[str, Any]  # a hub item: the JSON of a passage, status, alert or sighting


class Streams:
    """The open streams of one API: ended together when the server shuts down."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.closing = False

    def end_all(self) -> None:
        """Every open stream ends now; a stream opened after this ends at once."""
        self.closing = True
        self.hub.end_all()


def _data(item: LiveItem) -> str:
    return f"data: {json.dumps(item, default=str)}\n\n"


def credential_check(request: Request) -> Callable[[], bool]:
    """Is the request's credential (token or session) still good? Blocking (a DB read)."""
    cred = credential(request.scope)
    store: Store = request.app.state.server.store

    def check() -> bool:
        try:
            if cred.token:
                return store.user_by_token(cred.token) is not None
            if cred.session:
                return store.user_by_session(cred.session) is not None
        except SQLAlchemyError:  # the database is away: the health item says so; ask again
            log.warning("stream: cannot re-check the credential", exc_info=True)
            return True
        return False

    return check


def sse(
    request: Request,
    hub: Hub,
    topic: str | None,
    view: Callable[[LiveItem], LiveItem | None],
    keep_alive_s: float = KEEP_ALIVE_S,
    ping: LiveItem | None = None,
    tick: Callable[[], LiveItem] | None = None,
    tick_every_s: float = 5.0,
    recheck_s: float = RECHECK_S,
    view_blocks: bool = False,
) -> StreamingResponse:
    """Stream the hub's items of ``topic`` (None: all) as ``view`` shows them (None: skip).
    Every ``keep_alive_s`` without an item: a comment, or ``ping`` as data (which a page's
    EventSource sees, so it can tell a quiet stream from a dead one). ``tick`` (blocking, run in
    a thread) is sent on opening and every ``tick_every_s``. When the credential has ended the
    stream's last item is ``{"topic": "ended", "reason": "credential"}``. ``view_blocks``: the
    view reads the database, so it runs in a thread (the event loop serves the other streams)."""
    alive = ": keep-alive\n\n" if ping is None else _data(ping)
    still_valid = credential_check(request)
    streams: Streams | None = getattr(request.app.state, "streams", None)

    def closing() -> bool:
        return streams is not None and streams.closing

    async def gen() -> AsyncIterator[str]:
        key, q = hub.subscribe(topic)
        loop = asyncio.get_running_loop()
        try:
            yield ": connected\n\n"
            if closing():
                return
            if tick is not None:
                yield _data(await run_in_threadpool(tick))
            now = loop.time()
            next_check, next_tick, last_sent = now + recheck_s, now + tick_every_s, now
            while not closing():
                wake = min(next_check, last_sent + keep_alive_s)
                if tick is not None:
                    wake = min(wake, next_tick)
                try:
                    item = await asyncio.wait_for(q.get(), timeout=max(0.0, wake - loop.time()))
                except TimeoutError:
                    item = None
                if item is END or closing():
                    return
                now = loop.time()
                if now >= next_check:
                    next_check = now + recheck_s
                    if not await run_in_threadpool(still_valid):
                        yield _data({"topic": "ended", "reason": "credential"})
                        return
                shown = None
                if item is not None:
                    shown = await run_in_threadpool(view, item) if view_blocks else view(item)
                if shown is not None:
                    yield _data(shown)
                    last_sent = now
                if tick is not None and now >= next_tick:
                    next_tick = now + tick_every_s
                    yield _data(await run_in_threadpool(tick))
                    last_sent = now
                if now - last_sent >= keep_alive_s:
                    yield alive
                    last_sent = now
        finally:
            hub.unsubscribe(key)

    return StreamingResponse(
        gen(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
