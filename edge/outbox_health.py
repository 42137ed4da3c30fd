"""Whether the outbox file works: the failing operations, since when, a log line a minute."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from contract.events import OutboxErrorCode
from edge.errors import OutboxError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failing:
    """One outbox operation that fails: its error code and since when."""

    code: OutboxErrorCode
    since: datetime


class OutboxHealth:
    """Records each outbox operation's failure and recovery; logs the trouble at most once per
    ``log_every_s`` (with how many failures the silence hid), and once when it is over."""

    def __init__(self, path: str, log_every_s: float = 60.0) -> None:
        self.path = path
        self.log_every_s = log_every_s
        self.failures = 0
        self._failing: dict[str, Failing] = {}
        self._last_log = -float("inf")
        self._unlogged = 0
        self._lock = threading.Lock()

    def failed(self, action: str, err: OutboxError) -> None:
        """``action`` raised ``err``."""
        with self._lock:
            self.failures += 1
            if action not in self._failing:
                self._failing[action] = Failing(err.code, datetime.now(UTC))
            now = time.monotonic()
            if now - self._last_log < self.log_every_s:
                self._unlogged += 1
                return
            hidden, self._unlogged, self._last_log = self._unlogged, 0, now
        log.error("%s [%s]%s", err, err.code,
                  f" ({hidden} more failures since the last line)" if hidden else "")  # fmt: skip

    def succeeded(self, action: str) -> None:
        """``action`` worked: it is no longer failing."""
        if action not in self._failing:  # the common case, without the lock
            return
        with self._lock:
            was = self._failing.pop(action, None)
            if was is not None and not self._failing:
                self._last_log = -float("inf")
        if was is not None:
            log.warning("outbox %s: %s works again (failing since %s, %s)", self.path, action,
                        was.since.isoformat(timespec="seconds"), was.code)  # fmt: skip

    def trouble(self) -> Failing | None:
        """The oldest failure still going on, or None when every operation works."""
        with self._lock:
            return min(self._failing.values(), key=lambda f: f.since, default=None)
