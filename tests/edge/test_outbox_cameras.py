"""One outbox for a gate's cameras: a gapless sequence per camera, one order for publishing, and
an outbox of the one-camera schema (1) brought to schema 2 when the edge opens it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from contract.events import Passage
from contract.mqtt import MqttConfig
from contract.topics import Topics
from edge.errors import OutboxError
from edge.link import EdgeLink
from edge.outbox import Outbox, open_outbox
from edge.outbox_export import export_outbox
from scripts.standins import passage, wait_until

# Schema 1, as edge/outbox.py created it before one outbox served several cameras.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_seq', 0);
"""


def _payload(site: str, camera: str) -> Callable[[int, str], bytes]:
    return lambda seq, eid: (
        passage(site, seq).model_copy(update={"event_id": eid, "camera": camera}).to_json()
    )


def _schema_1_outbox(path: Path, site: str, camera: str, n: int, acked: int) -> list[str]:
    """An outbox as a one-camera edge left it: ``n`` events added, the first ``acked``
    acknowledged (deleted); returns the event ids still in it."""
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    ids = []
    for seq in range(1, n + 1):
        eid = f"{seq:032x}"
        db.execute(
            "INSERT INTO events (seq, event_id, payload, created) VALUES (?, ?, ?, ?)",
            (seq, eid, _payload(site, camera)(seq, eid), time.time()),
        )
        db.execute("UPDATE meta SET value=? WHERE key='last_seq'", (seq,))
        ids.append(eid)
    db.execute("DELETE FROM events WHERE seq <= ?", (acked,))
    db.commit()
    db.close()
    return ids[acked:]


def _meta(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())


def test_two_cameras_number_their_events_from_one_in_one_outbox_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, 100, ["in", "out"])
    made = [box.add(_payload("s1", cam), cam) for cam in ["in", "out", "in", "in", "out", "in"]]

    assert [e.pos for e in made] == [1, 2, 3, 4, 5, 6]
    assert [(e.camera, e.seq) for e in made] == [
        ("in", 1), ("out", 1), ("in", 2), ("in", 3), ("out", 2), ("in", 4)
    ]  # fmt: skip
    wire = [Passage.model_validate_json(e.payload) for e in made]
    assert [(p.camera, p.seq, p.event_id) for p in wire] == [
        (e.camera, e.seq, e.event_id) for e in made
    ]
    assert box.pending() == made
    assert box.pending(after_pos=3, limit=2) == made[3:5]
    assert (box.last_seq("in"), box.last_seq("out")) == (4, 2)
    box.ack([e.event_id for e in made])
    after_empty = box.add(_payload("s1", "out"), "out")
    assert (after_empty.pos, after_empty.seq) == (7, 3), "an emptied outbox reuses no position"
    box.close()

    again = Outbox(path, 100, ["in", "out", "side"])  # a restart, with a camera added
    assert [again.last_seq(c) for c in ("in", "out", "side")] == [4, 3, 0]
    side, inside = again.add(_payload("s1", "side"), "side"), again.add(_payload("s1", "in"), "in")
    assert [(e.pos, e.camera, e.seq) for e in again.pending()] == [
        (7, "out", 3), (8, "side", 1), (9, "in", 5)
    ]  # fmt: skip
    assert (side.seq, inside.seq) == (1, 5)
    with pytest.raises(ValueError, match=r"unknown camera 'gate-2'.*'in', 'out', 'side'"):
        again.add(_payload("s1", "gate-2"), "gate-2")
    with pytest.raises(ValueError, match="unknown camera 'gate-2'"):
        again.last_seq("gate-2")
    assert again.depth() == 3 and again.last_seq("in") == 5, "a refused camera changes nothing"
    again.close()
    with pytest.raises(ValueError, match="name at least one camera"):
        Outbox(path, 100, [])


