"""Server-Sent Events from the live hub."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from server.live import Hub

KEEP_ALIVE_S = 15

LiveItem = dict[str, Any]  # a hub item: the JSON of a passage, status, alert or sighting


def sse(
    hub: Hub,
    topic: str | None,
    view: Callable[[LiveItem], LiveItem | None],
    keep_alive_s: float = KEEP_ALIVE_S,
    ping: LiveItem | None = None,
) -> StreamingResponse:
    """Stream the hub's items of ``topic`` (None: all) as ``view`` shows them (None: skip).
    Every ``keep_alive_s`` without an item: a comment, or ``ping`` as data (which a page's
    EventSource sees, so it can tell a quiet stream from a dead one)."""
    alive = ": keep-alive\n\n" if ping is None else f"data: {json.dumps(ping)}\n\n"

    async def gen() -> AsyncIterator[str]:
        key, q = hub.subscribe(topic)
        try:
            yield ": connected\n\n"
            while True:
                try:
                    item = await asyncio.wait_for(q.get(), timeout=keep_alive_s)
                except TimeoutError:
                    yield alive
                    continue
                shown = view(item)
                if shown is not None:
                    yield f"data: {json.dumps(shown, default=str)}\n\n"
        finally:
            hub.unsubscribe(key)

    return StreamingResponse(
        gen(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
