"""The edge's small parts on their own, on real photos, a real video and real SQLite files."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import get_args

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from contract.events import Passage, SearchOrder
from contract.gallery import GalleryManifest
from edge.config import DecisionConfig, EdgeConfig, SourceConfig, SourceKind
from edge.decide import Judge
from edge.decision import Decision, as_role
from edge.errors import OutboxError, SourceError
from edge.gallery_sync import GallerySync
from edge.outbox import Outbox
from edge.passages import PassageWriter, RepeatWindow
from edge.sighting import SightingWatch, Where
from edge.source import READERS, Capture, open_source
from edge.stats import EdgeStats, StageTimer
from edge.tracker import Sample, Track, Tracker, TrackUpdate
from models.detector import Detections
from models.errors import GalleryError
from models.gallery import Gallery
from models.imageio import read_image
from tests.conftest import FACES, SCENES
from tests.edge.conftest import build_gallery


def _cfg(tmp_path: Path, **extra: object) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "site": "s1", "gate": "g1", "camera": "c1", "direction": "in",
            "source": {"kind": "file", "location": "x.mp4"},
            "gallery_path": str(tmp_path / "gallery.npz"),
            "outbox": {"path": str(tmp_path / "outbox.sqlite")},
            **extra,
        }
    )  # fmt: skip


def _track(track_id: int = 1, last_seen: float = 0.0) -> Track:
    box = np.array([100, 100, 200, 220], np.float32)
    centre = np.array([150, 160], np.float32)
    return Track(id=track_id, box=box, first_seen=0.0, last_seen=last_seen,
                 first_centre=centre, centre=centre.copy())  # fmt: skip


def _person(identity: str | None, search_id: str | None = None) -> Decision:
    return Decision(
        identity=identity,
        identity_kind="person" if identity else "none",
        role="resident" if identity else "visitor",
        role_source="gallery" if identity else "appearance",
        score=0.62 if identity else None,
        margin=0.2 if identity else None,
        frames_used=3,
        search_id=search_id,
    )


# -- tracker -------------------------------------------------------------------------------


def test_tracker_update_names_each_detections_track_and_the_ended_ones(engine) -> None:
    scene = read_image(SCENES / "6.jpg")  # six people
    dets = engine.detect(scene)
    assert len(dets) == 6
    tracker = Tracker(iou_match=0.25, max_missed=2)
    first = tracker.update(dets, now=0.0, captured=0.0)
    assert isinstance(first, TrackUpdate) and first.ended == ()
    assert sorted(m.detection for m in first.matches) == list(range(6))
    ids = {m.detection: m.track.id for m in first.matches}
    assert len(set(ids.values())) == 6
    # The camera shakes by 6 pixels: the same six people, the same tracks, no new ones.
    shifted = cv2.warpAffine(scene, np.float32([[1, 0, 6], [0, 1, 4]]), scene.shape[1::-1])
    again = tracker.update(engine.detect(shifted), now=0.1, captured=0.1)
    assert {m.track.id for m in again.matches} == set(ids.values())
    assert all(m.track.hits == 2 for m in again.matches)
    nobody = engine.detect(np.full_like(scene, 127))
    assert len(nobody) == 0
    assert tracker.update(nobody, 0.2, 0.2).ended == ()
    assert tracker.update(nobody, 0.3, 0.3).ended == ()
    gone = tracker.update(nobody, 0.4, 0.4)  # missed a third time: more than max_missed
    assert {t.id for t in gone.ended} == set(ids.values()) and gone.matches == ()
    assert tracker.tracks == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        gone.ended = ()  # type: ignore[misc]


def test_an_empty_frame_starts_no_track() -> None:
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                       np.zeros((0, 5, 2), np.float32))  # fmt: skip
    assert Tracker().update(empty, 0.0, 0.0) == TrackUpdate(matches=(), ended=())


# -- decisions -----------------------------------------------------------------------------


def test_decision_is_built_with_keywords_and_checks_roles() -> None:
    with pytest.raises(TypeError):
        Decision(None, "none", "visitor", "appearance", None, None, 1)  # type: ignore[misc]
    assert as_role("courier") == "courier"
    with pytest.raises(ValueError, match="janitor"):
        as_role("janitor")


def test_a_named_track_answering_a_template_search_keeps_its_decision(engine) -> None:
    def emb(p: str, mirrored: bool = False) -> np.ndarray:
        image = read_image(FACES / p)
        return engine.analyze(cv2.flip(image, 1) if mirrored else image)[0].embedding

    gallery = Gallery(engine.model_id, engine.dim)
    gallery.add_person("p-obama", "staff", emb("obama/1.jpg"))
    gallery.add_person("p-kit", "resident", emb("kit_harington/1.jpg"))
    judge = Judge(DecisionConfig(), engine.threshold, 0.05, None)
    track = _track()
    for i, e in enumerate([emb("obama/2.jpg"), emb("obama/4.jpg"), emb("obama/2.jpg", True)]):
        track.samples.append(Sample(e, 0.9, float(i)))
    named = judge.decide(track, gallery, now=0.0, final=False)
    assert named is not None and named.identity == "p-obama" and named.role == "staff"
    order = SearchOrder(search_id="s-1", template=emb("obama/1.jpg").tolist(),
                        model_id=engine.model_id)  # fmt: skip
    watch = SightingWatch(Where("s", "g", "c", engine.model_id), 0.30)
    found = watch.matches(track, {"s-1": order}, gallery)
    assert [m.search_id for m in found] == ["s-1"]
    reported = watch.tag(named, {"s-1": order}, found)
    assert reported == dataclasses.replace(named, search_id="s-1")


# -- passages ------------------------------------------------------------------------------


def test_repeat_window_merges_a_broken_track_and_slides() -> None:
    w = RepeatWindow(window_s=5.0)
    obama = _person("p-obama")
    assert not w.is_repeat(obama, 10.0)
    assert w.is_repeat(obama, 12.0)  # the track broke up: the same passage
    assert w.is_repeat(obama, 16.5)  # 4.5 s after the last sighting, which moved the window
    assert not w.is_repeat(obama, 22.0)  # 5.5 s after: a new passage
    assert not w.is_repeat(_person("p-kit"), 22.5)
    assert w.merged == 2
    # Changed on purpose (issue 10 §1): a passage that answers a search is a repeat like any
    # other; it used to be exempt, and one walk gave two passages 0.16 s apart. A face without
    # identity is always reported.
    assert w.is_repeat(_person("p-obama", search_id="s-1"), 22.1)
    assert not w.is_repeat(_person(None), 22.2)
    assert not w.is_repeat(_person(None), 22.3)


def test_repeat_window_forgets_stale_identities_only() -> None:
    w = RepeatWindow(window_s=5.0)
    w.PRUNE_ABOVE = 3
    for i, t in enumerate([0.0, 1.0, 100.0]):
        w.is_repeat(_person(f"p-{i}"), t)
    assert len(w) == 3
    w.is_repeat(_person("p-new"), 101.0)  # 4 > 3: the two older than 5 + 60 s go
    assert len(w) == 2
    assert w.is_repeat(_person("p-2"), 102.0)


def test_passage_writer_commits_one_event_per_passage(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    box = Outbox(cfg.outbox.path, max_events=10, cameras=[cfg.camera])
    writer = PassageWriter(cfg, "sface:test", box, "s1/g1/c1")
    t = _track(7, last_seen=3.0)
    t.samples.append(Sample(np.zeros(128, np.float32), 0.83, 1.0))
    over = dataclasses.replace(_person("p-obama"), score=1.2)  # clipped to the contract's range
    ev = writer.write(t, over, "in", gallery_version=4)
    assert ev is not None and ev.seq == 1
    p = Passage.model_validate_json(box.pending()[0].payload)
    assert (p.identity, p.role, p.direction, p.track_id) == ("p-obama", "resident", "in", 7)
    assert (p.score, p.quality, p.gallery_version, p.model_id) == (1.0, 0.83, 4, "sface:test")
    assert p.event_id == ev.event_id and p.site == "s1"
    assert writer.write(_track(8, last_seen=4.0), _person("p-obama"), "in", 4) is None
    assert writer.write(_track(9, last_seen=4.5), _person(None), "out", 4) is not None
    assert box.depth() == 2 and writer.written == 2 and writer.repeats.merged == 1
    box.close()


# -- stats ---------------------------------------------------------------------------------


def test_stage_timer_laps_add_up_to_the_frame(engine) -> None:
    scene = read_image(SCENES / "2.jpg")
    timer = StageTimer()
    engine.detect(scene)
    timer.lap("detect")
    time.sleep(0.02)
    timer.lap("wait")
    time.sleep(0.01)
    timer.lap("wait")  # a stage timed twice adds up
    assert list(timer.laps_ms) == ["detect", "wait"]
    assert timer.laps_ms["detect"] > 0 and timer.laps_ms["wait"] >= 30
    assert timer.total_ms == pytest.approx(sum(timer.laps_ms.values()))
    stats = EdgeStats()
    stats.frame_done(timer, at=100.0)
    stats.frame_done(timer, at=100.5)
    stats.frame_done(timer, at=101.0)
    assert stats.frames == 3 and stats.fps() == pytest.approx(2.0)
    lat = stats.latency_ms()
    assert set(lat) == {"detect", "wait", "frame"}
    assert lat["frame"] == round(timer.total_ms, 2)


def test_capture_to_publish_latency_counts_events_of_this_run_only() -> None:
    stats = EdgeStats()
    stats.queued(5, captured=time.monotonic() - 0.05)
    stats.published(4)  # left over from the last run: no capture time known
    stats.published(5)
    stats.published(5)  # published again after a reconnect: counted once
    assert stats.events == 1
    assert len(stats.samples_ms("capture_to_publish")) == 1
    assert stats.samples_ms("capture_to_publish")[0] >= 50


# -- sources -------------------------------------------------------------------------------


def test_every_source_kind_has_a_reader() -> None:
    assert set(READERS) == set(get_args(SourceKind))


def test_file_reader_plays_a_real_video_once_or_in_a_loop(gate_video: Path) -> None:
    n = int(cv2.VideoCapture(str(gate_video)).get(cv2.CAP_PROP_FRAME_COUNT))
    once = open_source(SourceConfig(kind="file", location=str(gate_video)))
    assert not once.live and once.fps == pytest.approx(25.0)
    frames = 0
    while (img := once.read()) is not None:
        assert img.shape == (720, 1280, 3) and img.dtype == np.uint8
        frames += 1
    once.close()
    assert frames == n
    looped = open_source(SourceConfig(kind="file", location=str(gate_video), loop=True))
    assert all(looped.read() is not None for _ in range(n + 5))
    looped.close()


def test_folder_reader_shows_each_real_photo_and_skips_broken_files(tmp_path: Path) -> None:
    shutil.copy(FACES / "obama/1.jpg", tmp_path / "a.jpg")
    shutil.copy(FACES / "kit_harington/1.jpg", tmp_path / "c.JPG")
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    src = SourceConfig(kind="folder", location=str(tmp_path), frames_per_image=3, folder_fps=5)
    reader = open_source(src)
    shapes = []
    while (img := reader.read()) is not None:
        shapes.append(img.shape)
    assert len(shapes) == 6 and shapes[0] != shapes[-1]
    assert reader.fps == 5 and not reader.live


@pytest.mark.parametrize(
    "kind,location,message",
    [
        ("file", "/nonexistent/gate.mp4", "does not exist"),
        ("folder", "/nonexistent/frames", "does not exist"),
        ("device", "97", "cannot open device 97"),
        ("url", "rtsp://127.0.0.1:9/cam", "cannot open url rtsp://127.0.0.1:9/cam"),
    ],
)
def test_a_source_that_cannot_open_says_which(kind: str, location: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(SourceConfig(kind=kind, location=location))  # type: ignore[arg-type]


def test_a_device_source_needs_a_camera_index() -> None:
    with pytest.raises(ValidationError, match="camera index"):
        SourceConfig(kind="device", location="front-door")


def test_camera_state_has_one_writer_that_logs_each_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cap = Capture(SourceConfig(kind="file", location=str(tmp_path / "none.mp4")), "s1/g1/c1")
    assert cap.state == "starting"
    with pytest.raises(AttributeError):
        cap.state = "ok"  # type: ignore[misc]
    with caplog.at_level(logging.INFO, logger="edge.source"):
        cap.mark_lost()
        cap.mark_lost()
    assert cap.state == "camera_lost"
    assert [r.getMessage() for r in caplog.records] == ["[s1/g1/c1] camera camera_lost"]


# -- outbox --------------------------------------------------------------------------------


def test_a_corrupt_outbox_page_raises_outbox_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path, max_events=100, cameras=["c1"])
    for _ in range(5):
        box.add(lambda seq, eid: b"x" * 100, "c1")
    box.close()
    raw = bytearray(path.read_bytes())
    raw[4096 : 3 * 4096] = b"\xff" * 8192  # pages 2-3: the events table and its index
    path.write_bytes(raw)
    box = Outbox(path, max_events=100, cameras=["c1"])  # the schema page is intact: it opens
    for use in (lambda: box.add(lambda seq, eid: b"y", "c1"), box.pending, box.depth):
        with pytest.raises(OutboxError, match="malformed") as err:
            use()
        assert str(path) in str(err.value) and err.value.__cause__ is not None


def test_a_file_that_is_no_database_raises_outbox_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"these are not the pages you are looking for " * 200)
    with pytest.raises(OutboxError, match="not a database.*move it aside"):
        Outbox(path, max_events=100, cameras=["c1"])


# -- gallery sync --------------------------------------------------------------------------


def test_gallery_sync_fetches_with_the_configured_token_and_keeps_the_old_on_error(
    tmp_path: Path, engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = build_gallery(engine, tmp_path / "served.npz",
                           {"p-obama": ("resident", ["obama/1.jpg"])})  # fmt: skip
    g = Gallery.load(served)
    g.version = 9
    g.save(served)
    body = served.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            ok = self.headers.get("Authorization") == "Bearer s3cret"
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GATE_G1_TOKEN", "s3cret")
    cfg = _cfg(tmp_path / "edge", gallery_token_env="GATE_G1_TOKEN")
    assert cfg.gallery_token() == "s3cret"
    try:
        m = GalleryManifest(
            version=9, model_id=engine.model_id, sha256=hashlib.sha256(body).hexdigest(),
            size=len(body), url=f"http://127.0.0.1:{server.server_port}/api/gallery/9",
            persons=1, templates=1,
        )  # fmt: skip
        sync = GallerySync(cfg.gallery_path, engine.model_id, engine.dim, cfg.gallery_token(), "e")
        assert sync.gallery.version == 0 and len(sync.gallery) == 0
        with pytest.raises(GalleryError, match="SHA-256"):
            sync.apply(m.model_copy(update={"sha256": "2" * 64}))
        assert sync.gallery.version == 0
        sync.apply(m)
        assert sync.gallery.version == 9 and "p-obama" in sync.gallery
        assert Gallery.load(cfg.gallery_path).version == 9  # the new last good snapshot
        monkeypatch.delenv("GATE_G1_TOKEN")
        assert _cfg(tmp_path, gallery_token_env="GATE_G1_TOKEN").gallery_token() is None
    finally:
        server.shutdown()
