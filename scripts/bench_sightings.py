#!/usr/bin/env python3
"""False sighting candidates per 1,000 passages of other people (issue 10 §1).

Enrolls ``--enrolled`` people of a shared faces folder with one photo each and raises a search
for a third of them; then ``--others`` people who are neither enrolled nor searched walk through a
generated gate video into a real edge (real broker, real models). Every candidate it reports is a
false one. Prints the rate per 1,000 passages with a 95 % upper bound.

  GATEWATCH_SHARED=/work/shared python scripts/bench_sightings.py --others 200
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from contract.events import SearchOrder
from gatewatch.broker import Broker
from gatewatch.gatevideo import make_video
from models.engine import FaceEngine
from scripts.search_trial import build_gallery, cast, run_edge


def upper95(k: int, n: int) -> float:
    """One-sided 95 % upper bound of a rate from k events in n trials (Wilson score)."""
    if n == 0:
        return 1.0
    z = 1.645
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + half) / (1 + z * z / n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("GATEWATCH_SHARED", "../shared"))
    ap.add_argument("--faces", type=Path, default=shared / "faces_wide_dev")
    ap.add_argument("--enrolled", type=int, default=30)
    ap.add_argument("--others", type=int, default=200)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--search-threshold", type=float, default=0.30)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="bench-sightings-"))
    walkers = cast(a.faces, a.enrolled, a.others)
    enrolled = [w for w in walkers if w.person_id]
    others = [w for w in walkers if not w.person_id]
    engine = FaceEngine()
    gallery = build_gallery(engine, a.faces, enrolled, work / "gallery.npz")
    orders = [
        SearchOrder(search_id=f"s-{i}", person_id=w.person_id)
        for i, w in enumerate(enrolled[::3])
        if w.person_id
    ]
    video = work / "others.mp4"
    if not video.exists():  # a second run at another threshold reuses the video
        make_video(a.faces, [w.walk for w in others], video, pass_s=2.0, gap_s=0.6, lead_s=3.0)
    broker = Broker(work / "broker").start()
    try:
        r = run_edge(work / f"edge-{a.search_threshold}", broker.port, "bench", video, gallery,
                     orders, timeout_s=7200, search_threshold=a.search_threshold)  # fmt: skip
    finally:
        broker.stop()
    n, k = len(r.passages), len(r.candidates)
    named = sum(p.search_id is not None for p in r.passages)
    print(f"model {engine.model_id}; {len(orders)} searches over {len(enrolled)} enrolled; "
          f"{len(others)} other people walked; {n} passages")  # fmt: skip
    print(f"search threshold {a.search_threshold}; a candidate needs 2 of the best 5 frames")
    print(f"false sighting candidates: {k} = {1000 * k / max(n, 1):.1f} per 1,000 passages "
          f"(95 % upper bound {1000 * upper95(k, n):.1f})")  # fmt: skip
    print(f"passages carrying a search id: {named}")
    for c in r.candidates:
        print(f"  candidate {c.search_id} track {c.track_id}: best {c.score:.3f}, "
              f"{c.frames_at_threshold}/{c.frames_considered} frames >= {c.threshold}")  # fmt: skip
    print(f"work dir: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
