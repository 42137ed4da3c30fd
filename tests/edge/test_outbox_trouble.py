"""Outbox trouble: a corrupt file refused at start (its events saved), a full disk survived."""

from __future__ import annotations

import errno
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contract.events import Passage
from edge.errors import OutboxError
from edge.outbox import Outbox
from edge.outbox_export import export_outbox
from edge.outbox_health import OutboxHealth
from edge.passages import PassageWriter
from scripts.standins import passage
from tests.conftest import FACES
from tests.edge.conftest import ENROLLED, ROOT, build_gallery, start_edge, write_config

PAGE = 4096


def _gatewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gatewatch", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _filled_outbox(path: Path, n: int, site: str = "s1") -> Outbox:
    box = Outbox(path, max_events=1000, cameras=["c1"])
    for _ in range(n):
        box.add(lambda seq, eid: passage(site, seq).model_copy(update={"event_id": eid}).to_json(),
                "c1")  # fmt: skip
    return box


def _damage_page_holding(path: Path, event_id: str) -> None:
    """Overwrite the table leaf page that holds ``event_id``'s row with garbage."""
    raw = bytearray(path.read_bytes())
    for start in range(PAGE, len(raw), PAGE):
        page = raw[start : start + PAGE]
        if page[0] == 0x0D and event_id.encode() in page:  # 0x0D: a table b-tree leaf
            raw[start : start + PAGE] = b"\xa5" * PAGE
            path.write_bytes(raw)
            return
    raise AssertionError(f"no table leaf page holds {event_id}")


