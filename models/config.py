"""Loading the face config from YAML for the face CLI (programs embed FaceConfig in their own)."""

from __future__ import annotations

from pathlib import Path

from contract.config import FaceConfig, load_config


def load_face_config(path: Path | None, section: str = "face") -> FaceConfig:
    """FaceConfig from the ``face:`` section of a YAML file, or the defaults without a file."""
    if path is None:
        return FaceConfig()
    return load_config(path, FaceConfig, section=section)
