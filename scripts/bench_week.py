#!/usr/bin/env python3
"""A week at the compound's gates: does the gallery that learns at the gate name its residents?

Usage: python scripts/bench_week.py [--people ../shared/faces_east_asian_dev]
           [--distractors ../shared/distractors_dev] [--days 7] [--population east_asian]

Enrolls ONE photo per resident (the first of each resident identity), pads the gallery with every
photo of the distractor folder as a person of its own (the largest gallery the data allows; N is
printed), then simulates days of gate traffic on cached embeddings (scripts/openset.py's cache):
every resident walks once a day with another of their photos in turn, and every stranger (the
people folder's other identities) walks once a day with one of theirs in turn. Each walk is one
face template (the photo's embedding) through the same rules the product applies:

- the naming threshold from the pack's calibration curve for the population at the gallery's size
  (persons counted per person over their templates, as the edge does) and the margin rule;
- visitor ids from the edge's own VisitorGallery (24 h expiry);
- captures and review items as models/learning.py says (near misses in the review band at once,
  returning visitors on 3 of the last 7 days above the visitor floor);
- automatic learning under guard (learning point, margin, frames, the anchor against the
  enrollment photo, one per person per day, at most 5 gate templates per person);
- at the end of each day an officer answers every open review item from the data's ground truth
  (the right person: confirmed, a template is added; anyone else: rejected and never asked again).

Per day it prints: residents named right (all walks, and apart the walks whose photo is not yet a
template of the person, the only ones that prove anything), named wrong, strangers named, review
items raised / confirmed / rejected, templates learned automatically (and how many of those were
of somebody else: must be 0). Any folder in the shared sets' layout works for either role
(``<identity>/<n>.jpg`` + ``manifest.csv``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import FUSED_FAR_RATIO  # noqa: E402
from edge.visitors import VisitorGallery  # noqa: E402
from models.calibration import CalibrationCurve, load_curve  # noqa: E402
from models.gallery import Gallery  # noqa: E402
from models.learning import LearningPolicy, anchor_score  # noqa: E402
from scripts.openset import NOT_DISTRACTORS, EmbeddingSet, embed_ours  # noqa: E402

F32 = npt.NDArray[np.float32]
DAY_S = 86_400.0
FRAMES = 5  # good frames of one walk (a gate camera at 15 fps sees a face for about 2 s)
MARGIN = 0.05  # face.margin_threshold's default


@dataclass
class Enrolled:
    """A person of the gallery: a resident who walks, or a distractor who never does."""

    pid: str
    anchor: F32  # the enrollment template(s)
    photos: list[int] = field(default_factory=list)  # a resident's rows; photos[0] is enrolled
    gate: list[tuple[int, int, str]] = field(default_factory=list)  # (row, day, source)
    auto_day: int = -1


@dataclass
class Item:
    kind: str  # near_miss | returning_visitor
    person: str
    row: int  # the capture's photo
    truth: str  # who the capture really is
    visitor: str | None


@dataclass
class DayCounts:
    walks: int = 0
    right: int = 0
    wrong: int = 0
    fresh: int = 0
    fresh_right: int = 0
    fresh_wrong: int = 0
    stranger_walks: int = 0
    strangers_named: int = 0
    near_miss: int = 0
    returning: int = 0
    confirmed: int = 0
    rejected: int = 0
    auto: int = 0
    auto_wrong: int = 0
    anchor_refused: int = 0
    threshold: float = 0.0
    persons: int = 0
    templates: int = 0


class Week:
    """The simulated compound: gallery, visitors, captures, review queue, learning."""

    def __init__(
        self,
        people: EmbeddingSet,
        distractors: EmbeddingSet,
        curve: CalibrationCurve,
        policy: LearningPolicy,
        target_fpir: float,
        stranger_every: int,
    ) -> None:
        self.s, self.curve, self.policy, self.target = people, curve, policy, target_fpir
        self.gallery = Gallery(model_id="bench", dim=people.emb.shape[1])
        by_id = people.by_identity()
        self.residents: dict[str, Enrolled] = {}
        self.strangers: dict[str, list[int]] = {}
        multi = sorted(i for i, rows in by_id.items() if len([r for r in rows if people.ok[r]]) > 1)
        for k, ident in enumerate(multi):
            rows = [r for r in by_id[ident] if people.ok[r]]
            if stranger_every and k % stranger_every == stranger_every - 1:
                self.strangers[ident] = rows
            else:
                self.residents[ident] = Enrolled(ident, people.emb[rows[:1]], rows)
        for ident, rows in sorted(by_id.items()):
            ok = [r for r in rows if people.ok[r]]
            if ident not in self.residents and ident not in self.strangers and ok:
                self.strangers[ident] = ok
        pad = [(f"d-{i}", "resident", distractors.emb[i]) for i in np.flatnonzero(distractors.ok)
               if distractors.ids[i] not in NOT_DISTRACTORS]  # people of the dev sets: left out
        self.gallery.add_many(pad)
        self.gallery.add_many([(r.pid, "resident", r.anchor) for r in self.residents.values()])
        self.enrolled: dict[str, Enrolled] = {pid: Enrolled(pid, e[None]) for pid, _, e in pad}
        self.enrolled.update(self.residents)
        self.visitors = VisitorGallery(people.emb.shape[1], 0.5, DAY_S, 100_000, gate="bench")
        self.visitor_days: dict[str, set[int]] = defaultdict(set)
        self.visitor_best: dict[str, tuple[float, str, int]] = {}  # id -> (score, person, row)
        self.items: list[Item] = []
        self.asked: set[tuple[str, str | None]] = set()
        self.rejected: dict[str, list[F32]] = defaultdict(list)
        self._points: tuple[int, tuple[float, float, float, float]] = (-1, (0.0, 0.0, 0.0, 0.0))

    # -- the operating point --------------------------------------------------------------

    def points(self) -> tuple[float, float, float, float]:
        """Naming threshold, review floor, visitor floor, learning point for the gallery now."""
        if self._points[0] != self.gallery.version:
            self._points = (self.gallery.version, self._compute_points())
        return self._points[1]

    def _compute_points(self) -> tuple[float, float, float, float]:
        n = self.gallery.size()  # counted per person over their templates, as the edge does
        t = self.curve.threshold_for(n, self.target)
        p = self.policy
        return (t, p.review_floor(self.curve, n, t), p.visitor_floor(self.curve, n, t),
                p.learn_point(self.curve, n, t))  # fmt: skip

    def in_gallery(self, pid: str, row: int) -> bool:
        r = self.enrolled.get(pid)
        return r is not None and (row in r.photos[:1] or any(g[0] == row for g in r.gate))

    # -- one walk -------------------------------------------------------------------------

    def walk(self, truth: str, row: int, day: int, c: DayCounts, now: float) -> None:
        e = self.s.emb[row]
        hit = self.gallery.search(e[None], k=2)[0]
        best = hit.best
        t, review_floor, visitor_floor, learn_point = self.points()
        resident = truth in self.residents
        fresh = resident and not self.in_gallery(truth, row)
        named = best is not None and best.score >= t and hit.margin >= MARGIN
        if resident:
            c.walks += 1
            c.fresh += fresh
        else:
            c.stranger_walks += 1
        if named and best is not None:
            ok = best.person_id == truth
            if resident:
                c.right += ok
                c.wrong += not ok
                c.fresh_right += ok and fresh
                c.fresh_wrong += (not ok) and fresh
            else:
                c.strangers_named += 1
            if self.policy.may_learn(best.score, hit.margin, FRAMES, learn_point):
                self.learn(best.person_id, truth, row, day, c)
            return
        vid, _ = self.visitors.match_or_add(e, now)
        self.visitor_days[vid].add(day)
        if best is None or best.score < visitor_floor:
            return
        prev = self.visitor_best.get(vid)
        if prev is None or best.score > prev[0]:
            self.visitor_best[vid] = (best.score, best.person_id, row)
        if best.score >= review_floor:
            c.near_miss += self.ask("near_miss", best.person_id, row, truth, vid)

    def ask(self, kind: str, person: str, row: int, truth: str, vid: str | None) -> bool:
        """A review item unless this pair was asked before or a rejected face matches."""
        if (person, vid) in self.asked:
            return False
        t = self.points()[0]
        if any(float(r @ self.s.emb[row]) >= t for r in self.rejected[person]):
            return False
        self.asked.add((person, vid))
        self.items.append(Item(kind, person, row, truth, vid))
        return True

    def learn(self, person: str, truth: str, row: int, day: int, c: DayCounts) -> None:
        r = self.enrolled[person]
        if r.auto_day == day or self.in_gallery(person, row):
            return
        anchor = self.policy.anchor(self.curve, self.curve.floor)
        if anchor_score(self.s.emb[row], r.anchor) < anchor:
            c.anchor_refused += 1
            return
        r.auto_day = day
        self.add_gate(r, row, day, "auto")
        c.auto += 1
        c.auto_wrong += truth != person

    def add_gate(self, r: Enrolled, row: int, day: int, source: str) -> None:
        r.gate.append((row, day, source))
        r.gate = r.gate[-self.policy.max_gate_templates:]  # oldest gate template replaced first
        gate = self.s.emb[[g[0] for g in r.gate]]
        self.gallery.add_person(r.pid, "resident", np.concatenate([r.anchor, gate]))

    # -- the day's end --------------------------------------------------------------------

    def returning(self, day: int) -> int:
        window = range(day - self.policy.returning_window_days + 1, day + 1)
        n = 0
        for vid, days in self.visitor_days.items():
            if len([d for d in days if d in window]) >= self.policy.returning_days:
                best = self.visitor_best.get(vid)
                if best is not None:
                    score, person, row = best
                    truth = self.truth_of(row)
                    n += self.ask("returning_visitor", person, row, truth, vid)
        return n

    def truth_of(self, row: int) -> str:
        return self.s.ids[row]

    def officer(self, day: int, c: DayCounts) -> None:
        """Every open item answered from the ground truth."""
        for it in self.items:
            if it.truth == it.person and it.person in self.residents:
                r = self.residents[it.person]
                if not self.in_gallery(it.person, it.row):
                    self.add_gate(r, it.row, day, "confirmed")
                c.confirmed += 1
            else:
                self.rejected[it.person].append(self.s.emb[it.row])
                c.rejected += 1
        self.items.clear()

    def day(self, day: int) -> DayCounts:
        c = DayCounts()
        t0 = day * DAY_S + 8 * 3600
        walks: list[tuple[str, int]] = []
        for r in self.residents.values():
            walks.append((r.pid, r.photos[1 + day % (len(r.photos) - 1)]))
        for ident, rows in self.strangers.items():
            walks.append((ident, rows[day % len(rows)]))
        order = np.random.default_rng(day).permutation(len(walks))
        for k, i in enumerate(order):
            self.walk(*walks[i], day, c, t0 + k * 20.0)
        c.returning = self.returning(day)
        c.threshold = self.points()[0]
        self.officer(day, c)
        c.persons, c.templates = len(self.gallery), self.gallery.template_count
        return c


def rate(k: int, n: int, pct: bool = False) -> str:
    r = k / max(n, 1)
    return f"{r:.2%} ({k}/{n})" if pct else f"{r:.3f} ({k}/{n})"


def row(day: int, c: DayCounts) -> str:
    cells = [
        str(day), f"{c.threshold:.3f}", rate(c.right, c.walks), rate(c.fresh_right, c.fresh),
        rate(c.wrong, c.walks, True), rate(c.strangers_named, c.stranger_walks, True),
        str(c.near_miss), str(c.returning), str(c.confirmed), str(c.rejected),
        f"{c.auto} ({c.auto_wrong})", str(c.anchor_refused), f"{c.persons} / {c.templates}",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def filtered(s: EmbeddingSet, folder: Path, no_children: bool) -> EmbeddingSet:
    if not no_children:
        return s
    rows = {r["path"]: r for r in csv.DictReader((folder / "manifest.csv").open())}
    ages = [rows[p].get("age") or "" for p in s.paths]
    adult = np.array([not a.isdigit() or int(a) >= 18 for a in ages])
    return EmbeddingSet(s.name, s.paths, s.ids, s.emb, s.flip, s.quality, s.ok & adult)


def load(population: str, pack: str = "sface") -> CalibrationCurve:
    try:
        curve = load_curve(pack, "none", population=population)  # type: ignore[call-arg]
    except TypeError:  # a checkout without population curves
        curve = load_curve(pack, "none")
    if curve is None:
        raise SystemExit(f"no calibration curve for {pack}")
    return curve


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--people", type=Path, default=Path("../shared/faces_east_asian_dev"))
    ap.add_argument("--distractors", type=Path, default=Path("../shared/distractors_dev"))
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--population", default="east_asian", choices=["east_asian", "general"])
    ap.add_argument("--target-fpir", type=float, default=0.003)
    ap.add_argument("--fusion", choices=["mean", "vote"], default="mean",
                    help="the edge's decision.fusion: with mean (the default) its points are "
                    "taken at the targets / FUSED_FAR_RATIO, as the edge does")
    ap.add_argument("--stranger-every", type=int, default=3,
                    help="every k-th identity with several photos is a stranger (0: none)")
    ap.add_argument("--no-children", action="store_true", help="leave distractors under 18 out")
    ap.add_argument("--no-learning", action="store_true", help="no review, no automatic learning")
    ap.add_argument("--review-fpir", type=float, default=LearningPolicy.review_fpir)
    ap.add_argument("--returning-fpir", type=float, default=LearningPolicy.returning_fpir)
    ap.add_argument("--learn-fpir", type=float, default=LearningPolicy.learn_fpir)
    ap.add_argument("--anchor-far", type=float, default=LearningPolicy.anchor_far)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    args = ap.parse_args()
    for folder in (args.people, args.distractors):
        if not (folder / "manifest.csv").is_file():
            raise SystemExit(f"{folder}: no manifest.csv (a folder in the shared sets' layout)")
    args.cache.mkdir(parents=True, exist_ok=True)
    people = embed_ours(args.people, args.cache)
    dist = filtered(embed_ours(args.distractors, args.cache), args.distractors, args.no_children)
    k = FUSED_FAR_RATIO if args.fusion == "mean" else 1.0
    policy = LearningPolicy(review_fpir=args.review_fpir / k, returning_fpir=args.returning_fpir,
                            learn_fpir=args.learn_fpir / k, anchor_far=args.anchor_far / k)
    if args.no_learning:
        policy = LearningPolicy(review_fpir=1e-12, returning_fpir=1e-12, learn_fpir=1e-300)
    w = Week(people, dist, load(args.population), policy, args.target_fpir / k,
             args.stranger_every)
    print(f"people {args.people.name}: {len(w.residents)} residents enrolled with one photo, "
          f"{len(w.strangers)} strangers; distractors {args.distractors.name}: "
          f"{len(w.gallery) - len(w.residents)} (children {'out' if args.no_children else 'in'}); "
          f"gallery N = {len(w.gallery)} persons; population {args.population}, target FPIR "
          f"{args.target_fpir:g} (fusion {args.fusion}: the curve asked for "
          f"{args.target_fpir / k:g}){', learning off' if args.no_learning else ''}")  # fmt: skip
    print("| day | threshold | residents named right | fresh photos named right | named wrong | "
          "strangers named | near-miss items | returning-visitor items | confirmed | rejected | "
          "learned automatically (of someone else) | anchor refused | persons / templates |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    start = time.perf_counter()
    for d in range(args.days):
        c = w.day(d)
        print(row(d + 1, c), flush=True)
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
