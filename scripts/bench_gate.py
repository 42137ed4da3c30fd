#!/usr/bin/env python3
"""Open-set accuracy through the edge: generated gate videos of enrolled people and strangers.

Usage: python scripts/bench_gate.py --faces ../shared/faces_wide_dev [--enrolled 60 --strangers 60]
       python scripts/bench_gate.py --faces ../shared/faces_east_asian_dev --walk-photos 3 --record

The open-set split of bench_accuracy.py (rotation 0: every third identity from the first is a
stranger, the others enroll their first photo): the gallery holds every enrolled person; the
video walks a sample of them (another photo than the enrolled one) and a sample of strangers
through a gate, one at a time. The edge (EdgeApp, in this process, real Mosquitto) runs on it
losslessly; its per-track decisions are recorded. Reported: strangers named (as anyone), enrolled
people named right / named wrong / not named, for the edge's own operating point. With --record
the edge runs with naming off and every vote is kept, so that other rules (thresholds, margins,
quality-weighted voting, agreement over k frames) are replayed on the same tracks offline.

With --walk-photos K (issue 17 item 4) each walk changes photo along the way: an enrolled person
with at least three photos enrolls the first and walks with up to K of the others, a stranger with
up to K of theirs, each photo for an equal share of the walk (gatewatch/gatevideo.py, '>'). The
replay then sets the edge's vote (mean per-person score over the best frames) beside track-level
fusion (the best frames' embeddings, quality-weighted, L2-normalised, scored once against the
gallery). --pad N adds N one-photo people from --pad-with (distractors_dev) to the gallery.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.config import FaceConfig  # noqa: E402
from scripts.openset import embed_ours  # noqa: E402


@dataclass(frozen=True)
class TrackRecord:
    """One decide call of the edge: the track's time span, its samples, what the edge said."""

    track_id: int
    first_s: float
    last_s: float
    embeddings: np.ndarray
    qualities: np.ndarray
    times: np.ndarray  # video seconds of the samples
    final: bool
    identity: str | None
    kind: str


def _ok(s, idx: list[int]) -> list[int]:  # noqa: ANN001
    return [i for i in idx if s.ok[i]]


def plan(
    faces: Path,
    cache: Path,
    n_enrolled: int,
    n_strangers: int,
    seed: int,
    every_photo: bool,
    walk_photos: int = 1,
) -> dict:
    """The gallery and the walks; ``every_photo``: each stranger walks once per photo;
    ``walk_photos`` > 1: walks change photo along the way (enrolled walkers need 3+ photos)."""
    s = embed_ours(faces, cache)
    by_id = {i: _ok(s, v) if walk_photos > 1 else v for i, v in s.by_identity().items()}
    ids = sorted(i for i, v in by_id.items() if v)
    strangers = set(ids[0::3])
    enrolled = [i for i in ids if i not in strangers and s.ok[by_id[i][0]]]
    rng = np.random.default_rng(seed)
    least = 3 if walk_photos > 1 else 2
    walk_e = [i for i in rng.permutation(enrolled) if len(by_id[i]) >= least][:n_enrolled]
    walk_s = list(rng.permutation(sorted(strangers)))
    if walk_photos > 1:  # strangers whose photos can change along the walk first
        walk_s.sort(key=lambda i: -min(len(by_id[i]), walk_photos))
    walk_s = walk_s[:n_strangers]
    if walk_photos > 1:
        walkers = [(str(i), True, by_id[i][1 : 1 + walk_photos]) for i in walk_e]
        walkers += [(str(i), False, by_id[i][:walk_photos]) for i in walk_s]
    else:
        walkers = [(str(i), True, [by_id[i][1]]) for i in walk_e]
        walkers += [(str(i), False, [j]) for i in walk_s
                    for j in (by_id[i] if every_photo else by_id[i][:1])]  # fmt: skip
    passes = []
    for k in rng.permutation(len(walkers)):
        ident, is_enrolled, photos = walkers[k]
        walk = ">".join(s.paths[j] for j in photos)
        passes.append({"identity": ident, "enrolled": is_enrolled, "photo": walk,
                       "photos": len(photos)})  # fmt: skip
    gallery = {f"p-{i}".replace("_", "-"): s.emb[by_id[i][0]] for i in enrolled}
    return {"passes": passes, "gallery": gallery, "ident_of": {f"p-{i}".replace("_", "-"): i
                                                                for i in enrolled}}  # fmt: skip


