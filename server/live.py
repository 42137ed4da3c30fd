"""In-process fan-out of live items (passages, sightings, alerts) to Server-Sent Event streams.

Producers run in MQTT threads; consumers are asyncio tasks. Each subscriber has a bounded queue:
a slow browser loses its oldest items, never blocks ingest.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

END: dict[str, Any] = {"topic": "_end"}  # a subscriber's last item: its stream ends


class Hub:
    def __init__(self) -> None:
        self._subs: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Queue, str | None]] = {}
        self._lock = threading.Lock()
        self._next = 0

    def subscribe(self, topic: str | None = None, maxsize: int = 500) -> tuple[int, asyncio.Queue]:
        """A queue of items for ``topic`` (None: everything); call from the event loop."""
        q: asyncio.Queue = asyncio.Queue(maxsize=maxsize)
        with self._lock:
            self._next += 1
            self._subs[self._next] = (asyncio.get_running_loop(), q, topic)
            return self._next, q

    def unsubscribe(self, key: int) -> None:
        with self._lock:
            self._subs.pop(key, None)

    def end_all(self) -> None:
        """Tell every subscriber of now to stop (their streams end): the server shuts down."""
        with self._lock:
            subs = list(self._subs.values())
        for loop, q, _want in subs:
            loop.call_soon_threadsafe(_put_dropping_oldest, q, END)

    def publish(self, topic: str, item: dict[str, Any]) -> None:
        """Thread-safe; drops the oldest item of a full queue."""
        with self._lock:
            subs = list(self._subs.values())
        for loop, q, want in subs:
            if want is None or want == topic:
                loop.call_soon_threadsafe(_put_dropping_oldest, q, {"topic": topic, **item})


def _put_dropping_oldest(q: asyncio.Queue, item: dict[str, Any]) -> None:
    if q.full():
        q.get_nowait()
    q.put_nowait(item)
