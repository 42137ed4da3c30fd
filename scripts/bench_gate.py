#!/usr/bin/env python3
"""Open-set accuracy through the edge: generated gate videos of enrolled people and strangers.

Usage: python scripts/bench_gate.py --faces ../shared/faces_wide_dev [--enrolled 60 --strangers 60]

The open-set split of bench_accuracy.py (rotation 0: every third identity from the first is a
stranger, the others enroll their first photo): the gallery holds every enrolled person; the
video walks a sample of them (another photo than the enrolled one) and a sample of strangers
through a gate, one at a time. The edge (EdgeApp, in this process, real Mosquitto) runs on it
losslessly; its per-track decisions are recorded. Reported: strangers named (as anyone), enrolled
people named right / named wrong / not named, for the edge's own operating point. With --record
the edge runs with naming off and every vote is kept, so that other rules (thresholds, margins,
quality-weighted voting, agreement over k frames) are replayed on the same tracks offline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.openset import embed_ours  # noqa: E402


@dataclass(frozen=True)
class TrackRecord:
    """One decide call of the edge: the track's time span, its samples, what the edge said."""

    track_id: int
    first_s: float
    last_s: float
    embeddings: np.ndarray
    qualities: np.ndarray
    final: bool
    identity: str | None
    kind: str


def plan(
    faces: Path, cache: Path, n_enrolled: int, n_strangers: int, seed: int, every_photo: bool
) -> dict:
    """The gallery and the walks; ``every_photo``: each stranger walks once per photo."""
    s = embed_ours(faces, cache)
    by_id = s.by_identity()
    ids = sorted(by_id)
    strangers = set(ids[0::3])
    enrolled = [i for i in ids if i not in strangers and s.ok[by_id[i][0]]]
    rng = np.random.default_rng(seed)
    walk_e = [i for i in rng.permutation(enrolled) if len(by_id[i]) > 1][:n_enrolled]
    walk_s = list(rng.permutation(sorted(strangers)))[:n_strangers]
    walkers = [(str(i), True, by_id[i][1]) for i in walk_e]
    walkers += [
        (str(i), False, j) for i in walk_s for j in (by_id[i] if every_photo else by_id[i][:1])
    ]
    order = rng.permutation(len(walkers))
    passes = []
    for k in order:
        ident, is_enrolled, photo = walkers[k]
        passes.append({"identity": ident, "enrolled": is_enrolled, "photo": s.paths[photo]})
    gallery = {f"p-{i}".replace("_", "-"): s.emb[by_id[i][0]] for i in enrolled}
    return {"passes": passes, "gallery": gallery, "ident_of": {f"p-{i}".replace("_", "-"): i
                                                                for i in enrolled}}  # fmt: skip


def run_edge(video: Path, gallery_path: Path, work: Path, face: dict, record: bool) -> list:
    from contract.config import FaceConfig
    from edge.app import EdgeApp
    from edge.config import EdgeConfig
    from gatewatch.broker import Broker
    from scripts.standins import AckingStore

    broker = Broker(work / "mosquitto").start()
    store = AckingStore(broker.port, "gatebench")
    if record:
        face = {**face, "match_threshold": 1.0}  # name no one; keep every vote
    cfg = EdgeConfig.model_validate(
        {
            "site": "gatebench", "gate": "g1", "camera": "c1", "direction": "in",
            "source": {"kind": "file", "location": str(video), "pace": "lossless"},
            "gallery_path": str(gallery_path),
            "mqtt": {"port": broker.port, "client_id": "gatebench-edge"},
            "outbox": {"path": str(work / f"outbox-{record}.sqlite"), "drain_timeout_s": 20},
            "face": FaceConfig(**face).model_dump(),
            "status_interval_s": 5,
        }
    )  # fmt: skip
    app = EdgeApp(cfg)
    records: list[TrackRecord] = []
    decide = app.judge.decide

    def recording_decide(track, gallery, now, final):  # noqa: ANN001, ANN202
        d = decide(track, gallery, now, final)
        if track.samples:
            records.append(
                TrackRecord(
                    track.id, track.first_seen, track.last_seen,
                    np.stack([x.embedding for x in track.samples]),
                    np.array([x.quality for x in track.samples]), final,
                    None if d is None else d.identity, "" if d is None else d.identity_kind,
                )
            )  # fmt: skip
        return d

    app.judge.decide = recording_decide  # type: ignore[method-assign]
    try:
        app.run()
        status = store.status.get("g1")
    finally:
        store.close()
        broker.stop()
    print(f"edge: {app.stats.frames} frames, {app.stats.events} events; status: "
          f"{status.model_dump_json(exclude_none=True) if status else None}")  # fmt: skip
    return records


def passage_of(rec: TrackRecord, spans: list[tuple[float, float]]) -> int | None:
    mid = (rec.first_s + rec.last_s) / 2
    for k, (a, b) in enumerate(spans):
        if a - 0.2 <= mid <= b + 0.2:
            return k
    return None


def outcome(named: dict[int, set[str]], passes: list[dict], ident_of: dict[str, str]) -> dict:
    strangers = [k for k, p in enumerate(passes) if not p["enrolled"]]
    enrolled = [k for k, p in enumerate(passes) if p["enrolled"]]
    s_named = sum(1 for k in strangers if named.get(k))
    said = {k: {ident_of.get(x) for x in named.get(k, set())} for k in enrolled}
    right = sum(1 for k in enrolled if said[k] == {passes[k]["identity"]})
    wrong = sum(1 for k in enrolled if said[k] and passes[k]["identity"] not in said[k])
    return {
        "strangers": len(strangers),
        "strangers_named": s_named,
        "fpir": round(s_named / max(len(strangers), 1), 4),
        "enrolled": len(enrolled),
        "named_right": round(right / max(len(enrolled), 1), 4),
        "named_wrong": wrong,
    }