def test_a_corrupt_outbox_is_refused_at_start_and_the_printed_commands_save_its_events(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    box = _filled_outbox(path, 60)
    middle = box.pending(after_pos=29, limit=1)[0]
    box.ack([e.event_id for e in box.pending(limit=5)])  # 1-5 went to the server already
    box.close()
    _damage_page_holding(path, middle.event_id)
    cfg = write_config(tmp_path, "s1", 1, {"kind": "file", "location": "none.mp4"}, tmp_path / "g")

    run = _gatewatch("edge", "--config", str(cfg))

    assert run.returncode == 3, run.stderr[-2000:]
    assert f"outbox {path} is corrupt" in run.stderr
    mv = re.search(r"^\s+(mv .+)$", run.stderr, re.M)
    export = re.search(r"^\s+gatewatch (edge outbox export .+)$", run.stderr, re.M)
    assert mv and export, run.stderr
    assert subprocess.run(mv.group(1), shell=True, cwd=tmp_path).returncode == 0
    assert not path.exists()
    command = shlex.split(export.group(1))
    assert command[-1] == "events.jsonl"
    saved = _gatewatch(*command[:-1], str(tmp_path / "saved.jsonl"))
    assert saved.returncode == 0, saved.stderr
    lines = (tmp_path / "saved.jsonl").read_text().splitlines()
    seqs = [Passage.model_validate_json(line).seq for line in lines]
    lost = int(re.search(r"(\d+) events could not be read", saved.stderr).group(1))  # type: ignore[union-attr]
    assert 30 not in seqs and lost >= 1 and len(seqs) + lost == 55
    assert seqs == sorted(seqs) and min(seqs) >= 6, "acknowledged events are not exported"
    assert "gatewatch server import-events" in saved.stdout


def test_export_of_a_healthy_outbox_is_every_unsent_passage_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    box = _filled_outbox(path, 8)
    box.ack([e.event_id for e in box.pending(limit=3)])
    kept = [Passage.model_validate_json(e.payload) for e in box.pending()]
    box.close()
    cfg = write_config(tmp_path, "s1", 1, {"kind": "file", "location": "none.mp4"}, tmp_path / "g")

    run = _gatewatch("edge", "outbox", "export", "--config", str(cfg), str(tmp_path / "out.jsonl"))

    assert run.returncode == 0, run.stderr
    assert "exported 5 unsent passages (c1 seq 4-8)" in run.stdout
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [Passage.model_validate_json(line) for line in lines] == kept
    again = _gatewatch(
        "edge", "outbox", "export", "--outbox", str(path), str(tmp_path / "out.jsonl")
    )
    assert again.returncode == 2 and "exists" in again.stderr, "an export never overwrites"


def test_export_of_an_outbox_whose_every_page_is_garbage_says_so(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    _filled_outbox(path, 5).close()
    raw = bytearray(path.read_bytes())
    raw[PAGE:] = b"\xff" * (len(raw) - PAGE)
    path.write_bytes(raw)
    with (tmp_path / "out.jsonl").open("w") as out:
        result = export_outbox(path, out)
    assert result.exported == 0 and (tmp_path / "out.jsonl").read_text() == ""


# -- a full disk at run time ---------------------------------------------------------------


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KB filesystem (tmpfs), unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(disk: Path) -> Path:
    """Fill the filesystem to the last byte."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 1024)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


@pytest.fixture(scope="module")
def late_video(tmp_path_factory: pytest.TempPathFactory, gatewatch_home: Path) -> Path:
    """8 s of empty scene (time to fill the disk), then obama, kit+rose, alex: 4 passages."""
    from gatewatch.gatevideo import make_video

    out = tmp_path_factory.mktemp("video") / "late.mp4"
    make_video(FACES, ["obama/4.jpg", "kit_harington/2.jpg+rose_leslie/2.jpg",
                       "alex_lacamoire/1.jpg"], out, pass_s=1.6, gap_s=0.6,
               lead_s=8.0)  # fmt: skip
    return out


def test_a_full_disk_keeps_the_edge_up_and_loses_nothing(
    tmp_path: Path, small_disk: Path, broker, store_factory, late_video: Path, engine
) -> None:
    site = "fulldisk"
    store = store_factory(site)
    gallery = build_gallery(engine, tmp_path / "gallery.npz", ENROLLED)
    source = {"kind": "file", "location": str(late_video), "pace": "realtime"}
    cfg = write_config(tmp_path, site, broker.port, source, gallery,
                       outbox={"path": str(small_disk / "outbox.sqlite"),
                               "drain_timeout_s": 15})  # fmt: skip
    edge = start_edge(cfg, tmp_path / "edge.log")
    try:
        store.wait_for(lambda s: "g1" in s.status, 90, "the edge online")
        filler = _fill(small_disk)
        store.wait_for(lambda s: s.status["g1"].outbox_error is not None
                       and s.status["g1"].outbox_error.waiting >= 2, 60,
                       "outbox_error with passages waiting in memory")  # fmt: skip
        trouble = store.status["g1"].outbox_error
        assert trouble is not None and trouble.code == "disk_full"
        assert edge.poll() is None, "the edge must stay up on a full disk"
        assert store.passages() == []
        filler.unlink()
        assert edge.wait(timeout=120) == 0
    finally:
        if edge.poll() is None:
            edge.kill()
    log = (tmp_path / "edge.log").read_text()
    events = store.passages()
    assert [p.seq for p in events] == [1, 2, 3, 4], log[-3000:]
    assert len(store.arrivals) == len({p.event_id for p in store.arrivals}) == 4
    assert {p.identity for p in events} >= {"p-obama", "p-kit", "p-rose"}
    assert store.status["g1"].outbox_error is None and store.status["g1"].lost_events == 0
    assert 1 <= log.count("database or disk is full") <= 2, "logged at most once a minute"
    assert "PASSAGE LOST" not in log
    assert store.status_log[-1].state == "offline"


# -- the parts -----------------------------------------------------------------------------


def _writer(tmp_path: Path, outbox_path: Path, max_unstored: int) -> PassageWriter:
    from tests.edge.test_edge_parts import _cfg

    cfg = _cfg(tmp_path, outbox={"path": str(outbox_path)})
    box = Outbox(outbox_path, 100, [cfg.camera])
    return PassageWriter(cfg, "sface:test", box, "s1/g1/c1", max_unstored)


def test_passages_wait_in_order_on_a_full_disk_and_overflow_is_counted_lost(
    tmp_path: Path, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.edge.test_edge_parts import _person, _track

    writer = _writer(tmp_path, small_disk / "outbox.sqlite", max_unstored=3)
    filler = _fill(small_disk)
    for i in range(4):
        assert writer.write(_track(i, float(i)), _person(f"p-{i}"), "in", 1, captured=i) is None
    assert len(writer.unstored) == 3 and writer.lost == 1
    assert "PASSAGE LOST" in caplog.text and "p-3" in caplog.text
    trouble = writer.outbox.health.trouble()
    assert trouble is not None and trouble.code == "disk_full"
    decided_at = datetime.now(UTC)
    assert writer.retry(time.monotonic()) == [], "not before the backoff is over"
    filler.unlink()
    stored = writer.retry(time.monotonic(), force=True)
    assert [s.event.seq for s in stored] == [1, 2, 3] and [s.captured for s in stored] == [0, 1, 2]
    sent = [Passage.model_validate_json(e.payload) for e in writer.outbox.pending()]
    assert [p.identity for p in sent] == ["p-0", "p-1", "p-2"]
    assert all(p.ts <= decided_at for p in sent), "a passage keeps the time it was decided"
    assert writer.outbox.health.trouble() is None and not writer.unstored
    writer.outbox.close()


def test_outbox_trouble_is_logged_once_a_minute_with_what_was_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = OutboxHealth("/x/outbox.sqlite", log_every_s=60)
    for _ in range(5):
        health.failed("adding an event", OutboxError("outbox /x: disk is full", "disk_full"))
    assert caplog.text.count("disk is full") == 1
    health._last_log -= 61  # a minute on
    health.failed("adding an event", OutboxError("outbox /x: disk is full", "disk_full"))
    assert "4 more failures since the last line" in caplog.text
    assert health.trouble() is not None and health.failures == 6
    health.succeeded("adding an event")
    assert health.trouble() is None and "adding an event works again" in caplog.text


def test_the_publisher_survives_an_unreadable_outbox(tmp_path: Path, broker) -> None:
    from contract.mqtt import MqttConfig
    from contract.topics import Topics
    from edge.link import EdgeLink

    path = tmp_path / "outbox.sqlite"
    box = _filled_outbox(path, 60)
    first = box.pending(limit=1)[0]
    box.close()
    _damage_page_holding(path, first.event_id)
    box = Outbox(path, 100, ["c1"])
    cfg = MqttConfig(port=broker.port, client_id="edge-unreadable")
    link = EdgeLink(cfg, Topics("s1"), "g1", "c1", box, lambda m: None, lambda s, o: None)
    link.start()
    try:
        deadline = time.monotonic() + 30
        while box.health.trouble() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert box.health.trouble() is not None, "the publisher never read the outbox"
        time.sleep(0.5)
        assert link._pump_thread.is_alive(), "the publisher thread must not die on OutboxError"
    finally:
        link.stop()
        box.close()
