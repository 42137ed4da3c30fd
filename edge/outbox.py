"""The outbox: every event is on disk before it is published, until the server acknowledges it."""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge.errors import OutboxCorrupt, OutboxError, OutboxFull, outbox_error_code
from edge.outbox_health import OutboxHealth

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
# pos orders the outbox across cameras (publishing order, never reused: meta's last_pos);
# seq is the camera's own wire sequence number (meta's last_seq/<camera>).
EVENTS_TABLE = """
CREATE TABLE events (
    pos INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    camera TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    created REAL NOT NULL
)"""
META_TABLE = "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"


@dataclass(frozen=True)
class OutboxEvent:
    """A stored event: ``pos`` its place in the outbox, ``seq`` its camera's sequence number."""

    pos: int
    seq: int
    camera: str
    event_id: str
    payload: bytes


def _seq_key(camera: str) -> str:
    return f"last_seq/{camera}"


class Outbox:
    """SQLite in WAL mode with synchronous=FULL: a committed event survives a power cut. One
    outbox serves the ``cameras`` of a gate process; each camera numbers its events 1, 2, 3..."""

    def __init__(self, path: Path, max_events: int, cameras: Sequence[str]) -> None:
        if not cameras:
            raise ValueError(f"outbox {path}: name at least one camera")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self.cameras = tuple(cameras)
        self.refused = 0
        self.health = OutboxHealth(str(path))
        self._lock = threading.Lock()
        with self._sqlite("open"):
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._transaction():
                self._prepare()

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

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLite rolls back by itself on some errors
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def _meta(self, key: str) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def _prepare(self) -> None:
        """Create the tables, or bring an older file to this schema, and give each camera a
        counter (a camera seen before keeps its own)."""
        columns = {str(r[1]) for r in self._db.execute("PRAGMA table_info(events)")}
        if not columns:
            self._db.execute(EVENTS_TABLE)
            self._db.execute(META_TABLE)
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", SCHEMA_VERSION), ("last_pos", 0)],
            )
        elif "pos" not in columns:
            self._migrate_v1()
        version = self._meta("schema_version")
        if version != SCHEMA_VERSION:
            raise OutboxError(
                f"outbox {self.path} has schema version {version}; this gatewatch reads version "
                f"{SCHEMA_VERSION}. Run the gatewatch that wrote it until the outbox is empty, "
                "or move the file aside and save its events with `gatewatch edge outbox export`"
            )
        self._db.executemany(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, 0)",
            [(_seq_key(c),) for c in self.cameras],
        )

    def _migrate_v1(self) -> None:
        """Schema 1 (one camera per outbox, seq as the order): its rows keep their seq, in the
        same order (pos = seq), and belong with its counter to the camera its passages name (the
        first camera named when it holds none: a reused file must not give one camera another's
        numbers)."""
        db, camera = self._db, self._v1_owner()
        highest = int(db.execute("SELECT max(seq) FROM events").fetchone()[0] or 0)
        last = max(self._meta("last_seq") or 0, highest)
        db.execute("ALTER TABLE events RENAME TO events_v1")
        db.execute(EVENTS_TABLE)
        moved = db.execute(
            "INSERT INTO events (pos, seq, camera, event_id, payload, created) "
            "SELECT seq, seq, ?, event_id, payload, created FROM events_v1 ORDER BY seq",
            (camera,),
        ).rowcount
        db.execute("DROP TABLE events_v1")
        db.execute("DELETE FROM meta WHERE key='last_seq'")
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("schema_version", SCHEMA_VERSION), ("last_pos", last), (_seq_key(camera), last)],
        )
        log.warning("outbox %s: brought to schema %d; its %d unsent events and its sequence "
                    "number %d belong to camera %s", self.path, SCHEMA_VERSION, moved, last,
                    camera)  # fmt: skip

    def _v1_owner(self) -> str:
        """The camera a schema-1 outbox's passages name (its newest row), else the first one
        named; a payload that cannot be read leaves it to the first camera."""
        row = self._db.execute("SELECT payload FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        try:
            named = json.loads(row[0])["camera"] if row else None
        except (ValueError, KeyError, TypeError):
            named = None
        return named if isinstance(named, str) and named else self.cameras[0]

    def _known(self, camera: str) -> str:
        """``camera`` if this outbox serves it, else ValueError (a caller's mistake)."""
        if camera not in self.cameras:
            raise ValueError(
                f"outbox {self.path}: unknown camera {camera!r}; it serves "
                f"{', '.join(map(repr, self.cameras))} (name every camera when opening it)"
            )
        return camera

    def quick_check(self) -> list[str]:
        """SQLite's quick_check: [] when the file is sound, else up to 5 problems."""
        with self._lock, self._sqlite("checking integrity"):
            found = [str(r[0]) for r in self._db.execute("PRAGMA quick_check(5)").fetchall()]
        return [] if found == ["ok"] else found

    def add(self, make_payload: Callable[[int, str], bytes], camera: str) -> OutboxEvent:
        """Allocate ``camera``'s next sequence number and an event id, store the payload made
        from them; OutboxFull if the outbox holds max_events already; OutboxError if SQLite
        fails; ValueError for a camera the outbox does not serve."""
        key = _seq_key(self._known(camera))
        with self._lock, self._sqlite("adding an event"):
            depth = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            if depth >= self.max_events:
                self.refused += 1
                raise OutboxFull(
                    f"outbox {self.path} holds {depth} unacknowledged events (max "
                    f"{self.max_events}); is the server acknowledging? event refused"
                )
            with self._transaction():
                pos = (self._meta("last_pos") or 0) + 1
                seq = (self._meta(key) or 0) + 1
                event_id = uuid.uuid4().hex
                payload = make_payload(seq, event_id)
                self._db.execute(
                    "INSERT INTO events (pos, seq, camera, event_id, payload, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (pos, seq, camera, event_id, payload, time.time()),
                )
                self._db.executemany(
                    "UPDATE meta SET value=? WHERE key=?", [(pos, "last_pos"), (seq, key)]
                )
            return OutboxEvent(pos, seq, camera, event_id, payload)

    def pending(self, after_pos: int = 0, limit: int = 500) -> list[OutboxEvent]:
        """Unacknowledged events with pos > after_pos, in outbox order (all cameras)."""
        with self._lock, self._sqlite("reading pending events"):
            rows = self._db.execute(
                "SELECT pos, seq, camera, event_id, payload FROM events WHERE pos > ? "
                "ORDER BY pos LIMIT ?",
                (after_pos, limit),
            ).fetchall()
        return [OutboxEvent(p, s, c, e, bytes(b)) for p, s, c, e, b in rows]

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

    def last_seq(self, camera: str) -> int:
        """The sequence number of ``camera``'s last event ever added (0: none yet)."""
        key = _seq_key(self._known(camera))
        with self._lock, self._sqlite("reading the sequence number"):
            return self._meta(key) or 0

    def close(self) -> None:
        with self._lock, self._sqlite("closing"):
            self._db.close()


def open_outbox(path: Path, max_events: int, cameras: Sequence[str]) -> Outbox:
    """The outbox at start (an older file brought to this schema): OutboxCorrupt, with the
    commands to set it aside and save its events, if the file is no database or fails the quick
    check."""
    box: Outbox | None = None
    try:
        box = Outbox(path, max_events, cameras)
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