def replay(records: list[TrackRecord], gallery, rule: str, threshold: float, margin: float,
           min_frames: int, top: int, k_agree: int = 0) -> dict[int, str | None]:  # fmt: skip
    """Per track, the person a rule names (None: a visitor), replaying its decide calls in order."""
    out: dict[int, str | None] = {}
    by_track: dict[int, list[TrackRecord]] = {}
    for r in records:
        by_track.setdefault(r.track_id, []).append(r)
    for tid, calls in by_track.items():
        out[tid] = None
        for c in calls:
            n = len(c.qualities)
            if n < min_frames and not c.final:
                continue
            best = np.argsort(-c.qualities, kind="stable")[:top]
            e, q = c.embeddings[best], c.qualities[best]
            hits = gallery.search(e, k=5)
            floor = np.array([h.candidates[-1].score if h.candidates else 0.0 for h in hits])
            per: dict[str, np.ndarray] = {}
            for i, h in enumerate(hits):
                for cand in h.candidates:
                    per.setdefault(cand.person_id, floor.copy())[i] = cand.score
            w = q / q.sum() if rule == "quality" else np.full(len(q), 1 / len(q))
            means = sorted(((float(v @ w), pid) for pid, v in per.items()), reverse=True)
            (s1, pid), s2 = means[0], (means[1][0] if len(means) > 1 else 0.0)
            ok = s1 >= threshold and s1 - s2 >= margin
            if k_agree:
                agree = sum(1 for h in hits if h.best and h.best.person_id == pid
                            and h.best.score >= threshold)  # fmt: skip
                ok = ok and agree >= min(k_agree, len(hits))
            if ok:
                out[tid] = pid
                break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--enrolled", type=int, default=60)
    ap.add_argument("--strangers", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every-stranger-photo", action="store_true", help="a walk per photo")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--work", type=Path, help="keep the video and records here")
    ap.add_argument("--match-threshold", type=float, help="override the edge's operating point")
    ap.add_argument("--flip-tta", action="store_true")
    ap.add_argument("--record", action="store_true", help="naming off; replay rules offline")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--pad", type=Path, help="pad the gallery: every photo of this folder its own "
                    "person (e.g. ../shared/distractors_dev; the dev sets' own people left out)")
    ap.add_argument("--population", choices=["east_asian", "general"],
                    help="the site's population in the gallery (default: the edge's, east_asian)")
    args = ap.parse_args()
    from gatewatch.gatevideo import make_video
    from models.engine import FaceEngine
    from models.gallery import Gallery

    args.cache.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_gate_"))
    work.mkdir(parents=True, exist_ok=True)
    p = plan(args.faces, args.cache, args.enrolled, args.strangers, args.seed,
             args.every_stranger_photo)  # fmt: skip
    engine = FaceEngine()
    g = Gallery(engine.model_id, engine.dim)
    g.add_many([(pid, "resident", e) for pid, e in p["gallery"].items()])
    if args.pad:
        from scripts.openset import NOT_DISTRACTORS

        d = embed_ours(args.pad, args.cache)
        g.add_many([(f"d-{i}", "resident", d.emb[i]) for i in np.flatnonzero(d.ok)
                    if d.ids[i] not in NOT_DISTRACTORS])  # fmt: skip
    g.population = args.population
    g.save(work / "gallery.npz")
    every = "_every" if args.every_stranger_photo else ""
    video = work / f"gate_{args.enrolled}_{args.strangers}_{args.seed}{every}.mp4"
    fps = 25.0
    if not video.is_file():
        make_video(args.faces, [x["photo"] for x in p["passes"]], video, pass_s=1.6, gap_s=1.0)
    specs = json.loads(Path(str(video) + ".json").read_text())
    spans = [(sp["start_frame"] / fps, sp["end_frame"] / fps) for sp in specs]
    face = {"flip_tta": args.flip_tta}
    if args.match_threshold is not None:
        face["match_threshold"] = args.match_threshold
    records = run_edge(video, work / "gallery.npz", work, face, args.record)
    unmatched = 0
    named: dict[int, set[str]] = {}
    for r in records:
        k = passage_of(r, spans)
        if k is None:
            unmatched += 1
            continue
        named.setdefault(k, set())
        if r.kind == "person" and r.identity:
            named[k].add(r.identity)
    results = {"gallery_persons": len(g), "unmatched_tracks": unmatched}
    if not args.record:
        results["edge"] = outcome(named, p["passes"], p["ident_of"])
    else:
        from models.calibration import load_curve

        curve = load_curve("sface", "flip" if args.flip_tta else "none")
        assert curve is not None
        t_default = curve.threshold_for(len(g), 0.003)
        rules = [("mean (edge rule)", "mean", t, m, 0) for t in (0.36, 0.42, t_default, 0.55)
                 for m in (0.0, 0.05, 0.10)]  # fmt: skip
        rules += [("quality-weighted", "quality", t_default, 0.05, 0),
                  ("agreement k=2", "mean", t_default, 0.05, 2),
                  ("agreement k=3", "mean", t_default, 0.05, 3)]  # fmt: skip
        table = []
        for label, rule, t, m, k in rules:
            by_track = replay(records, g, rule, t, m, 3, 5, k)
            nm: dict[int, set[str]] = {}
            for r in records:
                kk = passage_of(r, spans)
                if kk is not None:
                    nm.setdefault(kk, set())
                    if by_track.get(r.track_id):
                        nm[kk].add(by_track[r.track_id])  # type: ignore[arg-type]
            table.append({"rule": label, "threshold": round(t, 4), "margin": m,
                          **outcome(nm, p["passes"], p["ident_of"])})  # fmt: skip
        results["replay"] = table
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
