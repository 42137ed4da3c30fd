"""5-point alignment to the 112x112 ArcFace template (InsightFace's ``norm_crop``)."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
from insightface.utils.face_align import norm_crop

from models.imageio import BGRImage

ALIGNED_PX = 112

# insightface calls scikit-image's deprecated SimilarityTransform.estimate; the maths is the same.
warnings.filterwarnings("ignore", category=FutureWarning, module="insightface.utils.face_align")


def align_face(image: BGRImage, landmarks: npt.NDArray[np.float32]) -> BGRImage:
    """The face at ``landmarks`` ([5, 2] frame pixels) warped to a 112x112 BGR crop."""
    lm = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    return np.ascontiguousarray(norm_crop(image, lm, image_size=ALIGNED_PX))
