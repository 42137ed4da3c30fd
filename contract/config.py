"""Config pieces shared by every gatewatch program (edge, server, enroll, face CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PackName = Literal["sface", "buffalo_l", "buffalo_s", "antelopev2"]
DetectorName = Literal["yunet", "scrfd"]
M = TypeVar("M", bound=BaseModel)
YUNET_INPUT_PX = 640  # the prepared YuNet 2023mar graph's fixed input


class ConfigError(ValueError):
    """A config file is missing, unreadable or has a bad key; the message names the key path."""


def format_validation_error(e: ValidationError, source: str) -> str:
    """One line per error: ``source: key.path: message``."""
    lines = []
    for err in e.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"{source}: {path}: {err['msg']}")
    return "\n".join(lines)


def load_yaml(path: Path) -> dict:
    """A YAML mapping from ``path``; ConfigError if it is missing or not a mapping."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror})") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return data


def load_config(path: Path, model: type[M], section: str | None = None) -> M:
    """``model`` from a YAML file (or its ``section:``); ConfigError lists every bad key's path."""
    data = load_yaml(path)
    source = str(path)
    if section is not None:
        data = data.get(section) or {}
        source = f"{path}: {section}"
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of keys")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from e


class QualityConfig(BaseModel):
    """Thresholds of the face quality gate; a face failing any of them is not used."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_interocular_px: float = Field(
        12.0, gt=0, description="Smallest distance between the eye centres, in frame pixels."
    )
    good_interocular_px: float = Field(
        40.0, gt=0, description="Inter-ocular distance at which size no longer lowers the score."
    )
    min_sharpness: float = Field(
        25.0, ge=0, description="Smallest variance of the Laplacian on the 112x112 aligned crop."
    )
    good_sharpness: float = Field(
        150.0, gt=0, description="Sharpness at which blur no longer lowers the score."
    )
    max_yaw_deg: float = Field(45.0, gt=0, le=90, description="Largest head turn left/right.")
    max_pitch_deg: float = Field(35.0, gt=0, le=90, description="Largest head tilt up/down.")
    min_det_score: float = Field(0.6, ge=0, le=1, description="Smallest detector score.")
    min_quality: float = Field(
        0.3, ge=0, le=1, description="Smallest combined quality score for a face to be used."
    )

    @model_validator(mode="after")
    def _good_above_min(self) -> QualityConfig:
        if self.good_interocular_px <= self.min_interocular_px:
            raise ValueError("good_interocular_px must be larger than min_interocular_px")
        if self.good_sharpness <= self.min_sharpness:
            raise ValueError("good_sharpness must be larger than min_sharpness")
        return self


class FaceConfig(BaseModel):
    """Which face models to run and how to decide who a face is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: PackName = Field(
        "sface",
        description=(
            "Model pack. 'sface' (YuNet + SFace, permissive licences, shipped) is the default; "
            "the InsightFace packs need pack_dir and are licensed for non-commercial research only."
        ),
    )
    pack_dir: Path | None = Field(
        None, description="Folder holding an operator-supplied InsightFace pack (e.g. buffalo_l)."
    )
    detector: DetectorName | None = Field(
        None, description="Detector to use; default: the pack's own (YuNet for sface)."
    )
    detector_file: Path | None = Field(
        None, description="An operator-supplied SCRFD .onnx file, used with detector 'scrfd'."
    )
    threads: int = Field(2, ge=1, le=64, description="onnxruntime intra-op threads per model.")
    det_input_px: int = Field(
        YUNET_INPUT_PX,
        ge=160,
        le=1920,
        description="SCRFD's input size (square letterbox), pixels; YuNet's graph is fixed at 640.",
    )
    det_score_threshold: float = Field(
        0.6, ge=0.05, le=1, description="Detections below this score are dropped."
    )
    nms_iou: float = Field(0.3, gt=0, lt=1, description="IoU above which NMS merges boxes.")
    max_faces: int = Field(32, ge=1, description="At most this many faces per image, largest kept.")
    match_threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description=(
            "Cosine similarity at or above which two faces are the same person; default: the "
            "pack's calibrated threshold (see README, false-match rate stated there)."
        ),
    )
    flip_tta: bool = Field(
        False,
        description=(
            "Embed each face and its mirror image and average the two (test-time augmentation): "
            "about 1 point fewer residents missed at the same false-match rate, twice the "
            "embedding time (README: Accuracy)."
        ),
    )
    margin_threshold: float = Field(
        0.05,
        ge=0,
        le=2,
        description="A gallery match is named only if it beats the runner-up person by this much.",
    )
    quality: QualityConfig = Field(default_factory=QualityConfig)

    @model_validator(mode="after")
    def _pack_files_given(self) -> FaceConfig:
        if self.pack != "sface" and self.pack_dir is None:
            raise ValueError(
                f"pack {self.pack!r} needs pack_dir: the folder holding its .onnx files"
            )
        if self.detector_file is not None and self.detector not in (None, "scrfd"):
            raise ValueError("detector_file is an SCRFD model: set detector to 'scrfd'")
        if self.detector == "scrfd" and self.pack == "sface" and self.detector_file is None:
            raise ValueError("detector 'scrfd' with pack 'sface' needs detector_file")
        yunet = self.detector == "yunet" or (self.detector is None and self.pack == "sface")
        if yunet and self.det_input_px != YUNET_INPUT_PX:
            raise ValueError(
                f"det_input_px {self.det_input_px}: YuNet's graph takes {YUNET_INPUT_PX} only; "
                "leave it out, or use detector 'scrfd'"
            )
        return self