def padding(folder: Path, cache: Path, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` one-photo people of another set, as gallery persons (ids d-<n>); people who are in
    the development sets (scripts/openset.py: NOT_DISTRACTORS) are left out."""
    from scripts.openset import NOT_DISTRACTORS

    s = embed_ours(folder, cache)
    ok = np.array([i for i in np.flatnonzero(s.ok) if s.ids[i] not in NOT_DISTRACTORS])
    if n > len(ok):
        raise SystemExit(f"{folder} has {len(ok)} usable photos, not {n}")
    pick = np.random.default_rng(seed).permutation(ok)[:n]
    return {f"d-{k}": s.emb[j] for k, j in enumerate(pick)}


def run_edge(video: Path, gallery_path: Path, work: Path, face: dict, record: bool,
             fusion: str | None = None) -> list:  # fmt: skip
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
            "decision": {"fusion": fusion} if fusion else {},
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
                    np.array([x.quality for x in track.samples]),
                    np.array([x.captured for x in track.samples]), final,
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


def outcome(named: dict[int, set[str]], passes: list[dict], ident_of: dict[str, str],
            least_photos: int = 1) -> dict:  # fmt: skip
    """Strangers named and enrolled named right / wrong, over walks of ``least_photos``+ photos."""
    mine = [k for k, p in enumerate(passes) if p.get("photos", 1) >= least_photos]
    strangers = [k for k in mine if not passes[k]["enrolled"]]
    enrolled = [k for k in mine if passes[k]["enrolled"]]
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


@dataclass(frozen=True)
class CallScore:
    """One decide call under one rule: its best person and runner-up score, per-frame agreement."""

    track_id: int
    person_id: str | None
    s1: float
    s2: float
    agreeing: np.ndarray  # per voting frame: the person's score where the frame's best is them


def _vote_call(gallery, e: np.ndarray, q: np.ndarray, rule: str) -> tuple:  # noqa: ANN001
    """(best person, score, runner-up score, agreeing scores) of the mean (or weighted) vote."""
    hits = gallery.search(e, k=5)
    floor = np.array([h.candidates[-1].score if h.candidates else 0.0 for h in hits])
    per: dict[str, np.ndarray] = {}
    for i, h in enumerate(hits):
        for cand in h.candidates:
            per.setdefault(cand.person_id, floor.copy())[i] = cand.score
    w = q / q.sum() if rule == "quality" else np.full(len(q), 1 / len(q))
    means = sorted(((float(v @ w), pid) for pid, v in per.items()), reverse=True)
    (s1, pid), s2 = means[0], (means[1][0] if len(means) > 1 else 0.0)
    agree = np.array([h.best.score if h.best and h.best.person_id == pid else -2.0 for h in hits])
    return pid, s1, s2, agree


def _fused_call(gallery, e: np.ndarray, q: np.ndarray) -> tuple:  # noqa: ANN001
    """Track-level fusion: the fused template's best person, score and runner-up score."""
    from models.learning import fuse

    found = gallery.search(fuse(e, q)[None], k=2)[0].candidates
    s2 = found[1].score if len(found) > 1 else 0.0
    return found[0].person_id, found[0].score, s2, np.full(len(e), found[0].score)


def score_calls(records: list[TrackRecord], gallery, rule: str, min_frames: int,  # noqa: ANN001
                top: int) -> list[CallScore]:  # fmt: skip
    """Every decide call a rule would make, scored once (thresholds are applied afterwards)."""
    out = []
    for c in records:
        if len(c.qualities) < min_frames and not c.final:
            continue
        best = np.argsort(-c.qualities, kind="stable")[:top]
        e, q = c.embeddings[best], c.qualities[best]
        if len(gallery) == 0:
            continue
        pid, s1, s2, agree = (
            _fused_call(gallery, e, q) if rule == "fusion" else _vote_call(gallery, e, q, rule)
        )
        out.append(CallScore(c.track_id, pid, s1, s2, agree))
    return out


def replay(scored: list[CallScore], threshold: float, margin: float,
           k_agree: int = 0) -> dict[int, str | None]:  # fmt: skip
    """Per track, the person a rule names (None: a visitor), its decide calls in order."""
    out: dict[int, str | None] = {}
    for c in scored:
        if out.get(c.track_id):
            continue
        ok = c.s1 >= threshold and c.s1 - c.s2 >= margin
        if k_agree:
            ok = ok and int((c.agreeing >= threshold).sum()) >= min(k_agree, len(c.agreeing))
        out[c.track_id] = c.person_id if ok else None
    return out


def naming_score(scored: list[CallScore], margin: float) -> dict[int, float]:
    """Per track, the highest threshold at which the rule would name someone."""
    out: dict[int, float] = {}
    for c in scored:
        if c.s1 - c.s2 >= margin:
            out[c.track_id] = max(out.get(c.track_id, -2.0), c.s1)
    return out


def name_passages(records: list[TrackRecord], spans: list[tuple[float, float]],
                  by_track: dict[int, str | None] | None = None) -> tuple[dict, int]:  # fmt: skip
    """Per passage, the persons its tracks were named as (by the edge, or by a replayed rule)."""
    named: dict[int, set[str]] = {}
    unmatched = 0
    for r in records:
        k = passage_of(r, spans)
        if k is None:
            unmatched += 1
            continue
        named.setdefault(k, set())
        who = r.identity if by_track is None and r.kind == "person" else None
        if by_track is not None:
            who = by_track.get(r.track_id)
        if who:
            named[k].add(who)
    return named, unmatched


def photo_spread(records: list[TrackRecord], spans: list, passes: list[dict], top: int) -> dict:
    """How many photos the voting frames of each walk's last decide call span."""
    last: dict[int, TrackRecord] = {}
    for r in records:
        k = passage_of(r, spans)
        if k is not None and (k not in last or len(r.qualities) >= len(last[k].qualities)):
            last[k] = r
    spread = []
    for k, r in last.items():
        a, b = spans[k]
        best = np.argsort(-r.qualities, kind="stable")[:top]
        seg = np.clip(((r.times[best] - a) / max(b - a, 1e-6) * passes[k]["photos"]).astype(int),
                      0, passes[k]["photos"] - 1)  # fmt: skip
        spread.append(len(set(seg.tolist())))
    return {str(n): spread.count(n) for n in sorted(set(spread))}


def equal_strangers(records: list[TrackRecord], scored: list[CallScore], p: dict, spans: list,
                    margin: float) -> dict:  # fmt: skip
    """Named right at the threshold that names 0, 1, 2 or 3 stranger walks."""
    per_track = naming_score(scored, margin)
    walk_best: dict[int, float] = {}
    for r in records:
        k = passage_of(r, spans)
        if k is not None and not p["passes"][k]["enrolled"] and r.track_id in per_track:
            walk_best[k] = max(walk_best.get(k, -2.0), per_track[r.track_id])
    tops = sorted(walk_best.values(), reverse=True)
    out = {}
    for n in (0, 1, 2, 3):
        t = tops[n] + 1e-6 if n < len(tops) else -1.0
        nm, _ = name_passages(records, spans, replay(scored, t, margin))
        o = outcome(nm, p["passes"], p["ident_of"])
        out[f"{n} strangers"] = {"threshold": round(t, 4), "named_right": o["named_right"]}
    return out


def replay_table(records: list[TrackRecord], g, p: dict, spans: list, t_edge: float,  # noqa: ANN001
                 walk_photos: int, t_fused: float, margin: float = 0.05) -> dict:  # fmt: skip
    """Named right and strangers named under other rules, on the same recorded tracks."""
    if walk_photos > 1:
        rules = [("fusion at its own threshold", "fusion", t_fused, margin, 0)]
        rules += [(f"{'vote' if r == 'mean' else r} at {label}", r, t, margin, 0)
                 for label, t in [("edge threshold", t_edge)]
                 + [(f"{x:.2f}", x) for x in (0.36, 0.40, 0.44, 0.48, 0.52, 0.56, 0.60, 0.64)]
                 for r in ("mean", "fusion")]  # fmt: skip
    else:
        rules = [("mean (edge rule)", "mean", t, m, 0) for t in (0.36, 0.42, t_edge, 0.55)
                 for m in (0.0, 0.05, 0.10)]  # fmt: skip
        rules += [("quality-weighted", "quality", t_edge, 0.05, 0),
                  ("agreement k=2", "mean", t_edge, 0.05, 2),
                  ("agreement k=3", "mean", t_edge, 0.05, 3),
                  ("fusion", "fusion", t_edge, 0.05, 0)]  # fmt: skip
    scored = {r: score_calls(records, g, r, 3, 5) for r in {x[1] for x in rules}}
    table = []
    for label, rule, t, m, k in rules:
        nm, _ = name_passages(records, spans, replay(scored[rule], t, m, k))
        row = {"rule": label, "threshold": round(t, 4), "margin": m,
               **outcome(nm, p["passes"], p["ident_of"])}  # fmt: skip
        if walk_photos > 1:
            changing = outcome(nm, p["passes"], p["ident_of"], least_photos=2)
            row["changing_photo_walks"] = {k: changing[k] for k in
                                           ("strangers", "strangers_named", "named_right")}
        table.append(row)
    equal = {r: equal_strangers(records, scored[r], p, spans, margin)
             for r in ("mean", "fusion")}  # fmt: skip
    return {"rules": table, "at equal strangers named (vote = mean)": equal}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--enrolled", type=int, default=60)
    ap.add_argument("--strangers", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every-stranger-photo", action="store_true", help="a walk per photo")
    ap.add_argument("--walk-photos", type=int, default=1, help="photos per walk (changing)")
    ap.add_argument("--pad", default="0", help="one-photo people added to the gallery: N or "
                    "N,M,... (the replay is run for each; the edge gets the largest)")
    ap.add_argument("--pad-with", type=Path, default=Path("../shared/distractors_dev"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--work", type=Path, help="keep the video and records here")
    ap.add_argument("--match-threshold", type=float, help="override the edge's operating point")
    ap.add_argument("--fusion", choices=["vote", "mean"], help="decision.fusion (default: the "
                    "config's)")
    ap.add_argument("--flip-tta", action="store_true")
    ap.add_argument("--record", action="store_true", help="naming off; replay rules offline")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--replay-only", action="store_true",
                    help="with --record: replay the records kept in --work by an earlier run")
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
             args.every_stranger_photo, args.walk_photos)  # fmt: skip
    engine = FaceEngine()
    pads = sorted(int(x) for x in args.pad.split(","))
    pad = padding(args.pad_with, args.cache, pads[-1], args.seed) if pads[-1] else {}
    galleries = {}
    for n in pads:
        g = Gallery(engine.model_id, engine.dim)
        g.add_many([(pid, "resident", e) for pid, e in
                    {**p["gallery"], **dict(list(pad.items())[:n])}.items()])  # fmt: skip
        g.population = args.population
        galleries[n] = g
    g.save(work / "gallery.npz")
    every = "_every" if args.every_stranger_photo else ""
    walk = f"_walk{args.walk_photos}" if args.walk_photos > 1 else ""
    stem = f"{args.faces.name}_{args.enrolled}_{args.strangers}_{args.seed}{every}{walk}"
    video = work / f"gate_{stem}.mp4"
    fps = 25.0
    if not video.is_file():
        make_video(args.faces, [x["photo"] for x in p["passes"]], video, pass_s=1.6, gap_s=1.0)
    specs = json.loads(Path(str(video) + ".json").read_text())
    spans = [(sp["start_frame"] / fps, sp["end_frame"] / fps) for sp in specs]
    face = {"flip_tta": args.flip_tta}
    if args.match_threshold is not None:
        face["match_threshold"] = args.match_threshold
    kept = work / f"records_{stem}.pkl"
    if args.record and args.replay_only:
        records = pickle.loads(kept.read_bytes())
    else:
        records = run_edge(video, work / "gallery.npz", work, face, args.record, args.fusion)
        if args.record:
            kept.write_bytes(pickle.dumps(records))
    named, unmatched = name_passages(records, spans)
    results: dict = {"gallery_persons": len(g), "padding": pads, "walks": len(p["passes"]),
                     "unmatched_tracks": unmatched}  # fmt: skip
    if args.walk_photos > 1:
        results["photos_spanned_by_voting_frames"] = photo_spread(records, spans, p["passes"], 5)
    if not args.record:
        results["edge"] = outcome(named, p["passes"], p["ident_of"])
    else:
        from edge.config import FUSED_FAR_RATIO

        plain = FaceEngine(FaceConfig(flip_tta=args.flip_tta))
        for n, gn in galleries.items():
            t_edge = plain.operating_point(gn.template_count, 0.003).threshold
            t_fused = plain.operating_point(gn.template_count, 0.003 / FUSED_FAR_RATIO).threshold
            results[f"replay, gallery {len(gn)} ({n} padding)"] = replay_table(
                records, gn, p, spans, t_edge, args.walk_photos, t_fused
            )
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
