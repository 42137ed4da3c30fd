"""``gatewatch server import-events FILE``: passages saved from an edge's outbox (JSON lines, as
``gatewatch edge outbox export`` writes them), stored as ingest stores them: by event id, once."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from contract.events import Passage
from server.store import Store

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class BadLine:
    """A line of the file that is no passage of this site, and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """How many passages were read, newly stored, already stored; the lines refused."""

    read: int
    stored: int
    duplicates: int
    refused: list[BadLine]


def _passages(path: Path, site: str, refused: list[BadLine]) -> Iterator[Passage]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                p = Passage.model_validate_json(line)
            except ValidationError as e:
                err = e.errors()[0]
                where = ".".join(str(x) for x in err["loc"]) or "line"
                refused.append(BadLine(n, f"{where}: {err['msg']}"))
                continue
            if p.site != site:
                refused.append(BadLine(n, f"site {p.site!r}, this server keeps {site!r}"))
                continue
            yield p


def import_events(store: Store, path: Path, site: str) -> ImportResult:
    """Store every valid passage of ``site`` in ``path`` (batches, idempotent by event id)."""
    refused: list[BadLine] = []
    read = stored = 0
    batch: list[Passage] = []
    for p in _passages(path, site, refused):
        batch.append(p)
        if len(batch) >= BATCH:
            stored += len(store.insert_events(batch).new)
            read, batch = read + len(batch), []
    if batch:
        stored += len(store.insert_events(batch).new)
        read += len(batch)
    return ImportResult(read, stored, read - stored, refused)


def cmd_import_events(args: argparse.Namespace) -> int:
    from server.config import load_server_config
    from server.db import make_engine, migrate

    cfg = load_server_config(args.config)
    if not args.file.is_file():
        print(f"no such file: {args.file}")
        return 2
    engine = make_engine(cfg.db_url())
    try:
        migrate(engine)
        result = import_events(Store(engine), args.file, cfg.site)
    finally:
        engine.dispose()
    for bad in result.refused:
        print(f"{args.file}:{bad.line}: refused: {bad.reason}")
    print(f"{args.file}: {result.read} passages read, {result.stored} stored, "
          f"{result.duplicates} already stored, {len(result.refused)} lines refused")  # fmt: skip
    return 1 if result.refused else 0


def register(server_tools: argparse._SubParsersAction) -> None:
    p = server_tools.add_parser(
        "import-events", help="store passages exported from an edge's outbox (JSON lines)"
    )
    p.add_argument("--config", type=Path, required=True, help="server YAML (ServerConfig)")
    p.add_argument("file", type=Path, help="JSON lines, one passage each")
    p.set_defaults(func=cmd_import_events)
