"""The gallery that learns at the gate: the calibrated points that guard it, shared by the edge
(which passages carry a capture), the server (which captures become review items or templates)
and the benchmarks (scripts/bench_week.py), so all three apply one rule.

Three points, each from the pack's calibration curve for the population the gates serve:

- **review floor**: the threshold at ``review_fpir`` (one stranger passage in five reaches it:
  0.2 lifted residents named on day 7 of scripts/bench_week.py from 0.82 at 0.05 to 0.92, for
  about twice the review items). A passage not named whose best person scored between the
  floor and the naming threshold is a *near miss*: an officer is asked "是否为 <name>？".
- **visitor floor**: the threshold at ``returning_fpir`` (about half of strangers reach it). A
  visitor passage whose best person scored between this floor and the review floor carries a
  capture too, but becomes a review item only if the visitor id keeps coming back (on
  ``returning_days`` of the last ``returning_window_days`` local days): a resident the gallery
  matches poorly, passing every day as a visitor.
- **learning point**: the threshold at ``learn_fpir`` (far stricter than naming). A passage named
  at or above it from at least ``learn_min_frames`` frames with a margin of at least
  ``learn_margin`` may add its template to the person automatically...
- **anchor**: ...but only if that template also matches one of the person's *enrollment*
  templates at or above the one-to-one threshold at ``anchor_far`` (one comparison). Learned
  templates are never anchors, so a wrong name can never snowball into a new identity.

A capture that scores ``already_held`` or more against one of the person's templates adds
nothing and is not learned. At most ``max_gate_templates`` gate templates per person (oldest
replaced first), and at most one automatic addition per person per local day. Enrollment
templates are never replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.calibration import CalibrationCurve
from models.perperson import GallerySize

F32 = npt.NDArray[np.float32]
Size = int | GallerySize

# A fused template (decision.fusion: mean) is shorter than 1 before normalising when its frames
# differ, so a stranger's fused score runs higher than their vote. Measured through the edge
# (scripts/bench_gate.py --walk-photos 3 --record; 150 East-Asian and 134 news-photo stranger
# walks against 5,534 and 5,381 templates): fused stranger templates passed a threshold 1.9-3.2
# times as often as the vote's per-person means, more in the tail. The calibration curve is of
# single comparisons, so fusion asks it for the target shares divided by this (with room).
FUSED_FAR_RATIO = 4.0
# The server applies it too, to the points it checks the edges' fused templates against.

# Without a curve (an uncalibrated pack) the band is this far below the naming threshold and the
# learning point this far above it.
UNCALIBRATED_BAND = 0.08
UNCALIBRATED_LEARN_ABOVE = 0.15


@dataclass(frozen=True)
class LearningPolicy:
    """How a gate capture may become a template. Defaults measured in scripts/bench_week.py."""

    review_fpir: float = 0.2
    returning_fpir: float = 0.5
    returning_days: int = 3
    returning_window_days: int = 7
    learn_fpir: float = 1e-4
    learn_min_frames: int = 3
    learn_margin: float = 0.10
    anchor_far: float = 1e-4
    max_gate_templates: int = 5
    already_held: float = 0.95  # a template this close to one of the person's adds nothing
    auto_per_day: int = 1

    def review_floor(
        self, curve: CalibrationCurve | None, gallery_size: Size, threshold: float
    ) -> float:
        """Lower edge of the review band below the naming ``threshold`` (never above it)."""
        if curve is None:
            return threshold - UNCALIBRATED_BAND
        return min(threshold, curve.threshold_for(gallery_size, self.review_fpir))

    def visitor_floor(
        self, curve: CalibrationCurve | None, gallery_size: Size, threshold: float
    ) -> float:
        """Lowest score for which a visitor passage carries a capture (returning-visitor rule)."""
        floor = self.review_floor(curve, gallery_size, threshold)
        if curve is None:
            return floor - UNCALIBRATED_BAND
        return min(floor, max(curve.floor, curve.threshold_for(gallery_size, self.returning_fpir)))

    def learn_point(
        self, curve: CalibrationCurve | None, gallery_size: Size, threshold: float
    ) -> float:
        """Score a named passage must reach to be learned automatically (never below naming)."""
        if curve is None:
            return threshold + UNCALIBRATED_LEARN_ABOVE
        return max(threshold, curve.threshold_for(gallery_size, self.learn_fpir))

    def anchor(self, curve: CalibrationCurve | None, fixed: float) -> float:
        """One-to-one threshold a learned template must reach against an enrollment template."""
        if curve is None:
            return fixed + UNCALIBRATED_LEARN_ABOVE
        return curve.threshold_for(1, self.anchor_far)

    def may_learn(self, score: float, margin: float, frames: int, learn_point: float) -> bool:
        """Whether a named passage is strong enough to be offered for automatic learning."""
        return (
            score >= learn_point
            and margin >= self.learn_margin
            and frames >= self.learn_min_frames
        )


def anchor_score(template: npt.ArrayLike, enrollment: npt.ArrayLike) -> float:
    """Best cosine of a (unit) template against a person's (unit) enrollment templates."""
    t = np.asarray(template, np.float32).reshape(-1)
    e = np.asarray(enrollment, np.float32)
    if e.size == 0:
        return -1.0
    e = e.reshape(len(e), -1) if e.ndim > 1 else e.reshape(1, -1)
    if e.shape[1] != t.shape[0]:
        raise ValueError(f"a {t.shape[0]}-d template against {e.shape[1]}-d templates")
    return float((e @ t).max())


def fuse(embeddings: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> F32:
    """Quality-weighted mean of unit embeddings, L2-normalised (a track's fused template)."""
    e = np.asarray(embeddings, np.float32).reshape(-1, np.asarray(embeddings).shape[-1])
    w = np.ones(len(e), np.float32) if weights is None else np.asarray(weights, np.float32)
    w = np.clip(w, 1e-3, None)
    m = (e * w[:, None]).sum(0)
    n = float(np.linalg.norm(m))
    return (m / n if n > 1e-6 else m).astype(np.float32)
