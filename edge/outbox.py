"""The outbox: every event is on disk before it is published, until the server acknowledges it."""

from __future__ import annotations

import contextlib
import logging
import shlex
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge.errors import OutboxCorrupt, OutboxError, OutboxFull, outbox_error_code
from edge.outbox_health import OutboxHealth

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_seq', 0);
"""


@dataclass(frozen=True)
class OutboxEvent:
    seq: int
    event_id: str
    payload: bytes


class Outbox:
    """SQLite in WAL mode with synchronous=FULL: a committed event survives a power cut."""

    def __init__(self, path: Path, max_events: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self.refused = 0
        self.health = OutboxHealth(str(path))
        self._lock = threading.Lock()
        with self._sqlite("open"):
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)

    @contextmanager
    def _sqlite(self, action: str) -> Iterator[None]:
        """Turn SQLite's errors into an OutboxError that names the file and what failed."""
        try:
            yield
        except sqlite3.Error as e:
            err = OutboxError(
                f"outbox {self.path}: {action} failed ({e}); if the disk is full, free space; "
                "if the file is corrupt, move it aside to keep its events for inspection, and "
                "start again",
                outbox_error_code(e),
            )
            self.health.failed(action, err)
            raise err from e
        self.health.succeeded(action)

    def quick_check(self) -> list[str]:
        """SQLite's quick_check: [] when the file is sound, else up to 5 problems."""
        with self._lock, self._sqlite("checking integrity"):
            found = [str(r[0]) for r in self._db.execute("PRAGMA quick_check(5)").fetchall()]
        return [] if found == ["ok"] else found

    def add(self, make_payload: Callable[[int, str], bytes]) -> OutboxEvent:
        """Allocate the next sequence number and an event id, store the payload; OutboxFull if
        the outbox holds max_events already; OutboxError if SQLite fails."""
        with self._lock, self._sqlite("adding an event"):
            depth = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            if depth >= self.max_events:
                self.refused += 1
                raise OutboxFull(
                    f"outbox {self.path} holds {depth} unacknowledged events (max "
                    f"{self.max_events}); is the server acknowledging? event refused"
                )
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0]
                seq += 1
                event_id = uuid.uuid4().hex
                payload = make_payload(seq, event_id)
                self._db.execute(
                    "INSERT INTO events (seq, event_id, payload, created) VALUES (?, ?, ?, ?)",
                    (seq, event_id, payload, time.time()),
                )
                self._db.execute("UPDATE meta SET value=? WHERE key='last_seq'", (seq,))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite rolls back by itself on some errors
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
            return OutboxEvent(seq, event_id, payload)

    def pending(self, after_seq: int = 0, limit: int = 500) -> list[OutboxEvent]:
        """Unacknowledged events with seq > after_seq, in sequence order."""
        with self._lock, self._sqlite("reading pending events"):
            rows = self._db.execute(
                "SELECT seq, event_id, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxEvent(s, e, bytes(p)) for s, e, p in rows]

    def ack(self, event_ids: list[str]) -> int:
        """Delete acknowledged events; returns how many were still here."""
        with self._lock, self._sqlite("deleting acknowledged events"):
            cur = self._db.executemany(
                "DELETE FROM events WHERE event_id = ?", [(e,) for e in event_ids]
            )
            return cur.rowcount

    def depth(self) -> int:
        """How many events wait for an acknowledgement."""
        with self._lock, self._sqlite("counting events"):
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def last_seq(self) -> int:
        """The sequence number of the last event ever added."""
        with self._lock, self._sqlite("reading the sequence number"):
            return int(
                self._db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0]
            )

    def close(self) -> None:
        with self._lock, self._sqlite("closing"):
            self._db.close()


def open_outbox(path: Path, max_events: int) -> Outbox:
    """The outbox at start: OutboxCorrupt, with the commands to set it aside and save its
    events, if the file is no database or fails the quick check."""
    box: Outbox | None = None
    try:
        box = Outbox(path, max_events)
        problems = box.quick_check()
    except OutboxError as e:
        if e.code != "corrupt":
            raise
        problems = [str(e.__cause__)]
    if not problems:
        assert box is not None
        return box
    if box is not None:  # closed first: the message lists the files as they are left
        with contextlib.suppress(OutboxError):
            box.close()
    raise OutboxCorrupt(corrupt_message(path, "; ".join(problems)))


def corrupt_message(path: Path, problem: str) -> str:
    """What an operator reads when the outbox is corrupt: the exact commands to run."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    files = [path, *(p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())]
    moves = " && ".join(
        f"mv {shlex.quote(str(f))} {shlex.quote(str(aside) + str(f)[len(str(path)) :])}"
        for f in files
    )
    source = f"--outbox {shlex.quote(str(aside))}"
    return (
        f"outbox {path} is corrupt ({problem}); the edge will not start on it. Move it aside "
        f"(a new one is made at the next start):\n  {moves}\nthen save its unsent events as "
        f"JSON lines and give them to the server:\n  gatewatch edge outbox export {source} "
        f"events.jsonl\n  gatewatch server import-events --config server.yaml events.jsonl"
    )
