#!/usr/bin/env python3
"""Verification and open-set identification accuracy on folders laid out like ../shared/faces.

Usage: python scripts/bench_accuracy.py --faces ../shared/faces_wide_dev \
           --faces ../shared/faces_east_asian [--cache /tmp/gatewatch_bench_cache]

Runs gatewatch's pipeline (YuNet + norm_crop + SFace) and, when it is installed, the
face_recognition library (dlib) as the peer on the same photos in the same run. Embeddings are
cached per folder (--cache) so that the analysis can be re-run without embedding again.

Open set (NIST FRTE convention): every third identity (three rotations, pooled) is a stranger, the
others enroll their first photo and probe with the rest. FNIR at FPIR 0.003 and 0.01 per method;
the default operating point (threshold from the shipped calibration curve for the gallery's size);
the curve's extrapolation checked against real galleries of other people; and what the default
costs in residents not named at larger galleries. --json FILE also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.calibration import CalibrationCurve, fit_curve, load_curve  # noqa: E402
from scripts.openset import (  # noqa: E402
    EmbeddingSet,
    Searches,
    embed_dlib,
    embed_ours,
    genuine_scores,
    impostor_scores,
    search,
    top2,
)

FPIRS = (0.003, 0.01)
SCALE_SIZES = (100, 267, 500, 1000, 5000, 33000)


@dataclass
class Verification:
    system: str
    dataset: str
    images: int
    no_face: int
    impostor_pairs: int
    genuine_pairs: int
    tar_far_1e3: float
    tar_far_1e4: float
    tar_far_1e5: float


@dataclass
class OpenSet:
    system: str
    dataset: str
    method: str
    persons: int  # enrolled persons per rotation (mean)
    templates: int  # gallery templates per rotation (mean): the N of FPIR
    mated: int
    nonmated: int
    rank1: float
    fnir_fpir_0003: float
    thr_fpir_0003: float
    fnir_fpir_001: float
    thr_fpir_001: float


def tar_at_far(gen: np.ndarray, imp: np.ndarray, far: float) -> float:
    s = np.sort(imp)[::-1]
    k = int(np.floor(far * len(s)))
    t = s[k] if k < len(s) else s[-1]
    return round(float((gen > t).mean()), 4)


def verification(system: str, s: EmbeddingSet) -> Verification:
    gen, imp = genuine_scores(s), impostor_scores(s)
    return Verification(
        system, s.name, len(s.ids), int((~s.ok).sum()), len(imp), len(gen),
        tar_at_far(gen, imp, 1e-3), tar_at_far(gen, imp, 1e-4), tar_at_far(gen, imp, 1e-5),
    )  # fmt: skip


@dataclass(frozen=True)
class Split:
    """One rotation: who is enrolled (with which photos) and who probes."""

    enrolled: list[str]
    templates: np.ndarray  # photo rows
    owner: np.ndarray  # person index per template
    probes: np.ndarray  # photo rows
    probe_person: np.ndarray  # person index, -1 for a stranger


def make_split(
    s: EmbeddingSet, rotation: int, n_enroll: int = 1, min_photos: int = 1, probe_from: int = 0
) -> Split:
    """Every third identity (from ``rotation``) is a stranger; the others enroll ``n_enroll``
    photos (only those with ``min_photos``) and probe from photo ``max(n_enroll, probe_from)``."""
    by_id = s.by_identity()
    ids = sorted(by_id)
    strangers = set(ids[rotation::3])
    enrolled = [i for i in ids if i not in strangers and len(by_id[i]) >= min_photos]
    index = {p: k for k, p in enumerate(enrolled)}
    rows = [(j, index[p]) for p in enrolled for j in by_id[p][:n_enroll]]
    first = max(n_enroll, probe_from)
    probes = [(j, -1) for p in ids if p in strangers for j in by_id[p]]
    probes += [(j, index[p]) for p in enrolled for j in by_id[p][first:]]
    return Split(
        enrolled, np.array([r for r, _ in rows]), np.array([o for _, o in rows]),
        np.array([r for r, _ in probes]), np.array([o for _, o in probes]),
    )  # fmt: skip


def run_split(s: EmbeddingSet, sp: Split, mean: bool = False) -> Searches:
    return search(
        s.emb[sp.probes], sp.probe_person, s.emb[sp.templates], sp.owner, len(sp.enrolled),
        s.ok[sp.probes], mean=mean, metric=s.metric,
    )  # fmt: skip


def pooled(s: EmbeddingSet, mean: bool = False, **split_kw: int) -> tuple[Searches, float, float]:
    out: Searches | None = None
    persons, templates = [], []
    for r in range(3):
        sp = make_split(s, r, **split_kw)
        res = run_split(s, sp, mean)
        out = res if out is None else out + res
        persons.append(len(sp.enrolled))
        templates.append(len(sp.templates) if not mean else len(sp.enrolled))
    assert out is not None
    return out, float(np.mean(persons)), float(np.mean(templates))


def open_row(system: str, s: EmbeddingSet, method: str, r: Searches, persons: float,
             templates: float, margin: float = 0.0) -> OpenSet:  # fmt: skip
    return OpenSet(
        system, s.name, method, round(persons), round(templates), r.n_mated, r.n_nonmated,
        round(r.rank1(), 4),
        round(r.fnir_at_fpir(0.003, margin), 4), round(r.threshold_at_fpir(0.003, margin), 4),
        round(r.fnir_at_fpir(0.01, margin), 4), round(r.threshold_at_fpir(0.01, margin), 4),
    )  # fmt: skip


def cohort_stats(x: np.ndarray, cohort: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of each row's ``k`` best scores against the cohort."""
    c = np.sort(x @ cohort.T, axis=1)[:, -k:]
    return c.mean(axis=1), c.std(axis=1)


