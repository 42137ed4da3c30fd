"""5-point alignment to the 112x112 ArcFace template (InsightFace's ``norm_crop``, same maths)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from skimage.transform import SimilarityTransform

from models.imageio import BGRImage

ALIGNED_PX = 112

# Where the eyes, nose tip and mouth corners of a 112x112 ArcFace crop are
# (insightface.utils.face_align.arcface_dst). InsightFace's norm_crop fits a similarity
# transform to these with scikit-image and warps with OpenCV; so does align_face, without
# importing insightface (whose wheel pulls opencv-python over our headless OpenCV).
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


def align_face(image: BGRImage, landmarks: npt.NDArray[np.float32]) -> BGRImage:
    """The face at ``landmarks`` ([5, 2] frame pixels) warped to a 112x112 BGR crop."""
    lm = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    tform = SimilarityTransform.from_estimate(lm, ARCFACE_DST)
    if not tform:  # degenerate landmarks (all on one point): a black crop fails the quality gate
        return np.zeros((ALIGNED_PX, ALIGNED_PX, 3), np.uint8)
    warped = cv2.warpAffine(image, tform.params[0:2, :], (ALIGNED_PX, ALIGNED_PX), borderValue=0.0)
    return np.ascontiguousarray(warped)
