"""Save an outbox's unsent passages as JSON lines, row by row, skipping what cannot be read."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from contract.events import Passage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraSpan:
    """One camera's exported passages: how many, and their lowest and highest seq."""

    camera: str
    count: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class ExportResult:
    """What an export saved (per camera, by name) and what it could not read."""

    exported: int
    unreadable: int  # rows on damaged pages, or payloads that are no valid passage
    cameras: list[CameraSpan]

    def spans(self) -> str:
        """E.g. "north-in seq 4-8, north-out seq 1-3" ("" when nothing was exported)."""
        return ", ".join(f"{c.camera} seq {c.first_seq}-{c.last_seq}" for c in self.cameras)


def _order_column(db: sqlite3.Connection) -> str:
    """The column that orders the events: ``pos`` (schema 2, several cameras), or ``seq`` in a
    schema 1 file (one camera; an outbox moved aside before its edge was upgraded)."""
    try:
        columns = {str(r[1]) for r in db.execute("PRAGMA table_info(events)")}
    except sqlite3.Error:
        columns = set()
    return "seq" if columns and "pos" not in columns else "pos"


def _position_range(db: sqlite3.Connection, col: str) -> tuple[int, int]:
    """The positions to look at: from the lowest still stored (or 1) to the last one ever
    allocated, by whichever record can still be read."""
    last = 0
    for sql in (f"SELECT value FROM meta WHERE key='last_{col}'", f"SELECT max({col}) FROM events"):
        try:
            last = max(last, int(db.execute(sql).fetchone()[0] or 0))
        except (sqlite3.Error, TypeError):
            continue
    try:
        first = int(db.execute(f"SELECT min({col}) FROM events").fetchone()[0] or 1)
    except sqlite3.Error:
        first = 1
    return first, last


def _spans(seqs: dict[str, list[int]]) -> list[CameraSpan]:
    return [CameraSpan(c, len(s), min(s), max(s)) for c, s in sorted(seqs.items())]


def export_outbox(path: Path, out: TextIO) -> ExportResult:
    """Write each readable unsent passage of the outbox at ``path`` to ``out``, one JSON line,
    in outbox order. Each row is read on its own, so a damaged page loses only its rows."""
    if not path.is_file():
        raise FileNotFoundError(f"no outbox at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        col = _order_column(db)
        first, last = _position_range(db, col)
        exported = unreadable = 0
        seqs: dict[str, list[int]] = {}
        for pos in range(first, last + 1):
            try:
                row = db.execute(f"SELECT payload FROM events WHERE {col} = ?", (pos,)).fetchone()
            except sqlite3.Error as e:
                unreadable += 1
                log.warning("outbox %s: event at %d cannot be read (%s)", path, pos, e)
                continue
            if row is None:  # acknowledged and deleted
                continue
            try:
                passage = Passage.model_validate_json(bytes(row[0]))
            except ValidationError as e:
                unreadable += 1
                log.warning("outbox %s: event at %d is no valid passage (%s)", path, pos,
                            e.errors()[0]["msg"])  # fmt: skip
                continue
            out.write(passage.model_dump_json() + "\n")
            exported += 1
            seqs.setdefault(passage.camera, []).append(passage.seq)
    finally:
        db.close()
    return ExportResult(exported, unreadable, _spans(seqs))
