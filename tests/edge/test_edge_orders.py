"""Orders reaching a running edge over MQTT: gallery updates and missing-person searches."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from contract.events import SearchOrder
from contract.gallery import GalleryManifest
from contract.topics import Topics
from tests.conftest import FACES, require_shared
from tests.edge.conftest import build_gallery, start_edge, write_config
from tests.mqtt_helpers import BROKER_ANSWER_S, connect


@pytest.fixture()
def standing_people(tmp_path: Path) -> Path:
    """A folder source: obama, nobody, kit, nobody, ... each for 1.5 s, looping every 6 s."""
    require_shared()
    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(FACES / "obama/4.jpg", folder / "1_obama.jpg")
    cv2.imwrite(str(folder / "2_empty.png"), np.full((450, 800, 3), 120, np.uint8))
    shutil.copy(FACES / "kit_harington/2.jpg", folder / "3_kit.jpg")
    cv2.imwrite(str(folder / "4_empty.png"), np.full((450, 800, 3), 120, np.uint8))
    return folder


def _source(folder: Path) -> dict:
    return {"kind": "folder", "location": str(folder), "loop": True, "frames_per_image": 15,
            "folder_fps": 10, "pace": "realtime"}  # fmt: skip


def _manifest(path: Path, version: int, model_id: str, sha: str | None = None) -> GalleryManifest:
    raw = path.read_bytes()
    return GalleryManifest(
        version=version, model_id=model_id, sha256=sha or hashlib.sha256(raw).hexdigest(),
        size=len(raw), path=str(path), persons=2, templates=2,
    )  # fmt: skip


def _publish(port: int, topic: str, payload: bytes) -> None:
    c = connect(port, f"orders-{abs(hash(topic)) % 10**8}")
    try:
        info = c.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(timeout=BROKER_ANSWER_S)
    finally:
        c.loop_stop()
        c.disconnect()


def _stop(edge: subprocess.Popen) -> None:
    if edge.poll() is None:
        edge.send_signal(signal.SIGTERM)
        try:
            edge.wait(timeout=30)
        except subprocess.TimeoutExpired:
            edge.kill()


def test_bad_galleries_are_refused_and_a_good_one_is_picked_up_live(
    tmp_path: Path, broker, store_factory, standing_people: Path, engine
) -> None:
    site = "galleryswap"
    topics = Topics(site)
    store = store_factory(site)
    old = build_gallery(engine, tmp_path / "edge-gallery.npz",
                        {"p-obama": ("resident", ["obama/1.jpg"])})  # fmt: skip
    cfg = write_config(tmp_path, site, broker.port, _source(standing_people), old)
    edge = start_edge(cfg, tmp_path / "edge.log")
    try:
        store.wait_for(lambda s: any(p.identity == "p-obama" for p in s.events.values()), 60,
                       "obama named with the old gallery")  # fmt: skip
        new_path = tmp_path / "server" / "gallery-v5.npz"
        new_path.parent.mkdir()
        build_gallery(engine, new_path, {"p-obama": ("resident", ["obama/1.jpg"]),
                                         "p-kit": ("staff", ["kit_harington/1.jpg"])})  # fmt: skip
        from models.gallery import Gallery

        g = Gallery.load(new_path)
        g.version = 5
        g.save(new_path)
        # 1: the hash does not match the file.
        bad = _manifest(new_path, 5, engine.model_id, sha="0" * 64)
        _publish(broker.port, topics.gallery(), bad.model_dump_json().encode())
        # 2: made by another model.
        other = _manifest(new_path, 6, "buffalo_l:arcface-0123456789ab-d512+scrfd-0123456789ab")
        _publish(broker.port, topics.gallery(), other.model_dump_json().encode())
        # 3: not even JSON.
        _publish(broker.port, topics.gallery(), b"{this is not json")
        store.wait_for(lambda s: s.status.get("g1") is not None, 120, "a status")
        mark = len(store.arrivals)
        store.wait_for(
            lambda s: any(p.role == "visitor" for p in s.arrivals[mark:])
            and any(p.identity == "p-obama" for p in s.arrivals[mark:]),
            120, "kit still a visitor and obama still named after the bad manifests",
        )  # fmt: skip
        assert all(p.gallery_version == 1 for p in store.arrivals)
        log = (tmp_path / "edge.log").read_text()
        assert "refused, keeping v1" in log and "malformed message" in log
        # 4: a good one.
        _publish(broker.port, topics.gallery(), _manifest(new_path, 5, engine.model_id)
                 .model_dump_json().encode())  # fmt: skip
        store.wait_for(lambda s: any(p.identity == "p-kit" for p in s.events.values()), 60,
                       "kit named after the good manifest, without a restart")  # fmt: skip
        kit = next(p for p in store.events.values() if p.identity == "p-kit")
        assert kit.gallery_version == 5 and kit.role == "staff"
        store.wait_for(lambda s: s.status["g1"].gallery_version == 5, 120, "status says v5")
    finally:
        _stop(edge)
    # The good snapshot is now the edge's last good one on disk.
    assert Gallery.load(old).version == 5


def test_a_search_order_reports_the_next_sighting_at_once_until_cleared(
    tmp_path: Path, broker, store_factory, standing_people: Path, engine
) -> None:
    site = "searching"
    topics = Topics(site)
    store = store_factory(site)
    people = {"p-obama": ("resident", ["obama/1.jpg"]),
              "p-kit": ("resident", ["kit_harington/1.jpg"])}  # fmt: skip
    gallery = build_gallery(engine, tmp_path / "g.npz", people)
    cfg = write_config(tmp_path, site, broker.port, _source(standing_people), gallery)
    edge = start_edge(cfg, tmp_path / "edge.log")
    try:
        store.wait_for(lambda s: any(p.identity == "p-kit" for p in s.events.values()), 60,
                       "kit seen before the search")  # fmt: skip
        assert all(p.search_id is None for p in store.arrivals)
        order = SearchOrder(search_id="s-42", person_id="p-kit")
        _publish(broker.port, topics.search("s-42"), order.model_dump_json().encode())
        store.wait_for(lambda s: any(p.search_id == "s-42" for p in s.events.values()), 60,
                       "a sighting flagged with the search id")  # fmt: skip
        hits = [p for p in store.passages() if p.search_id == "s-42"]
        assert {p.identity for p in hits} == {"p-kit"}
        assert all(p.frames_used <= 3 for p in hits), "reported at once, not after the track"
        _publish(broker.port, topics.search("s-42"), b"")  # empty retained payload ends it
        store.wait_for(lambda s: "search s-42 ended" in (tmp_path / "edge.log").read_text(),
                       120, "the edge to end the search")  # fmt: skip
        mark = len(store.arrivals)
        store.wait_for(
            lambda s: any(p.identity == "p-kit" for p in s.arrivals[mark + 1 :]), 120,
            "kit seen after the search ended",
        )  # fmt: skip
        later = [p for p in store.arrivals[mark + 1 :] if p.identity == "p-kit"]
        assert all(p.search_id is None for p in later)
    finally:
        _stop(edge)