def snorm_searches(s: EmbeddingSet, adaptive_k: int | None) -> Searches:
    """Score normalisation against a cohort of non-resident faces: in each rotation half of the
    strangers are the cohort (their photos and mirrors), the other half probe; then swapped."""
    out: Searches | None = None
    by_id = s.by_identity()
    ids = sorted(by_id)
    for r in range(3):
        strangers = ids[r::3]
        for half in range(2):
            cohort_ids, probe_ids = strangers[half::2], set(strangers[1 - half :: 2])
            sp = make_split(s, r)
            keep = np.array([p >= 0 or s.ids[j] in probe_ids
                             for j, p in zip(sp.probes, sp.probe_person, strict=True)])  # fmt: skip
            rows = np.array([j for i in cohort_ids for j in by_id[i]])
            cohort = s.emb[rows] if s.flip is None else np.concatenate([s.emb[rows], s.flip[rows]])
            g, p = s.emb[sp.templates], s.emb[sp.probes[keep]]
            who, ok = sp.probe_person[keep], s.ok[sp.probes[keep]]
            if adaptive_k is None:
                res = search(p, who, g, sp.owner, len(sp.enrolled), ok)
            else:
                mg, sg = cohort_stats(g, cohort, adaptive_k)
                mp, sq = cohort_stats(p, cohort, adaptive_k)
                raw = p @ g.T
                z = 0.5 * ((raw - mg[None]) / sg[None] + (raw - mp[:, None]) / sq[:, None])
                best, top, second = top2(z.astype(np.float32))
                res = Searches(top, second, best == who, who >= 0)
            out = res if out is None else out + res
    assert out is not None
    return out


def open_set_rows(system: str, s: EmbeddingSet) -> list[OpenSet]:
    rows = []
    r, persons, templates = pooled(s)
    rows.append(open_row(system, s, "1 photo", r, persons, templates))
    if system.startswith("gatewatch"):
        for m in (0.03, 0.05, 0.10):
            rows.append(open_row(system, s, f"1 photo, margin {m:.2f}", r, persons, templates, m))
        f = s.with_flip_tta()
        rf, _, _ = pooled(f)
        rows.append(open_row(system, s, "1 photo, flip TTA", rf, persons, templates))
        for label, k in (("raw (same split as s-norm)", None), ("s-norm, cohort", 10**6),
                         ("adaptive s-norm, top 100", 100)):  # fmt: skip
            rn = snorm_searches(s, None if k is None else k)
            rows.append(open_row(system, s, label, rn, persons, templates))
    # Several enrollment photos: identities with 3+ photos, the same probes (photo 3 on).
    variants = [(s, "")] + ([(s.with_flip_tta(), ", flip TTA")] if s.flip is not None else [])
    for emb, tag in variants:
        r1, p1, t1 = pooled(emb, min_photos=3, probe_from=2)
        rows.append(open_row(system, s, f"3+ photo ids: 1 photo{tag}", r1, p1, t1))
        r2, p2, t2 = pooled(emb, n_enroll=2, min_photos=3)
        rows.append(open_row(system, s, f"3+ photo ids: 2 photos, max{tag}", r2, p2, t2))
        r3, p3, t3 = pooled(emb, mean=True, n_enroll=2, min_photos=3)
        rows.append(open_row(system, s, f"3+ photo ids: 2 photos, mean{tag}", r3, p3, t3))
    return rows


