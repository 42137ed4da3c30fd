"""Issue 17 end to end: the gallery that learns reaches the edges, with real parts only.

A real Mosquitto, a real server (ServerApp in-process, SQLite) and a real edge process on a
generated gate video made from real photos (../shared/faces). Person X is enrolled on the server
with one photo among a few other people; X walks through the gate with another photo of theirs,
chosen here by score to fall in the review band below the naming threshold. The video loops, as
a camera never stops:

1. X's walk is a visitor passage, and the edge's review capture becomes a review item for X;
2. an officer confirms it through the API, the server publishes a new gallery version;
3. the running edge takes that version from the retained manifest (its status says so) and
   names X at the next walk.

``face.match_threshold`` fixes the naming point on both sides so the band is predictable; the
review floor comes from the pack's curve as in use.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

from contract.events import EdgeStatus
from models.learning import LearningPolicy
from server.store.records import PersonEntry
from tests.conftest import ROOT, SHARED, needs_shared
from tests.mqtt_helpers import connect, subscribe, wait_until
from tests.server.conftest import server_config, start_subscribed

THRESHOLD = 0.70  # face.match_threshold, on the server and the edge
OTHERS = ("obama", "kit_harington", "rose_leslie", "biden")
WAIT_S = 240  # generous: the machine may be busy


@dataclass(frozen=True)
class Cast:
    person: str  # X's folder in ../shared/faces
    enroll: str  # X's enrolled photo
    walk: str  # X's photo that walks, scoring in the review band against ``enroll``
    still: float  # that score, photo against photo
    others: tuple[str, ...]  # enrolled with their 1.jpg


def _embed(engine, rel: str) -> np.ndarray | None:  # noqa: ANN001
    from models.imageio import read_image

    found = engine.analyze(read_image(SHARED / "faces" / rel))
    return max(found, key=lambda f: f.area).embedding if found else None


def _pick(engine, floor: float) -> Cast:  # noqa: ANN001
    """X: the same-person pair scoring nearest the middle of the band (a walk scores a little
    below its still photo), whose walk is far from every other enrolled person."""
    faces = SHARED / "faces"
    people = sorted(p.name for p in faces.iterdir() if p.is_dir() and not p.name.startswith("orl_"))
    emb = {
        f"{p}/{f.name}": e
        for p in people
        for f in sorted((faces / p).glob("*.jpg"))
        if (e := _embed(engine, f"{p}/{f.name}")) is not None
    }
    aim = (floor + THRESHOLD) / 2 + 0.03
    pairs = sorted(
        (abs(float(emb[a] @ emb[b]) - aim), a, b)
        for a, b in itertools.permutations(emb, 2)
        if a.split("/")[0] == b.split("/")[0]
    )
    for _, enroll, walk in pairs:
        person = enroll.split("/")[0]
        others = tuple(p for p in OTHERS if p != person)[:3]
        if max(float(emb[f"{o}/1.jpg"] @ emb[walk]) for o in others) < floor - 0.10:
            return Cast(person, enroll, walk, float(emb[enroll] @ emb[walk]), others)
    raise AssertionError("no photo pair of ../shared/faces scores in the review band")


class StatusWatch:
    """The edge's status messages on the broker, as the server's operators see them."""

    def __init__(self, port: int, topics) -> None:  # noqa: ANN001
        self.seen: list[EdgeStatus] = []
        self.client = connect(port, f"watch-{secrets.token_hex(3)}")
        self.client.on_message = self._on_message
        subscribe(self.client, [(topics.all_status(), 1)])

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        if msg.payload:
            self.seen.append(EdgeStatus.model_validate_json(msg.payload))

    def gallery_version(self) -> int | None:
        online = [s for s in self.seen if s.state == "online"]
        return online[-1].gallery_version if online else None

    def close(self) -> None:
        self.client.disconnect()


def _edge_config(work: Path, site: str, port: int, video: Path, gallery: Path) -> Path:
    cfg = {
        "site": site, "gate": "north", "camera": "cam1", "direction": "in",
        "source": {"kind": "file", "location": str(video), "pace": "realtime", "loop": True},
        "gallery_path": str(gallery),
        "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"edge-{site}"},
        "outbox": {"path": str(work / "outbox.sqlite"), "drain_timeout_s": 60},
        "status_interval_s": 1, "stats_interval_s": 30,
        "visitors": {"share": False},
        "face": {"match_threshold": THRESHOLD},
        "decision": {"captures": True},
    }  # fmt: skip
    path = work / "gate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _seen(events: list) -> list[tuple]:
    return [(e.identity, e.identity_kind, e.score, e.gallery_version) for e in events]


def _named(app, pid: str, since: datetime) -> list:  # noqa: ANN001
    """The passages naming ``pid`` since ``since``, oldest first."""
    return [e for e in reversed(app.store.events(since)) if e.identity == pid]


def _stop(edge: subprocess.Popen, log: Path) -> None:
    if edge.poll() is None:
        edge.send_signal(signal.SIGTERM)
        try:
            edge.wait(90)
        except subprocess.TimeoutExpired:
            edge.kill()
            edge.wait(30)
    assert edge.returncode == 0, f"the edge ended with {edge.returncode}: {log.read_text()[-3000:]}"


@needs_shared
def test_a_confirmed_near_miss_reaches_the_edge_and_names_the_person(
    tmp_path: Path, broker, engine  # noqa: ANN001
) -> None:
    from fastapi.testclient import TestClient

    from gatewatch.gatevideo import make_video
    from server.api import create_api
    from server.app import ServerApp

    floor = LearningPolicy().review_floor(engine.curve("general"), 4, THRESHOLD)
    assert floor < THRESHOLD, f"review floor {floor:.3f} must lie below the naming point"
    cast = _pick(engine, floor)
    x = f"p-{cast.person.replace('_', '-')}"
    site = "e" + secrets.token_hex(3)
    cfg = server_config(tmp_path, site, broker.port, f"sqlite:///{tmp_path / 'gw.db'}",
                        locale="en", face={"match_threshold": THRESHOLD},
                        learning={"gallery_quiet_s": 0.2, "scan_interval_s": 3600})  # fmt: skip
    app = start_subscribed(ServerApp(cfg))
    edge: subprocess.Popen | None = None
    watch = StatusWatch(broker.port, app.topics)
    log = tmp_path / "edge.log"
    try:
        officer = {"Authorization": f"Bearer {app.store.add_user('officer1', 'officer')}"}
        for who, photo in [(cast.person, cast.enroll), *((o, f"{o}/1.jpg") for o in cast.others)]:
            pid = f"p-{who.replace('_', '-')}"
            app.store.upsert_person(PersonEntry(id=pid, name=who, role="resident"))
            app.store.add_templates(pid, _embed(engine, photo)[None, :], engine.model_id, [None])
        pts = app.learning.points()
        assert (pts.naming, pts.size.persons) == (THRESHOLD, 4), pts
        assert abs(pts.review_floor - floor) < 1e-6, (pts, floor)
        assert pts.review_floor <= cast.still < THRESHOLD, (
            f"{cast.walk} scores {cast.still:.3f} against {cast.enroll}: not in the review band "
            f"[{pts.review_floor:.3f}, {THRESHOLD})"
        )
        v1 = app.publish_gallery()
        video = tmp_path / "gate.mp4"
        make_video(SHARED / "faces", [cast.walk], video, pass_s=2.0, gap_s=1.5, lead_s=0.5)
        gallery = tmp_path / "edge" / "gallery.npz"  # the edge's last good snapshot: v1
        gallery.parent.mkdir()
        shutil.copyfile(v1.path or "", gallery)
        conf = _edge_config(tmp_path / "edge", site, broker.port, video, gallery)
        since = datetime.now(UTC)
        with open(log, "ab") as out:
            edge = subprocess.Popen(
                [sys.executable, "-m", "gatewatch", "edge", "--config", str(conf)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(),
            )  # fmt: skip

        # 1. X walks as a visitor; the review capture becomes a review item for X.
        with TestClient(create_api(app)) as client:

            def open_items() -> list[dict]:
                r = client.get("/api/review?state=open", headers=officer)
                assert r.status_code == 200, r.text
                return [i for i in r.json()["items"] if i["person_id"] == x]

            def alive() -> bool:
                assert edge.poll() is None, f"the edge ended: {log.read_text()[-3000:]}"
                return True

            wait_until(lambda: alive() and open_items(), WAIT_S, f"a review item for {x}")
            wait_until(lambda: watch.gallery_version() is not None, WAIT_S, "the edge's status")
            assert watch.gallery_version() == v1.version, (
                f"the edge runs gallery v{watch.gallery_version()}, not the server's v{v1.version}"
            )
            [item] = open_items()[:1]
            assert item["kind"] == "near_miss" and item["visitor_id"], item
            assert pts.review_floor <= item["score"] < THRESHOLD, item
            walks = app.store.events(since)
            assert walks and all(p.identity_kind == "visitor" for p in walks), (
                f"before the review every walk of {x} is a visitor: {_seen(walks)}"
            )
            assert item["visitor_id"] in {p.identity for p in walks}, (item, _seen(walks))

            # 2. The officer confirms; the server publishes a new gallery version.
            r = client.post(f"/api/review/{item['id']}/verdict", json={"verdict": "confirm"},
                            headers=officer)  # fmt: skip
            assert r.status_code == 200, r.text
            assert r.json()["state"] == "confirmed", r.json()
        wait_until(lambda: app.store.gallery().version > v1.version, WAIT_S,
                   "a new gallery version after the confirmation")  # fmt: skip
        v2 = app.store.gallery().version
        confirmed = datetime.now(UTC)

        # 3. The running edge takes the new version and names X at the next walk.
        wait_until(lambda: alive() and (watch.gallery_version() or 0) >= v2, WAIT_S,
                   f"the edge's status reporting gallery v{v2}")  # fmt: skip
        wait_until(lambda: alive() and _named(app, x, confirmed), WAIT_S,
                   f"a passage naming {x} after the new gallery")  # fmt: skip
        named = _named(app, x, confirmed)[-1]
        assert named.identity_kind == "person" and named.gallery_version >= v2, named
        assert named.score is not None and named.score >= THRESHOLD, named
    finally:
        watch.close()
        if edge is not None:
            _stop(edge, log)
        app.stop()
