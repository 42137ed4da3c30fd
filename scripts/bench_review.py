#!/usr/bin/env python3
"""How long the server takes to decide a gate capture, and to scan for returning visitors.

Every identity of a faces folder (``<identity>/<n>.jpg``; default ../shared/faces_east_asian_dev)
is enrolled with its first photo's template (SFace, from the embedding cache that
``scripts.openset.embed_ours`` writes); every other photo arrives as a GateCapture naming its
person, half as ``review`` (a visitor id each) and half as ``learn``, with the honest score and
margin against the registry, the photo's own JPEG as its face pictures. SQLite in a temp dir, no
broker (captures go straight to ``Learning.take``; the gallery is not rebuilt).

Usage: python scripts/bench_review.py [--faces DIR] [--cache DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import logging
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contract.events import EvidencePicture, GateCapture  # noqa: E402
from scripts.openset import embed_ours  # noqa: E402
from scripts.standins import passage, server_config  # noqa: E402
from server.store.records import PersonEntry  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=Path, default=ROOT.parent / "shared" / "faces_east_asian_dev")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--repeat", type=int, default=3, help="captures per photo")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # no line per learned template
    from server.app import ServerApp

    s = embed_ours(args.faces, args.cache)
    ok = np.flatnonzero(s.ok)
    first: dict[str, int] = {}
    for i in ok:
        first.setdefault(s.ids[i], int(i))
    ids = sorted(first)
    gallery = np.stack([s.emb[first[p]] for p in ids])
    walks = [int(i) for i in ok if first[s.ids[i]] != i]
    with tempfile.TemporaryDirectory() as tmp:
        app = ServerApp(server_config(Path(tmp), "bench", 1883))
        model_id = app.face.model_id
        for p in ids:
            app.store.upsert_person(PersonEntry(id=p, name=p, role="resident"))
            app.store.add_templates(p, gallery[ids.index(p)][None], model_id, [None])
        times: dict[str, list[float]] = {"review": [], "learn": []}
        outcomes: dict[str, int] = {}
        now = datetime.now(UTC)
        for rep in range(args.repeat):
            for k, i in enumerate(walks):
                purpose = "learn" if k % 2 else "review"
                c = _capture(app, s, args.faces, i, (ids, gallery, model_id), purpose,
                             now - timedelta(days=rep), k)  # fmt: skip
                t0 = time.perf_counter()
                out = app.learning.take(c)
                times[purpose].append((time.perf_counter() - t0) * 1000)
                outcomes[out or "none"] = outcomes.get(out or "none", 0) + 1
        seq = 0
        for k in range(0, len(walks), 2):
            for rep in range(args.repeat):
                seq += 1
                vid = f"v-{k:012x}"
                ts = now - timedelta(days=rep)
                app.store.insert_events([passage("bench", seq, vid, "in", ts)])
        t0 = time.perf_counter()
        touched = app.learning.scan(now)
        scan_ms = (time.perf_counter() - t0) * 1000
        print(f"registry: {len(ids)} persons, {len(walks)} other photos x {args.repeat}")
        for purpose, ms in times.items():
            print(f"{purpose}: {len(ms)} captures, median {np.median(ms):.1f} ms, "
                  f"p95 {np.percentile(ms, 95):.1f} ms")  # fmt: skip
        print("outcomes:", dict(sorted(outcomes.items())))
        print(f"returning-visitor scan: {len(touched)} items touched in {scan_ms:.0f} ms")
        app.engine.dispose()
    return 0


def _capture(app, s, faces, i, registry, purpose, ts, k) -> GateCapture:  # noqa: ANN001
    ids, gallery, model_id = registry
    t = s.emb[i]
    scores = gallery @ t
    pid = s.ids[i]
    j = ids.index(pid)
    runner = np.max(np.delete(scores, j))
    jpeg = base64.b64encode((faces / s.paths[i]).read_bytes()).decode()
    pts = app.learning.points()
    return GateCapture(
        capture_id=uuid.uuid4().hex, event_id=uuid.uuid4().hex, site="bench", gate="north",
        camera="cam1", ts=ts, purpose=purpose, person_id=pid,
        identity=pid if purpose == "learn" else f"v-{k:012x}", score=float(scores[j]),
        margin=float(max(0.0, scores[j] - runner)), frames=5, threshold=pts.naming,
        review_floor=pts.review_floor, gallery_version=1, model_id=model_id,
        template=[float(x) for x in t], face=EvidencePicture(aligned_jpeg_b64=jpeg,
                                                             context_jpeg_b64=jpeg),
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
