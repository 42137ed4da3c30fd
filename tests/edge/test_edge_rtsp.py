"""The edge on a real RTSP camera: GStreamer's RTSP server (tests/rtsp_camera.py) plays the gate
video in a loop and goes away for 20 s, changes its resolution, or answers and sends nothing; the
edge reports the camera lost (in its status and on the wall's gates tile), reopens it with
backoff, and its passages go on with every sequence number once.

One RTSP server, one server (ingest, answering the edge) and one store (reading the edge's
passages and statuses over MQTT) for the module; each test runs its own edge on its own gate.
"""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.standins import server_config
from tests.edge.conftest import ENROLLED, build_gallery, start_edge, write_config
from tests.mqtt_helpers import AckingStore, wait_until
from tests.rtsp_camera import RtspCamera, unavailable
from tests.server.conftest import start_subscribed

WHY_NOT = unavailable()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")

SIZE = (960, 540)  # the gate video (1280x720) scaled down: less to encode and decode
STALL_S = 3.0
OPEN_S = 6.0  # opens take 1-1.5 s here
BACKOFF = (0.5, 4.0)
OUTAGE_S = 20.0  # the issue's: the stream stopped for 20 s


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory, gate_video: Path) -> Iterator[RtspCamera]:
    log = tmp_path_factory.mktemp("rtsp") / "camera.log"
    cam = RtspCamera(gate_video, SIZE, log).start()
    yield cam
    cam.stop()


@pytest.fixture(scope="module")
def site() -> str:
    return "r" + secrets.token_hex(3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, broker, site: str):  # noqa: ANN001, ANN201
    """The real server's ingest on the module's broker: it stores statuses and passages (the
    wall reads them) and acknowledges the passages."""
    from server.app import ServerApp

    tmp = tmp_path_factory.mktemp("rtsp-server")
    app = start_subscribed(ServerApp(server_config(tmp, site, broker.port,
                                                   f"sqlite:///{tmp / 'gw.db'}")))  # fmt: skip
    yield app
    app.stop()


@pytest.fixture(scope="module")
def store(broker, site: str, server) -> Iterator[AckingStore]:  # noqa: ANN001
    """Every passage and status the edges publish (the server acknowledges, not this)."""
    s = AckingStore(broker.port, site, ack=False, client_id=f"rtsp-store-{site}")
    yield s
    s.close()


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, engine) -> Path:  # noqa: ANN001
    return build_gallery(engine, tmp_path_factory.mktemp("rtsp-gallery") / "g.npz", ENROLLED)


class Edge:
    """``gatewatch edge`` on the RTSP camera, as gate ``gate`` of the module's site."""

    def __init__(self, tmp: Path, gate: str, camera: RtspCamera, broker, site, gallery) -> None:  # noqa: ANN001
        source = {"kind": "url", "location": camera.url, "stall_timeout_s": STALL_S,
                  "open_timeout_s": OPEN_S, "reopen_backoff_s": list(BACKOFF)}  # fmt: skip
        outbox = {"path": str(tmp / "outbox.sqlite"), "drain_timeout_s": 10}
        cfg = write_config(tmp, site, broker.port, source, gallery, gate=gate, outbox=outbox)
        self.gate, self.log = gate, tmp / "edge.log"
        self.proc = start_edge(cfg, self.log)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture()
def edge(tmp_path: Path, request, camera, broker, site, gallery) -> Iterator[Edge]:  # noqa: ANN001
    e = Edge(tmp_path, request.param, camera, broker, site, gallery)
    yield e
    e.stop()


def camera_state(store: AckingStore, gate: str) -> str | None:
    st = store.status.get(gate)
    return st.camera_state if st is not None else None


def passages(store: AckingStore, gate: str) -> list[int]:
    """The gate's distinct passages' sequence numbers, in order (a repeat delivery is one)."""
    with store.lock:
        return sorted(p.seq for p in store.events.values() if p.gate == gate)


def wait_passages(store: AckingStore, edge: Edge, more_than: int, what: str) -> int:
    wait_until(lambda: len(passages(store, edge.gate)) > more_than, 120,
               f"{what} (edge log: {edge.text()[-1500:]})")  # fmt: skip
    return len(passages(store, edge.gate))


def wait_state(store: AckingStore, edge: Edge, state: str, timeout_s: float = 60) -> float:
    t0 = time.monotonic()
    wait_until(lambda: camera_state(store, edge.gate) == state, timeout_s,
               f"camera {state} on gate {edge.gate} (edge log: {edge.text()[-1500:]})")  # fmt: skip
    return time.monotonic() - t0


def wall_tile(server, gate: str):  # noqa: ANN001, ANN201
    """The wall's gates tile for ``gate`` (None until the server has heard of it)."""
    from server.wall.board import WallData

    return next((g for g in WallData(server.store, server.cfg).gates() if g.gate == gate), None)


