"""Loading the face config from YAML for the face CLI (programs embed FaceConfig in their own)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from contract.config import FaceConfig


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


def load_face_config(path: Path | None, section: str = "face") -> FaceConfig:
    """FaceConfig from the ``face:`` section of a YAML file, or the defaults without a file."""
    if path is None:
        return FaceConfig()
    data = load_yaml(path).get(section, {})
    try:
        return FaceConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, f"{path}: {section}")) from e
