#!/usr/bin/env python3
"""The calibration curve's extrapolation against real galleries padded with distractors.

Usage: python scripts/bench_openset_scale.py [--cache /tmp/gatewatch_bench_cache] [--json FILE]

For each population (faces_east_asian_dev with the east_asian curve, faces_wide_dev with the
general curve): every third identity of the set is a stranger (three rotations, pooled), the others
enroll their first photo ("single"), or their first 2-3 photos ("multi"), and every photo of
distractors_dev is enrolled as a person of its own (the starface portraits of
faces_east_asian_dev's people and the UTKFace crops of faces_wide_dev's left out; with and without
the children, age < 18). Galleries of N = 500, 1,000, 2,000 and the largest the data allows (the
enrolled people plus random distractors). Every stranger photo is searched; a stranger is named
when any template of any person reaches the threshold (FPIR counted per person, as the curve
predicts it) and, as the gate decides, also with the margin rule (0.05 over the runner-up person).
The threshold for each target FPIR comes from the curve for the gallery's persons and template
counts; beside it the curve's prediction, and FNIR: enrolled people's other photos not named as
themselves. Works on cached embeddings (scripts/openset.py's embed_ours).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.calibration import CalibrationCurve, load_curve  # noqa: E402
from models.perperson import GallerySize  # noqa: E402
from scripts.openset import (  # noqa: E402
    NOT_DISTRACTORS,
    EmbeddingSet,
    distractors,
    embed_ours,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
TARGETS = (0.003, 0.01, 0.03)
SIZES = (500, 1000, 2000)
MARGIN = 0.05
SETS = {"east_asian": "faces_east_asian_dev", "general": "faces_wide_dev"}


@dataclass
class Row:
    population: str
    curve: str
    children: bool
    templates_mode: str
    n_persons: int
    n_templates: int
    target: float
    threshold: float
    predicted_fpir: float
    strangers: int
    named: int
    fpir: float
    named_with_margin: int
    fpir_with_margin: float
    mated: int
    fnir: float


@dataclass(frozen=True)
class Trial:
    """One rotation: the gallery's template rows and owners, stranger and mated probes."""

    templates: np.ndarray  # [T, d]
    owner: np.ndarray  # [T] person index
    dev_persons: int  # persons 0 .. dev_persons-1 are the set's people, the rest distractors
    strangers: np.ndarray  # [S, d]
    mated: np.ndarray  # [M, d]
    mated_person: np.ndarray  # [M]


def trial(s: EmbeddingSet, pad: np.ndarray, rotation: int, multi: bool) -> Trial:
    by = {p: [i for i in rows if s.ok[i]] for p, rows in sorted(s.by_identity().items())}
    people = [p for p, rows in by.items() if rows]
    rows_t, owner, strangers, mated, mated_p = [], [], [], [], []
    person = 0
    for i, p in enumerate(people):
        rows = by[p]
        if i % 3 == rotation:
            strangers.extend(rows)
            continue
        k = min(3, max(1, len(rows) - 1)) if multi else 1
        rows_t.extend(rows[:k])
        owner.extend([person] * k)
        mated.extend(rows[k:])
        mated_p.extend([person] * len(rows[k:]))
        person += 1
    t = np.concatenate([s.emb[rows_t], pad])
    o = np.concatenate([np.asarray(owner), person + np.arange(len(pad))])
    return Trial(t, o, person, s.emb[strangers], s.emb[mated], np.asarray(mated_p))


def person_top2(scores: np.ndarray, owner: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, ...]:
    """Best person, best and runner-up person score per row, over the persons in ``keep``."""
    cols = np.flatnonzero(keep[owner])
    sub, own = scores[:, cols], owner[cols]
    order = np.argsort(own, kind="stable")
    sub, own = sub[:, order], own[order]
    starts = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
    per = np.maximum.reduceat(sub, starts, axis=1)
    who = own[starts]
    part = np.argpartition(-per, 1, axis=1)[:, :2]
    r = np.arange(len(per))
    a, b = per[r, part[:, 0]], per[r, part[:, 1]]
    best = np.where(b > a, part[:, 1], part[:, 0])
    return who[best], np.maximum(a, b), np.minimum(a, b)


