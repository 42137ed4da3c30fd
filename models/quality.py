"""Face quality: size, sharpness, pose and detector score, combined into one score with reasons."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from contract.config import QualityConfig
from models.imageio import BGRImage

# Where the nose tip sits between the eye line and the mouth line on a frontal face (ArcFace
# template: eyes y=51.6, nose 71.7, mouth 92.3).
_FRONTAL_NOSE_T = (71.7366 - 51.6) / (92.28 - 51.6)
# Depth of the nose tip in front of the eye plane, relative to the inter-ocular distance: it turns
# the nose's sideways shift into an angle. A rough anthropometric constant; pose is an estimate.
_NOSE_DEPTH = 0.55


@dataclass(frozen=True)
class Quality:
    """How usable one face is; ``reasons`` names each failed check, empty when all pass."""

    score: float
    interocular_px: float
    sharpness: float
    yaw_deg: float
    pitch_deg: float
    det_score: float
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons


def estimate_pose(landmarks: npt.NDArray[np.float32]) -> tuple[float, float]:
    """Rough yaw and pitch in degrees from 5 landmarks (eyes, nose, mouth corners)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    eye_r, eye_l, nose, mouth_r, mouth_l = lm
    # Rotate so the eyes lie on a horizontal line: roll must not read as yaw.
    d = eye_l - eye_r
    iod = float(np.hypot(*d))
    if iod < 1e-6:
        return 90.0, 90.0
    c, s = d / iod
    rot = np.array([[c, s], [-s, c]])
    eye_mid = (eye_r + eye_l) / 2
    mouth_mid = (mouth_r + mouth_l) / 2
    n = rot @ (nose - eye_mid)
    m = rot @ (mouth_mid - eye_mid)
    axis_x = m[0] * (n[1] / m[1]) if abs(m[1]) > 1e-6 else 0.0  # face midline at the nose height
    yaw = math.degrees(math.atan2((n[0] - axis_x) / iod, _NOSE_DEPTH))
    t = n[1] / m[1] if abs(m[1]) > 1e-6 else 0.0
    pitch = math.degrees(math.atan2(t - _FRONTAL_NOSE_T, _NOSE_DEPTH))
    return yaw, pitch


def sharpness(aligned: BGRImage) -> float:
    """Variance of the Laplacian of the aligned crop's grey levels."""
    grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def assess_quality(
    landmarks: npt.NDArray[np.float32],
    aligned: BGRImage,
    det_score: float,
    config: QualityConfig,
) -> Quality:
    """Score one face in [0, 1]; each hard threshold that fails adds a ``code: detail`` reason."""
    lm = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    iod = float(np.hypot(*(lm[1] - lm[0])))
    sharp = sharpness(aligned)
    yaw, pitch = estimate_pose(lm)
    reasons = []
    if iod < config.min_interocular_px:
        reasons.append(f"small_face: inter-ocular {iod:.1f} px < {config.min_interocular_px:g}")
    if sharp < config.min_sharpness:
        reasons.append(f"blurry: sharpness {sharp:.1f} < {config.min_sharpness:g}")
    if abs(yaw) > config.max_yaw_deg:
        reasons.append(f"turned: yaw {yaw:+.0f} deg beyond {config.max_yaw_deg:g}")
    if abs(pitch) > config.max_pitch_deg:
        reasons.append(f"tilted: pitch {pitch:+.0f} deg beyond {config.max_pitch_deg:g}")
    if det_score < config.min_det_score:
        reasons.append(f"low_det_score: {det_score:.2f} < {config.min_det_score:g}")
    size_s = 0.2 + 0.8 * _ramp(iod, config.min_interocular_px, config.good_interocular_px)
    sharp_s = 0.2 + 0.8 * _ramp(sharp, config.min_sharpness, config.good_sharpness)
    pose_s = 1.0 - max(abs(yaw) / 90.0, abs(pitch) / 90.0)
    det_s = float(np.clip(det_score, 0.0, 1.0))
    # Geometric mean: one bad aspect pulls the whole score down, none alone zeroes it.
    score = float(np.prod([size_s, sharp_s, max(pose_s, 0.0), det_s]) ** 0.25)
    if score < config.min_quality and not reasons:
        reasons.append(f"low_quality: {score:.2f} < {config.min_quality:g}")
    return Quality(
        score=round(score, 4),
        interocular_px=iod,
        sharpness=sharp,
        yaw_deg=yaw,
        pitch_deg=pitch,
        det_score=float(det_score),
        reasons=tuple(reasons),
    )
