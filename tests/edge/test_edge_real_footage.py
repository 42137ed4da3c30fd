"""The edge on real footage of pedestrians walking toward a fixed camera, and its config check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.edge.conftest import ROOT, start_edge, write_config

WALKING = SHARED / "video" / "walking_toward_camera.mp4"


@pytest.mark.skipif(not WALKING.is_file(), reason="../shared/video not on this machine")
def test_real_pedestrians_become_visitor_passages(tmp_path: Path, broker, store_factory) -> None:
    site = "footage"
    store = store_factory(site)
    source = {"kind": "file", "location": str(WALKING), "pace": "lossless"}
    cfg = write_config(tmp_path, site, broker.port, source, tmp_path / "no-gallery-yet.npz")
    edge = start_edge(cfg, tmp_path / "edge.log")
    assert edge.wait(timeout=300) == 0, (tmp_path / "edge.log").read_text()[-3000:]
    events = store.passages()
    # 4.2 s of a busy pavement: several people, each one passage, nobody enrolled.
    assert 3 <= len(events) <= 20, [(p.track_id, p.identity) for p in events]
    assert len({p.track_id for p in events}) == len(events), "one event per track"
    assert all(p.role == "visitor" for p in events)
    assert "everyone is a visitor" in (tmp_path / "edge.log").read_text()


def test_validate_config_names_every_bad_key(tmp_path: Path) -> None:
    cfg = tmp_path / "gate.yaml"
    cfg.write_text(
        "site: s1\ngate: g/1\ncamera: c1\ndirection: sideways\n"
        "source: {kind: file, location: x.mp4, speed: 2}\n"
        "gallery_path: g.npz\noutbox: {path: o.sqlite}\nface: {threads: 0}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "gatewatch", "edge", "--config", str(cfg), "--validate-config"],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
    )  # fmt: skip
    assert r.returncode == 2
    for key in ("gate:", "direction:", "source.speed:", "face.threads:"):
        assert f"{cfg}: {key}" in r.stderr, r.stderr
    good = tmp_path / "good.yaml"
    good.write_text(
        "site: s1\ngate: g1\ncamera: c1\ndirection: in\nsource: {kind: file, location: x.mp4}\n"
        "gallery_path: g.npz\noutbox: {path: o.sqlite}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "gatewatch", "edge", "--config", str(good), "--validate-config"],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
    )  # fmt: skip
    assert r.returncode == 0 and "ok" in r.stdout