def run(
    population: str, curve: CalibrationCurve, s: EmbeddingSet, pad: np.ndarray, children: bool,
    multi: bool, rng: np.random.Generator,
) -> list[Row]:
    out = []
    for n_target in (*SIZES, None):
        acc: dict[float, list[float]] = {t: [0, 0, 0, 0, 0, 0, 0.0, 0.0, 0, 0] for t in TARGETS}
        for rot in range(3):
            tr = trial(s, pad, rot, multi)
            n_all = int(tr.owner.max()) + 1
            n = n_all if n_target is None else min(n_target, n_all)
            keep = np.zeros(n_all, bool)
            keep[: tr.dev_persons] = True
            extra = rng.choice(np.arange(tr.dev_persons, n_all), n - tr.dev_persons, replace=False)
            keep[extra] = True
            counts = np.bincount(tr.owner[keep[tr.owner]])
            size = GallerySize.of_counts(int(c) for c in counts if c)
            st = tr.strangers @ tr.templates.T
            _, top, second = person_top2(st, tr.owner, keep)
            mt = tr.mated @ tr.templates.T
            who, mtop, msec = person_top2(mt, tr.owner, keep)
            for target in TARGETS:
                t = curve.threshold_for(size, target)
                a = acc[target]
                a[0] += size.persons
                a[1] += size.templates
                a[2] += len(top)
                a[3] += int((top >= t).sum())
                a[4] += int(((top >= t) & (top - second >= MARGIN)).sum())
                a[5] += len(mtop)
                a[6] += t / 3
                a[7] += curve.fpir(size, t) / 3
                ok = (who == tr.mated_person) & (mtop >= t) & (mtop - msec >= MARGIN)
                a[8] += int((~ok).sum())
        for target, a in acc.items():
            out.append(Row(population, curve.label, children, "multi" if multi else "single",
                           round(a[0] / 3), round(a[1] / 3), target, round(a[6], 4),
                           round(a[7], 5), int(a[2]), int(a[3]), round(a[3] / a[2], 5),
                           int(a[4]), round(a[4] / a[2], 5), int(a[5]),
                           round(a[8] / max(a[5], 1), 4)))  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--distractors", type=Path, default=SHARED / "distractors_dev")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--also-other-curve", action="store_true",
                    help="also each set with the other population's curve")  # fmt: skip
    args = ap.parse_args()
    d = embed_ours(args.distractors, args.cache)
    rows = [r for r in distractors(args.distractors)
            if d.ok[r.index] and r.identity not in NOT_DISTRACTORS]  # fmt: skip
    out: list[Row] = []
    for population, folder in SETS.items():
        s = embed_ours(SHARED / folder, args.cache)
        others = [p for p in SETS if p != population]
        curves = [population] + (others if args.also_other_curve else [])
        for curve_pop in curves:
            curve = load_curve("sface", "none", population=curve_pop)  # type: ignore[arg-type]
            assert curve is not None
            for children in (True, False):
                pad = d.emb[[r.index for r in rows if children or r.adult]]
                for multi in (False, True):
                    rng = np.random.default_rng(0)
                    out += run(folder, curve, s, pad, children, multi, rng)
    hdr = (f"{'set':22} {'curve':10} {'kids':4} {'tmpl':6} {'N':>5} {'T':>5} {'target':>6} "
           f"{'thr':>6} {'pred':>7} {'named':>9} {'FPIR':>7} {'+margin':>7} "
           f"{'FNIR':>6}")  # fmt: skip
    print(hdr)
    for r in out:
        cp = r.curve.split(":")[0].split()[-1]
        print(f"{r.population:22} {cp:10} {'yes' if r.children else 'no':4} "
              f"{r.templates_mode:6} {r.n_persons:5d} {r.n_templates:5d} {r.target:6g} "
              f"{r.threshold:6.3f} {r.predicted_fpir:7.4f} {r.named:4d}/{r.strangers:<4d} "
              f"{r.fpir:7.4f} {r.fpir_with_margin:7.4f} {r.fnir:6.3f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in out], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