def test_a_schema_1_outbox_is_migrated_at_open_and_its_events_go_out_first_in_order(
    tmp_path: Path, broker, store_factory
) -> None:
    path, site = tmp_path / "outbox.sqlite", "migrated"
    waiting = _schema_1_outbox(path, site, "north-in", n=7, acked=2)
    box = open_outbox(path, 100, ["north-in", "north-out"])

    assert [(e.pos, e.seq, e.camera, e.event_id) for e in box.pending()] == [
        (s, s, "north-in", eid) for s, eid in zip(range(3, 8), waiting, strict=True)
    ]
    assert (box.last_seq("north-in"), box.last_seq("north-out")) == (7, 0)
    new = [box.add(_payload(site, c), c) for c in ("north-out", "north-in")]
    assert [(e.pos, e.camera, e.seq) for e in new] == [(8, "north-out", 1), (9, "north-in", 8)]
    meta = _meta(path)
    assert meta["schema_version"] == 2 and "last_seq" not in meta
    assert (meta["last_pos"], meta["last_seq/north-in"], meta["last_seq/north-out"]) == (9, 8, 1)

    store = store_factory(site)
    published: list[tuple[str, int]] = []
    cfg = MqttConfig(port=broker.port, client_id="edge-migrated")
    link = EdgeLink(cfg, Topics(site), "g1", "north-in", box, lambda m: None, lambda s, o: None,
                    on_published=lambda camera, seq: published.append((camera, seq)))  # fmt: skip
    link.start()
    try:
        wait_until(lambda: box.depth() == 0, 60, "every event published and acknowledged")
    finally:
        link.stop()
        box.close()
    expected = [*(("north-in", s) for s in range(3, 8)), ("north-out", 1), ("north-in", 8)]
    assert published == expected
    first_seen: list[tuple[str, int]] = []
    for p in store.arrivals:
        if (p.camera, p.seq) not in first_seen:
            first_seen.append((p.camera, p.seq))
    assert first_seen == expected, "the broker saw the outbox order"

    reopened = open_outbox(path, 100, ["north-in", "north-out"])  # schema 2 already: as it is
    assert (reopened.last_seq("north-in"), reopened.last_seq("north-out")) == (8, 1)
    reopened.close()


def test_a_migration_that_fails_leaves_the_schema_1_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    waiting = _schema_1_outbox(path, "s1", "c1", n=4, acked=1)
    with sqlite3.connect(path) as db:  # in the migration's way: renaming events fails
        db.execute("CREATE TABLE events_v1 (x)")

    with pytest.raises(OutboxError, match="events_v1"):
        Outbox(path, 10, ["c1"])

    with sqlite3.connect(path) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(events)")]
        assert columns == ["seq", "event_id", "payload", "created"]
        assert [r[0] for r in db.execute("SELECT event_id FROM events ORDER BY seq")] == waiting
        db.execute("DROP TABLE events_v1")
    assert _meta(path) == {"last_seq": 4}
    box = Outbox(path, 10, ["c1"])
    assert [e.seq for e in box.pending()] == [2, 3, 4] and box.last_seq("c1") == 4
    box.close()


def test_export_reads_a_schema_1_outbox_and_names_each_cameras_range(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite"  # moved aside before its edge was upgraded: never migrated
    _schema_1_outbox(old, "s1", "c1", n=6, acked=2)
    with (tmp_path / "old.jsonl").open("w") as out:
        result = export_outbox(old, out)
    lines = (tmp_path / "old.jsonl").read_text().splitlines()
    assert [Passage.model_validate_json(line).seq for line in lines] == [3, 4, 5, 6]
    assert result.exported == 4 and result.spans() == "c1 seq 3-6"

    new = tmp_path / "new.sqlite"
    box = Outbox(new, 100, ["b", "a"])
    made = [box.add(_payload("s1", cam), cam) for cam in ["b", "a", "a", "b", "b"]]
    box.close()
    with (tmp_path / "new.jsonl").open("w") as out:
        result = export_outbox(new, out)
    lines = (tmp_path / "new.jsonl").read_text().splitlines()
    assert [Passage.model_validate_json(line).event_id for line in lines] == [
        e.event_id for e in made
    ], "outbox order"
    assert result.spans() == "a seq 1-2, b seq 1-3"
    assert [(c.camera, c.count) for c in result.cameras] == [("a", 2), ("b", 3)]
