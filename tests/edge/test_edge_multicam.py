"""One gate process, several cameras (issue 20): the config, the frame queue, the shared models,
per-camera passages and status over a real broker, fair scheduling, per-camera stall and frame
size change."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge.config import MAX_CAMERAS, EdgeConfig
from edge.frames import FrameQueue
from edge.source import Frame
from tests.conftest import SCENES, SHARED, require_shared
from tests.edge.conftest import ENROLLED, build_gallery
from tests.mqtt_helpers import wait_until

WALKING = SHARED / "video" / "walking_toward_camera.mp4"  # real footage, 3-5 faces a frame


def _cam(camera: str, direction: str = "in", **source: object) -> dict:
    return {"camera": camera, "direction": direction,
            "source": {"kind": "file", "location": "x.mp4", **source}}  # fmt: skip


def _cfg(tmp: Path, cameras: list[dict] | None = None, port: int = 1883, **extra: object) -> dict:
    base: dict = {
        "site": "multi", "gate": "g1", "gallery_path": str(tmp / "gallery.npz"),
        "mqtt": {"host": "127.0.0.1", "port": port},
        "outbox": {"path": str(tmp / "outbox.sqlite"), "drain_timeout_s": 60},
        "status_interval_s": 0.5, "stats_interval_s": 5,
    }  # fmt: skip
    if cameras is not None:
        base["cameras"] = cameras
    return {**base, **extra}


# -- config ------------------------------------------------------------------------------------


def test_camera_list_in_both_forms(tmp_path: Path) -> None:
    one = EdgeConfig.model_validate(_cfg(tmp_path, **_cam("c1", "both", loop=True),
                                         line={"axis": "x"}))  # fmt: skip
    [cam] = one.camera_list()
    assert (cam.camera, cam.direction, cam.line and cam.line.axis, cam.source.loop) == (
        "c1", "both", "x", True)  # fmt: skip
    assert one.frame_queue == 2
    two = EdgeConfig.model_validate(_cfg(tmp_path, [_cam("in-1"), _cam("out-1", "out")],
                                         frame_queue=3))  # fmt: skip
    assert [(c.camera, c.direction) for c in two.camera_list()] == [
        ("in-1", "in"),
        ("out-1", "out"),
    ]
    assert two.camera is None and two.frame_queue == 3
    # A dump validates again (the benchmark and the deployment tests round-trip configs).
    assert EdgeConfig.model_validate(two.model_dump(mode="json")) == two


@pytest.mark.parametrize(
    ("cameras", "top", "says"),
    [
        ([_cam("a")], _cam("b"), "not both; move camera, direction, source"),
        ([_cam("a"), _cam("a", "out")], {}, "camera ids must be unique at a gate: a twice"),
        ([_cam(f"c{i}") for i in range(MAX_CAMERAS + 1)], {}, "at most 8"),
        ([], {}, "cameras: is empty"),
        (None, {}, "no camera: give cameras:"),
        ([_cam("a", "none")], {}, "camera a: a gate camera needs direction in, out or both"),
        ([_cam("a", "both")], {}, "camera a: direction 'both' needs a line rule"),
    ],
)
def test_camera_config_errors_say_what_to_do(
    tmp_path: Path, cameras: list | None, top: dict, says: str
) -> None:
    with pytest.raises(ValidationError, match=says.replace("(", r"\(").replace(")", r"\)")):
        EdgeConfig.model_validate(_cfg(tmp_path, cameras, **top))


def test_the_example_configs_are_valid() -> None:
    from edge.config import load_edge_config

    root = Path(__file__).resolve().parents[2] / "configs"
    assert load_edge_config(root / "gate.yaml").camera == "north-in"
    two = load_edge_config(root / "gate-two-cameras.yaml")
    assert [c.camera for c in two.camera_list()] == ["north-in", "north-out"]


# -- the frame queue ---------------------------------------------------------------------------


def test_frame_queue_drops_the_oldest_and_counts_or_blocks_when_lossless() -> None:
    q: FrameQueue[int] = FrameQueue(2)
    for i in range(5):
        q.put(i)
    assert (q.get(), q.get(), q.get(), q.dropped) == (3, 4, None, 3)
    q.put(1)
    q.put(2)
    took: list[int | None] = []
    t = threading.Thread(target=lambda: (q.put(3, block=True), took.append(q.get())))
    t.start()
    time.sleep(0.2)  # the blocked put must still be waiting: nothing dropped
    assert t.is_alive() and q.dropped == 3 and len(q) == 2
    assert q.get() == 1
    t.join(10)
    assert took == [2] and q.get() == 3 and q.dropped == 3


# -- the gate process: built once, frames fed by hand ------------------------------------------


def _frame(image: np.ndarray, i: int) -> Frame:
    now = time.monotonic()
    return Frame(image, i, now, i / 10)


@pytest.fixture()
def two_camera_app(tmp_path: Path, engine, shared: Path):
    """An EdgeApp with two cameras whose captures are not started: tests put frames in their
    queues and drive ``tick`` themselves (no broker: the link is never started)."""
    from edge.app import EdgeApp

    gallery = build_gallery(engine, tmp_path / "gallery.npz", ENROLLED)
    cfg = EdgeConfig.model_validate(_cfg(
        tmp_path, [_cam("north-in", stall_timeout_s=1.0, pace="lossless"),
                   _cam("north-out", "out", stall_timeout_s=1.0, pace="lossless")],
        gallery_path=str(gallery), frame_queue=50,
    ))  # fmt: skip
    app = EdgeApp(cfg, engine=engine)
    yield app
    app.outbox.close()


def test_shared_models_and_one_batched_embedding_per_tick(two_camera_app, engine) -> None:
    app = two_camera_app
    a, b = app.cameras
    assert a.parts.engine is b.parts.engine is app.engine is engine
    assert a.parts.gallery_sync is b.parts.gallery_sync and a.parts.judge is b.parts.judge
    assert a.capture is not b.capture and a.tracker is not b.tracker and a.stats is not b.stats
    scene = cv2.imread(str(SCENES / "2.jpg"))  # several faces
    calls: list[int] = []
    embed = engine.embed_crops
    app.engine = type("Counting", (), {"embed_crops": lambda self, c: calls.append(len(c))
                                       or embed(c), "dim": engine.dim,
                                       "detect": lambda self, im: engine.detect(im)})()  # fmt: skip
    for i in range(3):
        a.capture.frames.put(_frame(scene, i))
        b.capture.frames.put(_frame(scene, i))
    for _ in range(3):
        assert app.tick() == 2  # one frame of each camera per tick
    faces = len(engine.detect(scene).scores)
    assert faces >= 2
    # Every face of both frames in one call (tracks take an embedding at most embeds_per_s).
    assert calls and calls[0] == 2 * faces, calls
    assert len(calls) <= 3
    assert a.stats.frames == b.stats.frames == 3


def test_a_camera_whose_frame_size_changes_ends_its_tracks(two_camera_app) -> None:
    app = two_camera_app
    a, b = app.cameras
    scene = cv2.imread(str(SCENES / "2.jpg"))
    for i in range(3):  # 3 frames, 2 embeddings a track: real people, not decided yet
        a.capture.frames.put(_frame(scene, i))
        b.capture.frames.put(_frame(scene, i))
    while app.tick():
        pass
    assert len(a.tracker.tracks) >= 2 and b.tracker.tracks
    assert a.passages.written == b.passages.written == 0
    open_tracks = len(a.tracker.tracks)
    smaller = cv2.resize(scene, None, fx=0.5, fy=0.5)
    a.capture.frames.put(_frame(smaller, 3))
    app.tick()
    # a's open tracks ended on the new size and became passages; b's are untouched.
    assert a.passages.written == open_tracks and b.passages.written == 0
    assert all(t.first_seen == 0.3 for t in a.tracker.tracks.values())
    assert all(t.first_seen == 0.0 for t in b.tracker.tracks.values())
    assert app.outbox.depth() == a.passages.written
    pending = app.outbox.pending(0, 100)
    assert {ev.camera for ev in pending} == {a.cam.camera}
    assert [ev.seq for ev in pending] == list(range(1, open_tracks + 1))


def test_a_stalled_camera_is_lost_while_the_other_runs(two_camera_app) -> None:
    app = two_camera_app
    a, b = app.cameras
    scene = cv2.imread(str(SCENES / "2.jpg"))
    deadline = time.monotonic() + 2.0
    i = 0
    while time.monotonic() < deadline:  # a delivers frames, b none for longer than 1 s
        a.capture.frames.put(_frame(scene, i))
        app.tick()
        i += 1
    assert b.capture.state == "camera_lost"
    assert a.capture.state == "starting"  # set by its capture thread, not started here
    assert a.stats.frames == i and b.stats.frames == 0


# -- two real videos through a real broker -----------------------------------------------------


def test_two_cameras_one_process_passages_status_and_seq(
    tmp_path: Path, broker, store_factory, gate_video: Path, engine
) -> None:
    from edge.app import EdgeApp

    site = "multicam"
    store = store_factory(site)
    build_gallery(engine, tmp_path / "gallery.npz", ENROLLED)
    video = {"kind": "file", "location": str(gate_video), "pace": "lossless"}
    cfg = EdgeConfig.model_validate(_cfg(
        tmp_path, [{"camera": "north-in", "direction": "in", "source": video},
                   {"camera": "north-out", "direction": "out", "source": video}],
        port=broker.port, site=site,
    ))  # fmt: skip
    app = EdgeApp(cfg, engine=engine)
    assert app.link.client._client_id == b"gatewatch-edge-multicam-g1-north-in"
    assert app.run() == 0
    store.wait_for(lambda s: {(st.camera, st.state) for st in s.status_log} >= {
        ("north-in", "offline"), ("north-out", "offline")}, 60, "both cameras offline")  # fmt: skip
    store.wait_for(lambda s: len(s.events) >= 12, 60, "twelve passages")
    events = store.passages()
    n = int(cv2.VideoCapture(str(gate_video)).get(cv2.CAP_PROP_FRAME_COUNT))
    for cam, direction in (("north-in", "in"), ("north-out", "out")):
        mine = [p for p in events if p.camera == cam]
        assert len(mine) == 6 and {p.direction for p in mine} == {direction}
        named = {p.identity for p in mine if p.identity_kind == "person"}
        assert named == {"p-obama", "p-kit", "p-rose"}
        assert [p.seq for p in mine] == list(range(1, 7))  # each camera's own, gapless
        stats = next(c.stats for c in app.cameras if c.cam.camera == cam)
        assert stats.frames == n and stats.events == 6
        assert len(stats.samples_ms("capture_to_publish")) == 6
        online = [st for st in store.status_log if st.camera == cam and st.state == "online"]
        assert online and all(st.outbox_depth is not None for st in online)


def test_a_crowded_camera_does_not_starve_the_other(
    tmp_path: Path, broker, gate_video: Path, engine
) -> None:
    """Both cameras play their files in real time (looping); one shows 3-5 real faces a frame,
    the other one face at a time. Each gets about the same share of processed frames."""
    from edge.app import EdgeApp

    require_shared()
    if not WALKING.is_file():
        pytest.skip(f"{WALKING} is missing")
    cfg = EdgeConfig.model_validate(_cfg(
        tmp_path, [_cam("crowded", location=str(WALKING), loop=True),
                   _cam("quiet", "out", location=str(gate_video), loop=True)],
        port=broker.port, site="fair", gallery_path=str(tmp_path / "none.npz"),
        outbox={"path": str(tmp_path / "outbox.sqlite"), "drain_timeout_s": 0},
    ))  # fmt: skip
    app = EdgeApp(cfg, engine=engine)
    runner = threading.Thread(target=app.run)
    runner.start()
    crowded, quiet = app.cameras
    try:
        wait_until(lambda: min(crowded.stats.frames, quiet.stats.frames) >= 25, 120,
                   "25 frames processed on each camera")  # fmt: skip
    finally:
        app.stop(hard=True)
        runner.join(60)
    fc, fq = crowded.stats.frames, quiet.stats.frames
    drops = (crowded.capture.dropped, quiet.capture.dropped)
    assert 0.75 <= fc / fq <= 1.33, (fc, fq, drops)
    assert crowded.stats.latency_ms()["detect"] > 0 and quiet.stats.latency_ms()["detect"] > 0
    # Frames the loop could not take in time are dropped oldest first and counted per camera.
    assert crowded.capture.dropped + crowded.capture.captured >= fc


def _walking_frames(n: int = 60) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(WALKING))
    frames = []
    while len(frames) < n:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(image, (960, 540), interpolation=cv2.INTER_AREA))
    return frames


class _SlowEmbedder:
    """The engine, its embeddings given ``delay_s`` later: the embed thread is then the slow
    stage, and the frame loop goes on while up to two ticks' faces wait for it."""

    def __init__(self, engine, delay_s: float) -> None:  # noqa: ANN001
        self._engine = engine
        self._delay_s = delay_s

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        time.sleep(self._delay_s)
        return self._engine.embed_crops(crops)


