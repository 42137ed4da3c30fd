"""One gate video through a real edge process, with or without active searches (issue 10 §1).

Used by tests/edge/test_edge_searches.py, tests/edge/test_edge_captures.py and
scripts/bench_sightings.py: enroll people with one photo each, make a gate video of other photos
of them (and of people never enrolled) walking, run the edge over a real broker with retained
search orders, and collect its passages, sighting candidates and gate captures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from contract.events import EdgeStatus, GateCapture, Passage, SearchOrder, SightingCandidate
from contract.topics import Topics
from scripts.standins import AckingStore, connect, subscribe

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Walker:
    """Someone in the video: enrolled (``person_id``) or not, and the photo that walks."""

    person_id: str | None
    walk: str  # relative to the faces folder
    enroll: str | None = None


@dataclass
class TrialResult:
    passages: list[Passage]
    candidates: list[SightingCandidate] = field(default_factory=list)
    log: str = ""
    captures: list[GateCapture] = field(default_factory=list)
    status: EdgeStatus | None = None  # the last one (offline, with the final counts)


def cast(faces: Path, n_enrolled: int, n_unknown: int) -> list[Walker]:
    """People with at least two photos, sorted by name: the first ``n_enrolled`` enrolled with
    their first photo and walking with their second; the next ``n_unknown`` walk unenrolled."""
    people = sorted(p for p in faces.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2)
    if len(people) < n_enrolled + n_unknown:
        raise ValueError(
            f"{faces} has {len(people)} people with two photos, not {n_enrolled + n_unknown}"
        )
    out = []
    for i, p in enumerate(people[: n_enrolled + n_unknown]):
        first, second = (f"{p.name}/{f.name}" for f in sorted(p.glob("*.jpg"))[:2])
        if i < n_enrolled:
            out.append(Walker(f"p-{p.name.replace('_', '-')[:60]}", second, first))
        else:
            out.append(Walker(None, second))
    return out


def build_gallery(engine, faces: Path, walkers: list[Walker], path: Path) -> Path:  # noqa: ANN001
    from models.gallery import Gallery
    from models.imageio import read_image

    g = Gallery(engine.model_id, engine.dim)
    rows = []
    for w in walkers:
        if w.person_id and w.enroll:
            found = engine.analyze(read_image(faces / w.enroll))
            if found:
                rows.append((w.person_id, "resident", np.stack([found[0].embedding])))
    g.add_many(rows)
    g.save(path)
    return path


def run_edge(
    work: Path,
    port: int,
    site: str,
    video: Path,
    gallery: Path,
    orders: list[SearchOrder],
    timeout_s: float = 1800,
    search_threshold: float = 0.30,
    overrides: dict | None = None,
) -> TrialResult:
    """The edge over ``video`` with these retained search orders (``overrides``: further keys
    of its config, such as ``face`` or ``decision``); its passages, candidates and captures."""
    topics = Topics(site)
    work.mkdir(parents=True, exist_ok=True)
    store = AckingStore(port, site, client_id=f"store-{site}")
    got: list[SightingCandidate] = []
    captures: list[GateCapture] = []
    statuses: list[EdgeStatus] = []
    offline = threading.Event()
    watcher = connect(port, f"sightings-{site}")

    def on_message(client, userdata, msg) -> None:  # noqa: ANN001
        if msg.topic.endswith("/status"):
            st = EdgeStatus.model_validate_json(msg.payload) if msg.payload else None
            if st is not None:
                statuses.append(st)
                if st.state == "offline":
                    offline.set()
        elif json.loads(msg.payload).get("kind") == "capture":
            captures.append(GateCapture.model_validate_json(msg.payload))
        else:
            got.append(SightingCandidate.model_validate_json(msg.payload))

    watcher.on_message = on_message
    # The edge's last word (offline) comes after its candidates on the same connection: once it
    # is here, every candidate is too.
    subscribe(watcher, [(topics.all_sightings(), 1), (topics.all_status(), 1)])
    pub = connect(port, f"server-{site}")
    for o in orders:
        info = pub.publish(topics.search(o.search_id), o.to_json(), qos=1, retain=True)
        info.wait_for_publish(30)
    cfg = {
        "site": site, "gate": "g1", "camera": "c1", "direction": "in",
        "source": {"kind": "file", "location": str(video), "pace": "lossless"},
        "gallery_path": str(gallery),
        "mqtt": {"host": "127.0.0.1", "port": port, "client_id": f"edge-{site}"},
        "outbox": {"path": str(work / "outbox.sqlite"), "drain_timeout_s": 60},
        "status_interval_s": 1, "stats_interval_s": 30,
        "visitors": {"share": False}, "search_threshold": search_threshold,
        **(overrides or {}),
    }  # fmt: skip
    (work / "gate.yaml").write_text(yaml.safe_dump(cfg))
    log = work / "edge.log"
    with open(log, "ab") as out:
        code = subprocess.run(
            [sys.executable, "-m", "gatewatch", "edge", "--config", str(work / "gate.yaml")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s,
        ).returncode  # fmt: skip
    text = log.read_text()
    if code != 0:
        raise RuntimeError(f"the edge ended with {code}: {text[-2000:]}")
    store.wait_for(lambda s: "g1" in s.status and s.status["g1"].state == "offline", 120,
                   "the edge's offline status")  # fmt: skip
    if not offline.wait(120):
        raise RuntimeError("the sightings watcher never saw the edge go offline")
    result = TrialResult(
        store.passages(), list(got), text, list(captures), statuses[-1] if statuses else None
    )
    for o in orders:
        info = pub.publish(topics.search(o.search_id), b"", qos=1, retain=True)
        info.wait_for_publish(30)
    for c in (watcher, pub):
        c.loop_stop()
        c.disconnect()
    store.close()
    return result
