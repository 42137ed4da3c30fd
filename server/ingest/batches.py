"""Storing what the bus received: batches of passages, dead letters, and the state health reads.

A transient database error (connection lost, lock timeout: OperationalError and kin) keeps the
batch unacknowledged and is retried with backoff. A permanent one (IntegrityError, DataError: the
message is at fault) has the batch stored one by one; the offending message is set aside in the
dead-letter table with the error and its raw payload, counted, acknowledged, and ingest goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeVar

from sqlalchemy import exc as sa_exc

from contract.events import Passage
from server.store import Ingested, Refused, SightingHit, Store, now_utc

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class IngestStats:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    malformed: int = 0
    future: int = 0
    dead_letters: int = 0
    batches: int = 0
    db_errors: int = 0
    status_errors: int = 0
    callback_errors: int = 0
    oversized: int = 0
    commit_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Pending:
    """A parsed passage waiting for its batch, with the broker's message id and raw bytes."""

    mid: int
    topic: str
    payload: bytes
    passage: Passage


@dataclass(frozen=True)
class Rejected:
    """A message refused before storing (contract, topic, clock): dead-lettered, then acked."""

    mid: int
    refused: Refused


@dataclass(frozen=True)
class IngestHealth:
    """What the subscriber is doing, as /api/health and /metrics report it."""

    state: Literal["ok", "degraded"]
    connected: bool
    last_message_at: datetime | None
    pending: int
    failing_for_s: float
    errors: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Committed:
    """What storing one batch did: what was new, and how many passages were set aside."""

    ingested: Ingested
    set_aside: int
    refused_ids: frozenset[str] = frozenset()  # event ids of the passages set aside


class Stopping(Exception):
    """The bus is stopping while a store keeps failing: leave the messages unacknowledged."""


def is_permanent(e: BaseException) -> bool:
    """True when the message itself is at fault, so every retry would fail the same way."""
    if isinstance(e, sa_exc.IntegrityError | sa_exc.DataError | OverflowError):
        return True  # OverflowError: sqlite3 cannot bind an integer over 64 bits
    # A value the driver cannot even bind (raised before the database saw it).
    return isinstance(e, sa_exc.StatementError) and not isinstance(e, sa_exc.DBAPIError)


def describe(e: BaseException) -> str:
    """The error in one line: SQLAlchemy's class, the driver's, and the database's message."""
    inner = getattr(e, "orig", None) or e
    lines = str(inner).splitlines()
    kind = type(e).__name__ if inner is e else f"{type(e).__name__} ({type(inner).__name__})"
    return f"{kind}: {lines[0] if lines else ''}"


class IngestState:
    """Counters and the subscriber's liveness, written by the MQTT and flush threads."""

    def __init__(self, stuck_after_s: float) -> None:
        self.stats = IngestStats()
        self.stuck_after_s = stuck_after_s
        self.connected = False
        self.last_message_at: datetime | None = None
        self._failing_since: float | None = None
        self._status_failed_at: float | None = None

    def failing(self) -> None:
        self.stats.db_errors += 1
        if self._failing_since is None:
            self._failing_since = time.monotonic()

    def stored(self) -> None:
        self._failing_since = None

    def status_failed(self) -> None:
        self.stats.status_errors += 1
        if self._status_failed_at is None:
            self._status_failed_at = time.monotonic()

    def status_stored(self) -> None:
        self._status_failed_at = None

    def health(self, pending: int, gates: tuple[str, ...] = ()) -> IngestHealth:
        """``gates``: a line for each gate whose passages are mostly refused (a problem too)."""
        now = time.monotonic()
        failing_for = now - self._failing_since if self._failing_since is not None else 0.0
        reasons = []
        if not self.connected:
            reasons.append("not connected to the broker")
        if failing_for > self.stuck_after_s:
            reasons.append(f"storing passages has failed for {failing_for:.0f} s")
        if self._status_failed_at is not None:
            since = now - self._status_failed_at
            reasons.append(f"storing gate status has failed since {since:.0f} s")
        reasons += gates
        s = self.stats
        return IngestHealth(
            state="degraded" if reasons else "ok",
            connected=self.connected,
            last_message_at=self.last_message_at,
            pending=pending,
            failing_for_s=round(failing_for, 1),
            errors=s.db_errors + s.status_errors + s.callback_errors,
            reasons=tuple(reasons),
        )


class Committer:
    """Stores batches and dead letters, retrying transient errors with backoff."""

    def __init__(
        self, store: Store, state: IngestState, stop: threading.Event, retry_max_s: float
    ) -> None:
        self.store, self.state, self._stop = store, state, stop
        self.retry_max_s = retry_max_s

    def retry(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` until it succeeds or fails permanently; raises Stopping when told to stop."""
        delay = 0.25
        while True:
            try:
                result = fn()
            except Exception as e:
                if is_permanent(e):
                    raise
                self.state.failing()
                log.warning("%s failed (%s); retrying in %.1f s", what, describe(e), delay)
                if self._stop.wait(delay):
                    raise Stopping from e
                delay = min(delay * 2, self.retry_max_s)
                continue
            self.state.stored()
            return result

    def set_aside(self, refused: Sequence[Refused]) -> None:
        """Store the refused messages in the dead-letter table (raises Stopping)."""
        if not refused:
            return
        try:
            self.retry("setting messages aside", lambda: self.store.add_dead_letters(refused))
        except Stopping:
            raise
        except Exception:  # cannot be stored at all: keep them in the log at least
            log.exception("could not dead-letter %d messages: %r", len(refused), refused)
        self.state.stats.dead_letters += len(refused)
        for r in refused:
            log.warning("set aside a %s from %s: %s", r.kind, r.topic, r.error)

    def commit(self, batch: Sequence[Pending]) -> Committed:
        """Store the batch; a permanent error isolates and dead-letters the offending passages."""
        try:
            ingested = self.retry(
                f"storing {len(batch)} passages",
                lambda: self.store.insert_events([b.passage for b in batch]),
            )
            return Committed(ingested, 0)
        except Stopping:
            raise
        except Exception as e:
            log.warning("the database refused a batch (%s); storing one by one", describe(e))
        new: list[Passage] = []
        sightings: list[SightingHit] = []
        refused: list[Refused] = []
        refused_ids: set[str] = set()
        for b in batch:
            try:
                one = self.retry(
                    "storing a passage", lambda b=b: self.store.insert_events([b.passage])
                )
            except Stopping:
                raise
            except Exception as e:
                refused.append(Refused(now_utc(), "passage", b.topic, describe(e), b.payload))
                refused_ids.add(b.passage.event_id)
                continue
            new += one.new
            sightings += one.sightings
        self.set_aside(refused)
        return Committed(Ingested(new, sightings), len(refused), frozenset(refused_ids))