def _run_two_cameras(tmp: Path, engine, gallery: Path, frames: list[np.ndarray],  # noqa: ANN001
                     overlap: bool, queued: list[int] | None = None,
                     ) -> tuple[list[tuple], list[tuple]]:  # fmt: skip
    """Both cameras fed the walking footage (camera 2 from its middle): the faces embedded
    (camera, track, frame, quality) and the passages written, through ``tick(overlap)``.
    ``queued``: the ticks waiting for their embedding after each tick (the embedder slowed)."""
    import json

    from edge.app import EdgeApp

    cfg = EdgeConfig.model_validate(_cfg(
        tmp, [_cam("a", pace="lossless"), _cam("b", "out", pace="lossless")],
        gallery_path=str(gallery), frame_queue=len(frames) + 1,
    ))  # fmt: skip
    app = EdgeApp(cfg, engine=engine)
    if queued is not None:
        app.engine = _SlowEmbedder(engine, 0.1)  # type: ignore[assignment]
    embedded: list[tuple] = []
    for cam in app.cameras:
        decide = cam._match_and_decide

        def spy(frame, faces, embeddings, gallery, now, cam=cam, decide=decide):  # noqa: ANN001, ANN202
            embedded.extend((cam.cam.camera, f.track.id, frame.index, f.quality) for f in faces)
            return decide(frame, faces, embeddings, gallery, now)

        cam._match_and_decide = spy
    half = len(frames) // 2
    a, b = app.cameras
    for i in range(len(frames)):
        a.capture.frames.put(Frame(frames[i], i, time.monotonic(), i / 25))
        b.capture.frames.put(Frame(frames[(i + half) % len(frames)], i, time.monotonic(), i / 25))
    try:
        while app.tick(overlap=overlap):
            if queued is not None:
                queued.append(len(app._in_flight))
        for cam in app.cameras:
            cam.end(time.monotonic())
        passages = []
        for ev in app.outbox.pending(0, 1000):
            p = json.loads(ev.payload)
            ident = p["identity"] if p["identity_kind"] == "person" else p["identity_kind"]
            passages.append((ev.camera, ev.seq, ident, p["role"], p["frames_used"],
                             p.get("score") and round(p["score"], 5)))  # fmt: skip
        return sorted(embedded), passages
    finally:
        app.outbox.close()


