"""Edge parts on their own: visitor expiry, the example config, topic builders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from contract.topics import Topics
from edge.config import load_edge_config
from edge.tracker import Sample, Track
from edge.visitors import VisitorGallery
from models.imageio import read_image
from tests.conftest import FACES, needs_shared

ROOT = Path(__file__).resolve().parents[2]


@needs_shared
def test_visitor_ids_follow_a_face_and_expire(engine) -> None:
    def emb(p: str) -> np.ndarray:
        return engine.analyze(read_image(FACES / p))[0].embedding

    v = VisitorGallery(engine.dim, engine.threshold, expiry_s=100, max_visitors=10)
    a, score = v.match_or_add(emb("bbt_sheldon/1.jpg"), now=0)
    assert score is None and a.startswith("v-")
    again, score = v.match_or_add(emb("bbt_sheldon/2.jpg"), now=50)
    assert again == a and score >= engine.threshold
    other, _ = v.match_or_add(emb("alex_lacamoire/1.jpg"), now=60)
    assert other != a
    # Seen at 50: kept until 150, then forgotten; a new id after that.
    assert v.expire(now=149) == 0
    assert v.expire(now=161) == 2
    later, _ = v.match_or_add(emb("bbt_sheldon/1.jpg"), now=200)
    assert later != a


def test_the_example_gate_config_is_valid() -> None:
    cfg = load_edge_config(ROOT / "configs/gate.yaml")
    assert cfg.mqtt.tls and cfg.mqtt.password_env == "GATEWATCH_MQTT_PASSWORD"


@pytest.mark.parametrize("bad", ["a/b", "+", "#", "", "x" * 65])
def test_topic_ids_cannot_escape_their_level(bad: str) -> None:
    with pytest.raises(ValueError):
        Topics("s1").events(bad)


def test_topic_parsing_round_trip() -> None:
    t = Topics("s1")
    assert t.gate_of(t.events("north")) == "north"
    assert t.gate_of("gatewatch/s2/gates/north/events") is None
    assert t.search_id_of(t.search("s-9")) == "s-9"


def test_snapshot_fetch_over_http_sends_the_token_and_checks_the_hash(tmp_path: Path) -> None:
    import hashlib
    import http.server
    import threading
    import urllib.error

    from contract.gallery import GalleryManifest
    from edge.gallery_sync import fetch_snapshot
    from models.errors import GalleryError

    body = b"snapshot bytes"
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            if self.headers.get("Authorization") != "Bearer t0ken":
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/gallery/3"
        good = GalleryManifest(
            version=3,
            model_id="m",
            sha256=hashlib.sha256(body).hexdigest(),
            size=len(body),
            url=url,
            persons=1,
            templates=1,
        )
        assert fetch_snapshot(good, "t0ken") == body
        assert seen[-1] == "Bearer t0ken"
        with pytest.raises(urllib.error.HTTPError):
            fetch_snapshot(good, None)
        bad = good.model_copy(update={"sha256": "1" * 64})
        with pytest.raises(GalleryError, match="SHA-256"):
            fetch_snapshot(bad, "t0ken")
    finally:
        server.shutdown()


@needs_shared
def test_a_template_search_matches_the_same_face_only(engine) -> None:
    from contract.events import SearchOrder
    from edge.sighting import SightingWatch, Where
    from models.gallery import Gallery

    def track_of(p: str):  # noqa: ANN202
        image = read_image(FACES / p)
        t = Track(id=1, box=np.zeros(4, np.float32), first_seen=0.0, last_seen=0.0,
                  first_centre=np.zeros(2, np.float32), centre=np.zeros(2, np.float32))  # fmt: skip
        for i, img in enumerate((image, cv2.flip(image, 1))):  # two frames: a candidate needs 2
            t.samples.append(Sample(engine.analyze(img)[0].embedding, 0.9, float(i)))
        return t

    watch = SightingWatch(Where("s", "g", "c", engine.model_id), 0.30)
    photo = engine.analyze(read_image(FACES / "rose_leslie/1.jpg"))[0].embedding
    orders = {
        "s-7": SearchOrder(search_id="s-7", template=photo.tolist(), model_id=engine.model_id)
    }
    empty = Gallery(engine.model_id, engine.dim)
    [hit] = watch.matches(track_of("rose_leslie/2.jpg"), orders, empty)
    assert hit.search_id == "s-7" and hit.best >= 0.30 and hit.at_threshold == 2
    assert watch.matches(track_of("obama/1.jpg"), orders, empty) == []


@pytest.mark.parametrize(
    "axis,in_when,start,end,expected",
    [
        ("y", "increasing", (640, 100), (640, 500), "in"),  # walked down the image
        ("y", "increasing", (640, 500), (640, 100), "out"),
        ("y", "decreasing", (640, 500), (640, 100), "in"),
        ("y", "increasing", (640, 300), (640, 330), None),  # 4% of the frame: cannot tell yet
        ("x", "increasing", (100, 300), (900, 300), "in"),
    ],
)
def test_direction_for_a_camera_that_sees_both_ways(axis, in_when, start, end, expected) -> None:
    from edge.config import LineRule
    from edge.passages import passage_direction
    from edge.tracker import Track

    t = Track(
        id=1,
        box=np.zeros(4, np.float32),
        first_seen=0,
        last_seen=1,
        first_centre=np.array(start, np.float32),
        centre=np.array(end, np.float32),
    )
    line = LineRule(axis=axis, in_when=in_when)
    assert passage_direction("both", line, t, (720, 1280, 3)) == expected
    assert passage_direction("in", None, t, (720, 1280, 3)) == "in"


@needs_shared
def test_a_candidate_needs_two_of_the_best_frames_and_carries_its_evidence(engine) -> None:
    from contract.events import SearchOrder
    from edge.sighting import SightingWatch, Where
    from models.gallery import Gallery

    gallery = Gallery(engine.model_id, engine.dim)
    gallery.add_person(
        "p-rose", "resident", engine.analyze(read_image(FACES / "rose_leslie/1.jpg"))[0].embedding
    )
    orders = {"s-1": SearchOrder(search_id="s-1", person_id="p-rose")}
    watch = SightingWatch(Where("s", "g", "c", engine.model_id), 0.30)
    rose, obama = (read_image(FACES / p) for p in ("rose_leslie/2.jpg", "obama/1.jpg"))
    t = Track(id=3, box=np.zeros(4, np.float32), first_seen=0.0, last_seen=0.0,
              first_centre=np.zeros(2, np.float32), centre=np.zeros(2, np.float32))  # fmt: skip
    for i, img in enumerate((rose, obama, obama, obama)):  # one frame of rose among four
        face = engine.analyze(img)[0]
        t.box = face.box
        t.samples.append(Sample(face.embedding, 0.9, float(i)))
        watch.observe(t, face.embedding, orders, gallery, img, face.aligned)
    assert watch.matches(t, orders, gallery) == [], "one frame is not a candidate"
    face = engine.analyze(cv2.flip(rose, 1))[0]
    t.samples.append(Sample(face.embedding, 0.95, 4.0))
    [m] = watch.matches(t, orders, gallery)
    assert (m.search_id, m.at_threshold, m.considered) == ("s-1", 2, 5)
    [c] = watch.candidates(t, [m], event_id=None)
    assert c.evidence is not None and c.frames_at_threshold == 2 and c.score == round(m.best, 4)
    with pytest.raises(ValueError, match="more than one frame"):
        SightingWatch(Where("s", "g", "c", engine.model_id), 0.30, min_frames=1)
