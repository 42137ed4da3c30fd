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
class ExportResult:
    """What an export saved and what it could not read."""

    exported: int
    unreadable: int  # rows on damaged pages, or payloads that are no valid passage
    first_seq: int | None
    last_seq: int | None


def _sequence_range(db: sqlite3.Connection) -> tuple[int, int]:
    """The sequence numbers to look at: from the lowest still stored (or 1) to the last one
    ever allocated, by whichever record can still be read."""
    last = 0
    for sql in ("SELECT value FROM meta WHERE key='last_seq'", "SELECT max(seq) FROM events"):
        try:
            last = max(last, int(db.execute(sql).fetchone()[0] or 0))
        except (sqlite3.Error, TypeError):
            continue
    try:
        first = int(db.execute("SELECT min(seq) FROM events").fetchone()[0] or 1)
    except sqlite3.Error:
        first = 1
    return first, last


def export_outbox(path: Path, out: TextIO) -> ExportResult:
    """Write each readable unsent passage of the outbox at ``path`` to ``out``, one JSON line,
    in sequence order. Each row is read on its own, so a damaged page loses only its rows."""
    if not path.is_file():
        raise FileNotFoundError(f"no outbox at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        first, last = _sequence_range(db)
        exported = unreadable = 0
        seqs: list[int] = []
        for seq in range(first, last + 1):
            try:
                row = db.execute("SELECT payload FROM events WHERE seq = ?", (seq,)).fetchone()
            except sqlite3.Error as e:
                unreadable += 1
                log.warning("outbox %s: event #%d cannot be read (%s)", path, seq, e)
                continue
            if row is None:  # acknowledged and deleted
                continue
            try:
                passage = Passage.model_validate_json(bytes(row[0]))
            except ValidationError as e:
                unreadable += 1
                log.warning("outbox %s: event #%d is no valid passage (%s)", path, seq,
                            e.errors()[0]["msg"])  # fmt: skip
                continue
            out.write(passage.model_dump_json() + "\n")
            exported += 1
            seqs.append(seq)
    finally:
        db.close()
    return ExportResult(exported, unreadable, min(seqs, default=None), max(seqs, default=None))