def test_overlapped_ticks_embed_the_same_faces_and_write_the_same_passages(
    tmp_path: Path,
    engine,
    shared: Path,  # noqa: ANN001
) -> None:
    """The frame loop embeds a tick's faces while the next ticks detect (tick's ``overlap``),
    also with two ticks waiting for a slow embedder: on real footage with 3-5 faces, the same
    faces embedded and the same passages, in the same per-camera order, as one tick at a time."""
    gallery = build_gallery(engine, tmp_path / "gallery.npz", ENROLLED)
    frames = _walking_frames()
    (tmp_path / "one").mkdir()
    (tmp_path / "overlap").mkdir()
    (tmp_path / "queued").mkdir()
    one = _run_two_cameras(tmp_path / "one", engine, gallery, frames, overlap=False)
    both = _run_two_cameras(tmp_path / "overlap", engine, gallery, frames, overlap=True)
    embedded, passages = one
    assert len(embedded) > 40 and len({e[:2] for e in embedded}) >= 4
    assert {p[0] for p in passages} == {"a", "b"}
    assert both == one
    # The embedder slower than the loop: a tick's faces wait in the queue while the next tick
    # chooses its own (two ticks in flight), and still the same faces and passages.
    queued: list[int] = []
    slow = _run_two_cameras(tmp_path / "queued", engine, gallery, frames, overlap=True,
                            queued=queued)  # fmt: skip
    assert max(queued) == 2, queued
    assert slow == one
