"""5-point alignment to the 112x112 ArcFace template (InsightFace's ``norm_crop``, same maths)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from models.imageio import BGRImage

ALIGNED_PX = 112

# Where the eyes, nose tip and mouth corners of a 112x112 ArcFace crop are
# (insightface.utils.face_align.arcface_dst). InsightFace's norm_crop fits a similarity
# transform to these with scikit-image and warps with OpenCV; so does align_face, without
# importing insightface (whose wheel pulls opencv-python over our headless OpenCV), nor
# scikit-image: it pulls in scipy, 34 MB resident in the edge process for 20 lines of maths
# (scripts/bench_memory.py; tests/models/test_memory.py checks the result equals scikit-image's).
ARCFACE_DST = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(src: npt.ArrayLike, dst: npt.ArrayLike) -> npt.NDArray[np.float64] | None:
    """The least-squares similarity (rotation, uniform scale, shift) taking ``src`` points to
    ``dst`` ([n, 2] each) as a 3x3 matrix: Umeyama's method (PAMI 1991), step for step as
    scikit-image's ``SimilarityTransform.from_estimate``; None when the points are degenerate."""
    s = np.asarray(src)
    d = np.asarray(dst)
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    s_dm, d_dm = s - s_mean, d - d_mean
    a = d_dm.T @ s_dm / len(s)  # Eq. (38)
    sign = np.ones(2)
    if np.linalg.det(a) < 0:  # Eq. (39)
        sign[1] = -1
    t = np.eye(3)
    u, sv, v = np.linalg.svd(a)
    rank = np.count_nonzero(sv > sv.max() * 2 * np.finfo(float).eps)
    if rank == 0:
        return None
    if rank == 1 and np.linalg.det(u) * np.linalg.det(v) <= 0:  # Eq. (40), (43)
        t[:2, :2] = u @ np.diag([1.0, -1.0]) @ v
    elif rank == 1:
        t[:2, :2] = u @ v
    else:
        t[:2, :2] = u @ np.diag(sign) @ v
    scale = 1.0 / s_dm.var(axis=0).sum() * (sv @ sign)  # Eq. (41), (42)
    t[:2, 2] = d_mean - scale * (t[:2, :2] @ s_mean.T)
    t[:2, :2] *= scale
    return t if np.isfinite(t).all() else None


def align_face(image: BGRImage, landmarks: npt.NDArray[np.float32]) -> BGRImage:
    """The face at ``landmarks`` ([5, 2] frame pixels) warped to a 112x112 BGR crop."""
    lm = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    t = similarity_transform(lm, ARCFACE_DST)
    if t is None:  # degenerate landmarks (all on one point): a black crop fails the quality gate
        return np.zeros((ALIGNED_PX, ALIGNED_PX, 3), np.uint8)
    warped = cv2.warpAffine(image, t[0:2, :], (ALIGNED_PX, ALIGNED_PX), borderValue=0.0)
    return np.ascontiguousarray(warped)
