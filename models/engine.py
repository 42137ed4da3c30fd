"""FaceEngine: one image in, the faces in it out (box, landmarks, quality, crop, embedding)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from contract.config import FaceConfig
from contract.gallery import Population
from models.align import align_face
from models.calibration import (
    DEFAULT_POPULATION,
    POPULATIONS,
    CalibrationCurve,
    GallerySize,
    OperatingPoint,
    load_curve,
    operating_point,
)
from models.detector import Detections, Detector, SCRFDDetector, YuNetDetector, detect_each
from models.embedder import ArcFaceEmbedder, Embedder, SFaceEmbedder, l2_normalize
from models.errors import ModelLoadError
from models.imageio import BGRImage, check_image
from models.packs import PackFiles, resolve_pack
from models.quality import Quality, assess_quality

F32 = npt.NDArray[np.float32]
T = TypeVar("T")

# One-to-one cosine thresholds per pack (verification, visitors, duplicates; the floor of the
# open-set threshold, which follows the gallery's size: models/calibration.py).
# sface 0.36: above every impostor pair of ../shared/faces and faces_east_asian (740 pairs; the
# FAR 1e-3 thresholds there are 0.31 and 0.27), no false identification in the open-set test,
# and near OpenCV's LFW-calibrated 0.363. The ArcFace value is InsightFace's usual operating point
# and has not been measured here (no licensed weights on this machine).
CALIBRATED_THRESHOLD = {"sface": 0.36, "buffalo_l": 0.35, "buffalo_s": 0.35, "antelopev2": 0.35}

EmbedWhich = Literal["all", "passing", "none"]


@dataclass(frozen=True)
class Face:
    """One face found in an image."""

    box: F32  # [4] x1, y1, x2, y2 in frame pixels
    landmarks: F32  # [5, 2]
    det_score: float
    quality: Quality
    aligned: BGRImage  # [112, 112, 3]
    embedding: F32 | None  # [dim], unit length; None when not computed
    model_id: str

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


def make_model_id(files: PackFiles, dim: int) -> str:
    """``<embedder>-<sha12>-d<dim>+<detector>-<sha12>``: the part before '+' fixes the space."""
    return (
        f"{files.pack}:{files.embedder_kind}-{files.embedder_sha256[:12]}-d{dim}"
        f"+{files.detector_kind}-{files.detector_sha256[:12]}"
    )


def embedding_space(model_id: str) -> str:
    """The part of a model id that decides whether two embeddings can be compared."""
    return model_id.split("+", 1)[0]


def _detector(
    cls: type[YuNetDetector] | type[SCRFDDetector],
) -> Callable[[Path, FaceConfig], Detector]:
    """A loader for a detector class: both take the face config's detector settings alike."""

    def load(path: Path, cfg: FaceConfig) -> Detector:
        return cls(
            path,
            threads=cfg.threads,
            score_threshold=cfg.det_score_threshold,
            nms_iou=cfg.nms_iou,
            max_faces=cfg.max_faces,
            input_px=cfg.det_input_px,
        )

    return load


def _sface(path: Path, cfg: FaceConfig) -> Embedder:
    return SFaceEmbedder(path, threads=cfg.threads)


def _arcface(path: Path, cfg: FaceConfig) -> Embedder:
    return ArcFaceEmbedder(path, threads=cfg.threads)


# The extension points: a model kind (PackFiles.detector_kind / embedder_kind) -> its loader.
# A new detector or embedder is one function and one line here.
DETECTORS: dict[str, Callable[[Path, FaceConfig], Detector]] = {
    "yunet": _detector(YuNetDetector),
    "scrfd": _detector(SCRFDDetector),
}
EMBEDDERS: dict[str, Callable[[Path, FaceConfig], Embedder]] = {
    "sface": _sface,
    "arcface": _arcface,
}


def _loader(
    registry: dict[str, Callable[[Path, FaceConfig], T]], kind: str, what: str
) -> Callable[[Path, FaceConfig], T]:
    """The loader of ``kind``; ModelLoadError naming the known kinds if there is none."""
    try:
        return registry[kind]
    except KeyError:
        raise ModelLoadError(f"no {what} of kind {kind!r}; known: {', '.join(registry)}") from None