def default_point(s: EmbeddingSet, curve: CalibrationCurve, tta: str) -> dict[str, object]:
    """Rotation 0 (every third identity from the first a stranger), one photo, the shipped curve's
    threshold for that gallery's size at FPIR 0.003 (margin rule as configured by default)."""
    emb = s.with_flip_tta() if tta == "flip" else s
    sp = make_split(emb, 0)
    res = run_split(emb, sp)
    t = curve.threshold_for(len(sp.templates), 0.003)
    return {
        "dataset": s.name,
        "tta": tta,
        "gallery_templates": len(sp.templates),
        "threshold": t,
        "strangers": res.n_nonmated,
        "strangers_named": int(res.accepted(t, 0.05)[~res.mated].sum()),
        "fpir": round(res.fpir(t, 0.05), 4),
        "enrolled_probes": res.n_mated,
        "rank1": round(res.rank1(), 4),
        "named_right": round(1 - res.fnir(t, 0.05), 4),
    }


def check_extrapolation(s: EmbeddingSet, extra: list[EmbeddingSet], seed: int = 1) -> list[dict]:
    """The FPIR formula against real galleries it was not fitted on: the curve is fitted on the
    impostor pairs of half the identities; galleries of N other people (one photo each) are drawn
    from the other half, every photo of that half probes as a stranger. Then N = 1,000 with real
    distractors (all photos and their mirrors of the other people of every folder; identities
    repeat, so the draws are correlated) and Gaussian templates fitted to real embeddings (as in
    bench_speed), whose tails are lighter than real faces'."""
    rng = np.random.default_rng(seed)
    by_id = s.by_identity()
    ids = sorted(by_id)
    half_a, half_b = ids[0::2], ids[1::2]
    rows_a = np.array([j for i in half_a for j in by_id[i]])
    sub = EmbeddingSet(s.name, [s.paths[j] for j in rows_a], [s.ids[j] for j in rows_a],
                       s.emb[rows_a], None, None, s.ok[rows_a])  # fmt: skip
    curve = fit_curve(impostor_scores(sub), pack="sface", tta="none", source="half A", floor=-1.0)
    probes = np.array([j for i in half_b for j in by_id[i]])
    out = []
    for n in (50, 100, 199):
        tops = []
        for _ in range(10):
            pick = {i: int(rng.choice(by_id[i])) for i in half_b}
            for q in probes:
                others = [pick[i] for i in half_b if i != s.ids[q]]
                g = rng.choice(others, min(n, len(others)), replace=False)
                tops.append(float((s.emb[g] @ s.emb[q]).max()))
        t_arr = np.array(tops)
        for x in (0.003, 0.01, 0.03):
            t = curve.threshold_for(n, x)
            out.append({"gallery": f"{n} real persons (held out)", "target_fpir": x,
                        "threshold": t, "searches": len(t_arr),
                        "observed_fpir": round(float((t_arr >= t).mean()), 4)})  # fmt: skip
    full = fit_curve(impostor_scores(s), pack="sface", tta="none", source="all", floor=-1.0)
    pool = [s.emb, s.flip] + [e for x in extra for e in (x.emb, x.flip) if e is not None]
    pool_ids = list(s.ids) * 2 + [f"{x.name}/{i}" for x in extra for _ in (0, 1) for i in x.ids]
    pool_e, pool_who = np.concatenate(pool), np.array(pool_ids)
    sims = s.emb @ pool_e.T
    who = np.array(s.ids)
    tops = []
    for q in range(len(who)):
        cand = np.flatnonzero(pool_who != who[q])
        tops.append(float(sims[q, rng.choice(cand, 1000, replace=False)].max()))
    t_arr = np.array(tops)
    for x in (0.003, 0.01, 0.03):
        t = full.threshold_for(1000, x)
        out.append({"gallery": "1000 real photos+mirrors (people repeat)", "target_fpir": x,
                    "threshold": t, "searches": len(t_arr),
                    "observed_fpir": round(float((t_arr >= t).mean()), 4)})  # fmt: skip
    from scripts.bench_speed import _sample

    mu = s.emb.mean(axis=0)
    means = np.stack([s.emb[by_id[p]].mean(axis=0) for p in ids])
    between = np.cov((means - mu).T)
    for n in (1000, 33000):
        x_ = (mu + _sample(between, n, np.random.default_rng(7))).astype(np.float32)
        x_ /= np.linalg.norm(x_, axis=1, keepdims=True)
        t_arr = (s.emb @ x_.T).max(axis=1)
        for x in (0.003, 0.01, 0.03):
            t = full.threshold_for(n, x)
            out.append({"gallery": f"{n} Gaussian templates (synthetic)", "target_fpir": x,
                        "threshold": t, "searches": len(t_arr),
                        "observed_fpir": round(float((t_arr >= t).mean()), 4)})  # fmt: skip
    return out


