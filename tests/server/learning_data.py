"""A compound for the tests of the gallery that learns at the gate, from real faces.

Every identity of ../shared/faces_east_asian_dev is a resident enrolled with its first photo (the
registry's size sets the naming threshold, the review floor and the learning point as it would
at a site of that size); their other photos walk through the gates as GateCapture payloads
built the way an edge builds them: the real template of a real photo (the engine), the aligned
crop and the context crop, and the scores the edge would report against the registry.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from sqlalchemy import insert

from contract.events import GateCapture
from edge.evidence import context_crop, evidence_picture
from models.imageio import read_image
from server import tables as t
from server.store.records import PersonEntry
from tests.mqtt_helpers import connect, wait_until

F32 = npt.NDArray[np.float32]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘"
GIVEN = ["秀华", "建国", "桂兰", "志强", "丽娟", "德明", "玉兰", "海燕", "国强", "淑珍"]


@dataclass(frozen=True)
class Shot:
    """One real photo's largest face: template, aligned crop and context crop."""

    path: Path
    template: F32
    aligned: npt.NDArray[np.uint8]
    context: npt.NDArray[np.uint8]


@cache
def _others(engine, folder: Path) -> list[Shot]:  # noqa: ANN001
    paths = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem))[1:]
    return [s for s in (shot(engine, p) for p in paths) if s is not None]


def shot(engine, path: Path) -> Shot | None:  # noqa: ANN001
    img = read_image(path)
    faces = engine.analyze(img)
    if not faces or faces[0].embedding is None:
        return None
    f = faces[0]
    return Shot(path, f.embedding.astype(np.float32), f.aligned, context_crop(img, f.box))


@dataclass
class Compound:
    """The residents (first photo of each identity) and the other photos of each."""

    root: Path
    ids: list[str]
    enrolled: dict[str, Shot]
    model_id: str

    def others(self, engine, pid: str) -> list[Shot]:  # noqa: ANN001
        """The person's other photos (not the enrolled one), embedded once."""
        return _others(engine, self.root / pid)

    @property
    def matrix(self) -> F32:
        return np.stack([self.enrolled[i].template for i in self.ids])

    def scores(self, template: F32) -> dict[str, float]:
        return dict(zip(self.ids, (self.matrix @ template).tolist(), strict=True))

    def honest(self, template: F32, pid: str) -> tuple[float, float]:
        """What an edge would report for ``pid``: the score and the margin to the runner-up."""
        s = self.scores(template)
        runner = max(v for k, v in s.items() if k != pid)
        return s[pid], max(0.0, s[pid] - runner)

    def name(self, pid: str) -> str:
        i = self.ids.index(pid)
        return SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)]


@cache
def build_compound(engine, root: Path) -> Compound:  # noqa: ANN001
    """Embedded once per test run (about 25 s for the 629 identities)."""
    ids, enrolled = [], {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        s = shot(engine, d / "1.jpg")
        if s is not None:
            ids.append(d.name)
            enrolled[d.name] = s
    return Compound(root, ids, enrolled, engine.model_id)


def jpeg(img: npt.NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def enroll(server, c: Compound, with_reference: tuple[str, ...] = ()) -> None:  # noqa: ANN001
    """Every identity a resident with its first photo; a reference photo for ``with_reference``."""
    for i, pid in enumerate(c.ids):
        entry = PersonEntry(id=pid, name=c.name(pid), role="resident", building=str(1 + i % 30),
                            unit=str(1 + i % 4))  # fmt: skip
        server.store.upsert_person(entry)
        server.store.add_templates(pid, c.enrolled[pid].template[None], c.model_id, [0.9])
    with server.engine.begin() as conn:
        for pid in with_reference:
            ref = c.enrolled[pid].context
            conn.execute(insert(t.reference_photos).values(
                person_id=pid, jpeg=jpeg(ref), width=ref.shape[1], height=ref.shape[0],
                created=datetime.now(UTC), created_by="admin1"))  # fmt: skip


def capture(
    server,  # noqa: ANN001
    c: Compound,
    s: Shot,
    pid: str,
    purpose: str,
    *,
    identity: str | None = None,
    ts: datetime | None = None,
    gate: str = "north",
    score: float | None = None,
    margin: float | None = None,
    frames: int = 5,
) -> GateCapture:
    """A capture as an edge sends it; score and margin are the honest ones unless given."""
    real, real_margin = c.honest(s.template, pid)
    pts = server.learning.points()
    if purpose == "learn":
        identity = pid
    return GateCapture(
        capture_id=uuid.uuid4().hex, event_id=uuid.uuid4().hex, site=server.cfg.site, gate=gate,
        camera="cam1", ts=ts or datetime.now(UTC), purpose=purpose, person_id=pid,
        identity=identity, score=round(real if score is None else score, 4),
        margin=round(real_margin if margin is None else margin, 4), frames=frames,
        threshold=pts.naming, review_floor=pts.review_floor, gallery_version=1,
        model_id=c.model_id, template=[float(x) for x in s.template],
        face=evidence_picture(s.aligned, s.context),
    )  # fmt: skip


class Gate:
    """A stand-in edge publishing captures (and passages) over MQTT."""

    def __init__(self, server, broker) -> None:  # noqa: ANN001
        self.server = server
        self.pub = connect(broker.port, "learn-edge-" + secrets.token_hex(3))

    def send(self, cap: GateCapture, topic_gate: str | None = None) -> str | None:
        """Publish and wait until the server has decided; the stored outcome."""
        topic = self.server.topics.sightings(topic_gate or cap.gate)
        self.pub.publish(topic, cap.to_json(), qos=1)
        store = self.server.learning.store

        def decided() -> bool:
            row = store.capture(cap.capture_id)
            return row is not None and row.outcome != "received"

        wait_until(decided, 120, f"capture {cap.capture_id} decided")
        row = store.capture(cap.capture_id)
        return row.outcome if row else None

    def close(self) -> None:
        self.pub.loop_stop()
        self.pub.disconnect()
