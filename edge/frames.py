"""A camera's bounded queue of frames waiting for the frame loop."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class FrameQueue(Generic[T]):
    """At most ``size`` frames, oldest first. ``put`` on a full queue drops the oldest and counts
    it in ``dropped`` (a live camera: the newest frames matter), or with ``block`` waits for
    room (lossless: every frame is processed). Thread-safe; ``close`` wakes every waiter, and so
    does a ``notify_all`` on ``cond`` (its owner's stop) after which ``done()`` says so."""

    def __init__(self, size: int = 2) -> None:
        if size < 1:
            raise ValueError(f"a frame queue holds at least one frame, not {size}")
        self.size = size
        self.dropped = 0
        self.cond = threading.Condition()
        self.on_put: Callable[[], object] | None = None  # called after each put (a wake-up)
        self._items: deque[T] = deque()
        self._closed = False

    def __len__(self) -> int:
        with self.cond:
            return len(self._items)

    def put(self, item: T, block: bool = False, done: Callable[[], bool] = bool) -> bool:
        """Queue ``item``; False if the queue was closed (or ``done()``) while a blocking put
        waited for room (the item is not queued)."""
        with self.cond:
            if block:
                while len(self._items) >= self.size and not self._closed and not done():
                    self.cond.wait(0.5)
                if len(self._items) >= self.size:
                    return False
            if self._closed:
                return False
            while len(self._items) >= self.size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.cond.notify_all()
        if self.on_put is not None:
            self.on_put()
        return True

    def get(self, timeout_s: float = 0.0, done: Callable[[], bool] = bool) -> T | None:
        """The oldest frame, waiting up to ``timeout_s`` for one (or until ``done()``); None if
        none came."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while not self._items and not self._closed and not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            if not self._items:
                return None
            item = self._items.popleft()
            self.cond.notify_all()
            return item

    def close(self) -> None:
        """No more puts; waiting puts and gets return."""
        with self.cond:
            self._closed = True
            self.cond.notify_all()
