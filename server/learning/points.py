"""The calibrated points the server checks gate captures against, from its own gallery's size
(never only the edge's word): naming threshold, review floor, learning point, anchor."""

from __future__ import annotations

from dataclasses import dataclass

from models.calibration import CalibrationCurve, load_curve
from models.engine import CALIBRATED_THRESHOLD
from models.learning import LearningPolicy
from server.config import ServerConfig


def site_curve(cfg: ServerConfig) -> CalibrationCurve | None:
    """The pack's calibration curve for the population the gates serve.

    The site setting ``population`` (East-Asian by default for a zh-CN site) is not in this
    branch yet: until it is, the pack's general curve. The one place to change when it lands.
    """
    face = cfg.face
    return load_curve(face.pack, "flip" if face.flip_tta else "none", face.pack_dir)


@dataclass(frozen=True)
class Points:
    """The points in force for a gallery of ``templates`` templates."""

    templates: int
    naming: float  # the edges' naming threshold (learning.target_fpir)
    review_floor: float
    learn: float
    anchor: float
    same_face: float  # a capture this close to a rejected one is the rejected face again


def points(
    cfg: ServerConfig, curve: CalibrationCurve | None, policy: LearningPolicy, templates: int
) -> Points:
    fixed = CALIBRATED_THRESHOLD.get(cfg.face.pack, 0.36)
    n = max(1, templates)
    if cfg.face.match_threshold is not None:
        naming = cfg.face.match_threshold
    elif curve is not None:
        naming = max(fixed, curve.threshold_for(n, cfg.learning.target_fpir))
    else:
        naming = fixed
    same = cfg.learning.same_visitor_threshold
    return Points(
        templates=n,
        naming=naming,
        review_floor=policy.review_floor(curve, n, naming),
        learn=policy.learn_point(curve, n, naming),
        anchor=policy.anchor(curve, fixed),
        same_face=naming if same is None else same,
    )