class FaceEngine:
    """Detector, aligner, quality gate and embedder, loaded once from a FaceConfig."""

    def __init__(self, config: FaceConfig | None = None) -> None:
        self.config = config or FaceConfig()
        cfg = self.config
        self.files = resolve_pack(cfg)
        self.detector: Detector = _loader(DETECTORS, self.files.detector_kind, "detector")(
            self.files.detector_path, cfg
        )
        self.embedder: Embedder = _loader(EMBEDDERS, self.files.embedder_kind, "embedder")(
            self.files.embedder_path, cfg
        )
        self.model_id = make_model_id(self.files, self.embedder.dim)
        self.threshold = (
            cfg.match_threshold
            if cfg.match_threshold is not None
            else CALIBRATED_THRESHOLD[cfg.pack]
        )
        # One curve per population the gates may serve (a site setting picks one).
        self.curves: dict[Population, CalibrationCurve | None] = {
            p: load_curve(cfg.pack, "flip" if cfg.flip_tta else "none", cfg.pack_dir, p)
            for p in POPULATIONS
        }

    @property
    def calibration(self) -> CalibrationCurve | None:
        """The curve of the default population (East-Asian)."""
        return self.curves[DEFAULT_POPULATION]

    def curve(self, population: Population | None = None) -> CalibrationCurve | None:
        """This pack's curve for ``population`` (default: East-Asian); None if not measured."""
        return self.curves[population or DEFAULT_POPULATION]

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def operating_point(
        self,
        gallery_size: int | GallerySize,
        target_fpir: float,
        population: Population | None = None,
    ) -> OperatingPoint:
        """The threshold that names a gallery match: the configured one, or the curve's of the
        population the gates serve (default East-Asian) for this gallery (its persons and their
        template counts; a number: that many persons with one template) and the target share of
        strangers named."""
        pop = population or DEFAULT_POPULATION
        return operating_point(
            self.curves[pop],
            gallery_size=gallery_size,
            target_fpir=target_fpir,
            configured=self.config.match_threshold,
            fixed=CALIBRATED_THRESHOLD[self.config.pack],
            population=pop,
        )

    def _embed(self, crops: list[BGRImage]) -> F32:
        if not self.config.flip_tta or not crops:
            return self.embedder.embed(crops)
        # The aligned crop's template is left-right symmetric: its mirror is an aligned face too.
        mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in crops]
        both = self.embedder.embed(crops + mirrored)
        return l2_normalize(both[: len(crops)] + both[len(crops) :])

    def detect(self, image: BGRImage) -> Detections:
        """Faces in ``image``, largest first."""
        return self.detector.detect(check_image(image))

    def detect_many(self, images: Sequence[BGRImage]) -> list[Detections]:
        """Faces in each of ``images`` (say one frame per camera), largest first in each: one
        detector run when its graph takes a batch, else one run per image."""
        return detect_each(self.detector, [check_image(im) for im in images])

    def analyze(self, image: BGRImage, embed: EmbedWhich = "all") -> list[Face]:
        """Detect, align, score and embed (all, passing or no) faces, largest first."""
        image = check_image(image)
        dets = self.detector.detect(image)
        crops = [align_face(image, dets.landmarks[i]) for i in range(len(dets))]
        qualities = [
            assess_quality(dets.landmarks[i], crops[i], float(dets.scores[i]), self.config.quality)
            for i in range(len(dets))
        ]
        wanted = [
            i for i, q in enumerate(qualities) if embed == "all" or (embed == "passing" and q.ok)
        ]
        embs = self._embed([crops[i] for i in wanted])
        by_index = {i: embs[j] for j, i in enumerate(wanted)}
        return [
            Face(
                box=dets.xyxy[i],
                landmarks=dets.landmarks[i],
                det_score=float(dets.scores[i]),
                quality=qualities[i],
                aligned=crops[i],
                embedding=by_index.get(i),
                model_id=self.model_id,
            )
            for i in range(len(dets))
        ]

    def embed_crops(self, crops: list[BGRImage]) -> F32:
        """Embeddings of already aligned 112x112 crops."""
        return self._embed(crops)

    def similarity(self, a: F32, b: F32) -> float:
        """Cosine similarity of two unit embeddings."""
        return float(np.dot(a, b))
