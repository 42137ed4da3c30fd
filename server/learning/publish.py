"""One gallery version per burst of changes: learned templates arrive in bursts (a queue of
confirmations, a morning's learn captures), and every version makes every edge fetch a file."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from contract.gallery import GalleryManifest

log = logging.getLogger(__name__)


class DebouncedGallery:
    """``request()`` asks for a new version; it is built once the changes have been quiet for
    ``quiet_s``, or ``max_wait_s`` after the first one, whichever comes first."""

    def __init__(
        self, publish: Callable[[], GalleryManifest], quiet_s: float, max_wait_s: float
    ) -> None:
        self._publish = publish
        self.quiet_s, self.max_wait_s = quiet_s, max_wait_s
        self._cond = threading.Condition()
        self._first: float | None = None
        self._last = 0.0
        self._stop = False
        self._build = threading.Lock()  # one build at a time (now() and the thread)
        self.last: GalleryManifest | None = None
        self._thread = threading.Thread(target=self._run, name="gallery-debounce", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def request(self) -> None:
        with self._cond:
            now = time.monotonic()
            self._first = self._first if self._first is not None else now
            self._last = now
            self._cond.notify()

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._first is not None

    def now(self) -> GalleryManifest:
        """Build and announce a version at once (what was pending goes with it)."""
        with self._cond:
            self._first = None
        return self._run_publish()

    def _due_in(self) -> float | None:
        if self._first is None:
            return None
        now = time.monotonic()
        return max(0.0, min(self._last + self.quiet_s, self._first + self.max_wait_s) - now)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (wait := self._due_in()) != 0.0:
                    self._cond.wait(wait)
                pending, self._first = self._first is not None, None
                if self._stop and not pending:
                    return
            try:
                self._run_publish()
            except Exception:  # the registry changed but no version went out: try again soon
                log.exception("publishing the gallery after learning failed; retrying")
                with self._cond:
                    self._first = self._first or time.monotonic()
                    self._last = time.monotonic() + 5
            with self._cond:
                if self._stop:  # what was pending went out (or failed) on the way down
                    return

    def _run_publish(self) -> GalleryManifest:
        with self._build:
            m = self._publish()
            self.last = m
            log.info("gallery v%d published after learning (%d templates)", m.version, m.templates)
            return m
