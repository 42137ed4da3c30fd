"""``gatewatch server import-events``: passages saved from an edge's outbox, stored once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from contract.events import Passage
from edge.outbox import Outbox
from edge.outbox_export import export_outbox
from tests.server.conftest import passage

ROOT = Path(__file__).resolve().parents[2]


def _import(cfg: Path, file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gatewatch", "server", "import-events", "--config", str(cfg),
         str(file)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_exported_outbox_events_are_imported_once_however_often(
    tmp_path: Path, db_url: str
) -> None:
    site = "imp"
    box = Outbox(tmp_path / "outbox.sqlite", max_events=100, cameras=["c1", "c2"])
    for i in range(12):  # a gate process with two cameras: one outbox, a sequence per camera
        cam = "c2" if i % 3 == 1 else "c1"
        box.add(lambda seq, eid, i=i, cam=cam: passage(site, seq, identity=f"p{i % 4}").model_copy(
            update={"event_id": eid, "camera": cam}).to_json(), cam)  # fmt: skip
    box.close()
    exported = tmp_path / "events.jsonl"
    with exported.open("w") as out:
        result = export_outbox(tmp_path / "outbox.sqlite", out)
    assert result.exported == 12 and result.spans() == "c1 seq 1-8, c2 seq 1-4"
    cfg = tmp_path / "server.yaml"
    cfg.write_text(yaml.safe_dump({"site": site, "data_dir": str(tmp_path / "data"),
                                   "database_url": db_url, "mqtt": {"port": 1}}))  # fmt: skip

    first = _import(cfg, exported)
    second = _import(cfg, exported)

    assert first.returncode == 0, first.stderr[-2000:]
    assert "12 passages read, 12 stored, 0 already stored, 0 lines refused" in first.stdout
    assert second.returncode == 0, second.stderr[-2000:]
    assert "12 passages read, 0 stored, 12 already stored" in second.stdout
    from server.db import make_engine
    from server.store import Store

    engine = make_engine(db_url)
    try:
        store = Store(engine)
        assert store.count_events() == 12
        stored = store.events(datetime.now(UTC) - timedelta(days=1), limit=100)
        sent = [Passage.model_validate_json(line) for line in exported.read_text().splitlines()]
        assert {e.event_id for e in stored} == {p.event_id for p in sent}
        assert {(e.camera, e.seq) for e in stored} == {(p.camera, p.seq) for p in sent}
    finally:
        engine.dispose()


def test_lines_that_are_no_passage_of_this_site_are_refused_by_number(
    tmp_path: Path, db_url: str
) -> None:
    good = passage("imp", 1)
    lines = [good.model_dump_json(), '{"event_id": "x"}', passage("other", 2).model_dump_json(),
             "not json", ""]  # fmt: skip
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "server.yaml"
    cfg.write_text(yaml.safe_dump({"site": "imp", "data_dir": str(tmp_path / "data"),
                                   "database_url": db_url, "mqtt": {"port": 1}}))  # fmt: skip

    run = _import(cfg, file)

    assert run.returncode == 1
    assert f"{file}:2: refused:" in run.stdout and f"{file}:4: refused:" in run.stdout
    assert f"{file}:3: refused: site 'other', this server keeps 'imp'" in run.stdout
    assert "1 passages read, 1 stored, 0 already stored, 3 lines refused" in run.stdout
