"""A unit of the edge that runs in its own thread, started and stopped by the app."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class Worker(ABC):
    """A daemon thread running ``_run`` until ``stop``; ``_run`` watches ``_stop``."""

    def __init__(self, thread_name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    @abstractmethod
    def _run(self) -> None: ...