def backoffs(log: str) -> list[float]:
    return [float(s) for s in re.findall(r"retrying in ([\d.]+) s", log)]


def assert_gapless(store: AckingStore, edge: Edge) -> None:
    seqs = passages(store, edge.gate)
    assert seqs == list(range(1, len(seqs) + 1)), f"duplicate or missing seq: {seqs}"


@pytest.mark.parametrize("edge", ["stopped"], indirect=True)
def test_a_stream_stopped_for_20_s_is_lost_then_reopened_with_backoff(
    edge: Edge, camera: RtspCamera, store: AckingStore, server
) -> None:  # noqa: ANN001
    wait_state(store, edge, "ok", 120)
    before = wait_passages(store, edge, 1, "two passages from the RTSP camera")

    log_at = len(edge.text())  # the reopens of this outage only
    camera.stop()
    stopped = time.monotonic()
    wait_state(store, edge, "camera_lost", STALL_S + 30)
    wait_until(lambda: (t := wall_tile(server, edge.gate)) is not None
               and t.camera_state == "camera_lost" and not t.online, 30,
               "the wall's gates tile: camera lost")  # fmt: skip
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))  # the outage lasts 20 s
    camera.start()

    back_after = wait_state(store, edge, "ok", OPEN_S + BACKOFF[1] + 30)
    print(f"camera ok {back_after:.1f} s after the stream resumed")
    wait_until(lambda: (t := wall_tile(server, edge.gate)) is not None
               and t.camera_state == "ok" and t.online, 30,
               "the wall's gates tile: ok")  # fmt: skip
    wait_passages(store, edge, before + 1, "passages after the camera came back")
    edge.stop()
    assert edge.proc.returncode == 0, edge.text()[-3000:]
    waits = backoffs(edge.text()[log_at:])
    assert len(waits) >= 4, f"several reopen attempts over 20 s, with backoff: {waits}"
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0] and max(waits) == BACKOFF[1], waits
    assert_gapless(store, edge)


@pytest.mark.parametrize("edge", ["resized"], indirect=True)
def test_a_resolution_change_mid_stream_keeps_frames_and_passages_coming(
    edge: Edge, camera: RtspCamera, store: AckingStore
) -> None:
    wait_state(store, edge, "ok", 120)
    n = wait_passages(store, edge, 0, "a passage at 960x540")
    assert "frames of 960x540" in edge.text()
    # The camera is reconfigured and sends the new size in-band, on the same session: OpenCV's
    # FFmpeg backend scales the new frames to the size the stream opened with; nothing is lost.
    log_at = len(edge.text())
    camera.resize(1280, 720)
    changed = len(store.status_log)
    n = wait_passages(store, edge, n + 1, "passages after the resolution change")
    assert "retrying" not in edge.text()[log_at:], "an in-band resolution change loses no frame"
    with store.lock:
        after = [s.camera_state for s in store.status_log[changed:] if s.gate == edge.gate]
    assert after and set(after) == {"ok"}, after
    # A camera that restarts its stream at the new size (many do) is reopened at that size.
    camera.stop()
    camera.start()
    wait_until(lambda: "frames of 1280x720" in edge.text(), OPEN_S + 30,
               f"frames at the new size (edge log: {edge.text()[-1500:]})")  # fmt: skip
    wait_state(store, edge, "ok", 30)
    wait_passages(store, edge, n, "passages at 1280x720")
    camera.resize(*SIZE)  # back to the module's size (the next stream opens at it)
    edge.stop()
    assert_gapless(store, edge)


@pytest.mark.parametrize("edge", ["stalled"], indirect=True)
def test_a_camera_that_answers_but_sends_nothing_is_lost_and_reopened(
    edge: Edge, camera: RtspCamera, store: AckingStore
) -> None:
    wait_state(store, edge, "ok", 120)
    wait_passages(store, edge, 0, "a passage before the stall")
    camera.stall()
    try:
        lost_after = wait_state(store, edge, "camera_lost", STALL_S + 30)
        print(f"camera lost {lost_after:.1f} s after the stall")
        assert lost_after < STALL_S + 5, f"lost {lost_after:.1f} s after the stall"
        # The capture thread is not stuck in a read: it reopens, and the stalled server's
        # answer without frames runs into the open timeout.
        wait_until(lambda: edge.text().count("cannot open url") >= 1, OPEN_S + BACKOFF[1] + 30,
                   f"a reopen that times out (edge log: {edge.text()[-1500:]})")  # fmt: skip
    finally:
        camera.play()
    n = len(passages(store, edge.gate))
    wait_state(store, edge, "ok", OPEN_S + BACKOFF[1] + 30)
    wait_passages(store, edge, n, "passages after the stall")
    edge.stop()
    assert_gapless(store, edge)