def cost_at_scale(system: str, s: EmbeddingSet, curve: CalibrationCurve) -> list[dict]:
    """Residents not named (FNIR) at the threshold the curve gives for larger galleries, from the
    mated searches of the open set (rank-1 errors measured at the set's own size): one photo per
    person, and two photos averaged into one template (people with 3+ photos)."""
    one, _, _ = pooled(s)
    two, _, _ = pooled(s, mean=True, n_enroll=2, min_photos=3)
    out = []
    for n in SCALE_SIZES:
        t = curve.threshold_for(n, 0.003)
        row = {"system": system, "dataset": s.name, "gallery": n, "threshold": round(t, 4)}
        row |= {"fnir_1_photo": round(one.fnir(t), 4), "mated": one.n_mated}
        row |= {"fnir_2_photos_mean": round(two.fnir(t), 4), "mated_2": two.n_mated}
        out.append(row)
    return out


def print_table(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    print(f"\n## {title}")
    cols = list(rows[0])
    print(" | ".join(cols))
    for row in rows:
        print(" | ".join(str(row[c]) for c in cols))


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--faces", type=Path, action="append", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--no-peer", action="store_true", help="skip face_recognition even if present")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    ours = {f.name: embed_ours(f, args.cache, args.threads) for f in args.faces}
    peers = {} if args.no_peer else {f.name: embed_dlib(f, args.cache) for f in args.faces}
    if not args.no_peer and any(v is None for v in peers.values()):
        print("peer: face_recognition not installed (pip install dlib-bin face_recognition_models"
              " && pip install --no-deps face_recognition); running ours alone")  # fmt: skip
    systems: list[tuple[str, dict[str, EmbeddingSet]]] = [("gatewatch (YuNet+SFace)", ours)]
    if peers and all(v is not None for v in peers.values()):
        systems.append(("face_recognition (dlib)", {k: v for k, v in peers.items() if v}))
    # The news-photo curve these numbers were measured with (the East-Asian one:
    # scripts/bench_openset_scale.py).
    plain = load_curve("sface", "none", population="general")
    flip = load_curve("sface", "flip", population="general")
    results: dict[str, list] = {"verification": [], "open_set": [], "default_point": [],
                                "extrapolation": [], "cost_at_scale": []}  # fmt: skip
    for system, sets in systems:
        for s in sets.values():
            results["verification"].append(asdict(verification(system, s)))
            results["open_set"] += [asdict(r) for r in open_set_rows(system, s)]
    for s in ours.values():
        for tta, curve in (("none", plain), ("flip", flip)):
            if curve is not None:
                results["default_point"].append(default_point(s, curve, tta))
                emb = s.with_flip_tta() if tta == "flip" else s
                results["cost_at_scale"] += cost_at_scale(f"gatewatch, TTA {tta}", emb, curve)
    for system, sets in systems[1:]:  # the peer, with a curve fitted the same way on its pairs
        dev = next(iter(sets.values()))
        peer_curve = fit_curve(impostor_scores(dev), pack="dlib", tta="none", source=dev.name,
                               floor=-10.0)  # fmt: skip
        for s in sets.values():
            results["cost_at_scale"] += cost_at_scale(system, s, peer_curve)
    first = next(iter(ours.values()))
    results["extrapolation"] = check_extrapolation(first, list(ours.values())[1:])
    for title, rows in results.items():
        print_table(title, rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
