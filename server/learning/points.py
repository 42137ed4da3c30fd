"""The calibrated points the server checks gate captures against, from its own gallery's size
(never only the edge's word): naming threshold, review floor, learning point, anchor."""

from __future__ import annotations

from dataclasses import dataclass, replace

from models.calibration import CalibrationCurve, load_curve
from models.engine import CALIBRATED_THRESHOLD
from models.learning import FUSED_FAR_RATIO, LearningPolicy
from models.perperson import GallerySize
from server.config import ServerConfig


def site_curve(cfg: ServerConfig) -> CalibrationCurve | None:
    """The pack's calibration curve for the population the gates serve (the site setting
    ``population``: East-Asian by default for a zh-CN site), as the edges pick it."""
    face = cfg.face
    tta = "flip" if face.flip_tta else "none"
    return load_curve(face.pack, tta, face.pack_dir, population=cfg.site_population)


@dataclass(frozen=True)
class Points:
    """The points in force for a gallery of this size (persons and their templates)."""

    size: GallerySize
    naming: float  # the edges' naming threshold (learning.target_fpir)
    review_floor: float
    visitor_floor: float  # a visitor's capture at or above it counts for the returning rule
    learn: float
    anchor: float
    same_face: float  # a capture this close to a rejected one is the rejected face again


def points(
    cfg: ServerConfig, curve: CalibrationCurve | None, policy: LearningPolicy, size: GallerySize
) -> Points:
    fixed = CALIBRATED_THRESHOLD.get(cfg.face.pack, 0.36)
    n = size if size.persons else GallerySize.singles(1)
    # The edges score fused templates (decision.fusion: mean): the same correction as theirs.
    k = FUSED_FAR_RATIO if cfg.learning.fusion == "mean" else 1.0
    policy = replace(
        policy,
        review_fpir=policy.review_fpir / k,
        learn_fpir=policy.learn_fpir / k,
        anchor_far=policy.anchor_far / k,
    )
    if cfg.face.match_threshold is not None:
        naming = cfg.face.match_threshold
    elif curve is not None:
        naming = max(fixed, curve.threshold_for(n, cfg.learning.target_fpir / k))
    else:
        naming = fixed
    same = cfg.learning.same_visitor_threshold
    return Points(
        size=n,
        naming=naming,
        review_floor=policy.review_floor(curve, n, naming),
        visitor_floor=policy.visitor_floor(curve, n, naming),
        learn=policy.learn_point(curve, n, naming),
        anchor=policy.anchor(curve, fixed),
        same_face=naming if same is None else same,
    )
