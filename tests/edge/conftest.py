"""Edge fixtures: a real broker, gate videos made from real photos, galleries, gate configs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import FACES, require_shared
from tests.mqtt_helpers import AckingStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def gate_video(tmp_path_factory: pytest.TempPathFactory, gatewatch_home: Path) -> Path:
    """Unknown sheldon; enrolled obama; kit+rose together; unknown alex; sheldon again (another
    photo, 8.8 s later)."""
    from gatewatch.gatevideo import make_video

    require_shared()
    out = tmp_path_factory.mktemp("video") / "gate.mp4"
    make_video(
        FACES,
        ["bbt_sheldon/1.jpg", "obama/4.jpg", "kit_harington/2.jpg+rose_leslie/2.jpg",
         "alex_lacamoire/1.jpg", "bbt_sheldon/2.jpg"],
        out, pass_s=1.6, gap_s=0.6,
    )  # fmt: skip
    return out


def build_gallery(engine, path: Path, people: dict[str, tuple[str, list[str]]]) -> Path:
    """people: id -> (role, photos relative to ../shared/faces)."""
    require_shared()
    from models.gallery import Gallery
    from models.imageio import read_image

    g = Gallery(engine.model_id, engine.dim)
    g.add_many(
        [
            (
                pid,
                role,
                np.stack([engine.analyze(read_image(FACES / p))[0].embedding for p in photos]),
            )
            for pid, (role, photos) in people.items()
        ]
    )
    g.save(path)
    return path


ENROLLED = {
    "p-obama": ("resident", ["obama/1.jpg", "obama/2.jpg"]),
    "p-kit": ("resident", ["kit_harington/1.jpg"]),
    "p-rose": ("courier", ["rose_leslie/1.jpg"]),
    "p-amy": ("staff", ["bbt_amy/1.jpg"]),
}


def write_config(tmp: Path, site: str, port: int, source: dict, gallery: Path, **extra) -> Path:
    cfg = {
        "site": site,
        "gate": extra.pop("gate", "g1"),
        "camera": "c1",
        "direction": "in",
        "source": source,
        "gallery_path": str(gallery),
        "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"edge-{site}"},
        "outbox": {"path": str(tmp / "outbox.sqlite"), "drain_timeout_s": 60},
        "status_interval_s": 0.5,
        "stats_interval_s": 5,
        **extra,
    }
    path = tmp / "gate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_edge(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gatewatch", "edge", "--config", str(config)],
        cwd=ROOT,
        stdout=open(log, "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )


@pytest.fixture()
def store_factory(broker):
    made = []

    def make(site: str, **kw) -> AckingStore:
        s = AckingStore(broker.port, site, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
