"""uvicorn for the API: open streams end as the server begins to shut down.

uvicorn waits for every open response before it exits, and a Server-Sent Events stream never
finishes by itself: without this a wall left open keeps a stopped server alive (systemd's stop
would hang). The graceful timeout is the second line: whatever still runs after it is cancelled.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from server.api.stream import Streams

GRACEFUL_S = 3


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
