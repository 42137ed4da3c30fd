"""``gatewatch enroll add|import|capture|update|remove``: enrollment at the reception desk."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from contract.roles import ENROLLED_ROLES
from enroll.client import Api, EnrollError
from models.imageio import IMAGE_SUFFIXES

CARE_FLAGS = ("lives_alone", "disabled", "pregnant", "serious_illness")
LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interest")
PERSON_FIELDS = (
    "name",
    "role",
    "birth_date",
    "building",
    "unit",
    "phone",
    "company",
    "care_flags",
    "valid_until",
    "legal_basis",
)


def _api(args: argparse.Namespace) -> Api:
    token = args.token_file.read_text().strip() if args.token_file else None
    return Api(args.url, token)


def _enroller(args: argparse.Namespace, api: Api):  # noqa: ANN202
    from enroll.policy import Enroller
    from models.config import load_face_config
    from models.engine import FaceEngine

    engine = FaceEngine(load_face_config(args.config))
    return Enroller(api, engine, force=args.force, largest=args.largest)


def _care(value: str | None) -> list[str]:
    flags = [f.strip() for f in (value or "").replace(";", ",").split(",") if f.strip()]
    bad = [f for f in flags if f not in CARE_FLAGS]
    if bad:
        raise EnrollError(f"unknown care flag(s) {bad}; known: {', '.join(CARE_FLAGS)}")
    return flags


def _date(value: str | None, what: str) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as e:
        raise EnrollError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from e


def _person(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    p = {k: v for k, v in (base or {}).items() if k in PERSON_FIELDS or k == "id"}
    p["id"] = args.id
    given = {
        "name": args.name,
        "role": args.role,
        "building": args.building,
        "unit": args.unit,
        "phone": args.phone,
        "company": args.company,
        "legal_basis": args.legal_basis,
        "birth_date": _date(args.birth_date, "birth date"),
        "valid_until": _date(args.valid_until, "valid-until"),
        "care_flags": _care(args.care) if args.care is not None else None,
    }
    p.update({k: v for k, v in given.items() if v is not None})
    p.setdefault("care_flags", [])
    if not p.get("name") or not p.get("role"):
        raise EnrollError("a new person needs --name and --role")
    if p["role"] == "courier" and not p.get("valid_until"):
        raise EnrollError("an enrolled courier needs --valid-until (and should have --company)")
    return p


def _existing(api: Api, pid: str) -> dict[str, Any] | None:
    return api.call("GET", f"/api/persons/{pid}?reason=enrollment")


def _report_rejections(rejected: list) -> None:  # noqa: ANN001
    for r in rejected:
        print(f"rejected {r.photo}: {r.reason}", file=sys.stderr)


def _report_nearest(enroller, pid: str, embs: np.ndarray) -> None:  # noqa: ANN001
    """How close the nearest other enrolled person is; a look-alike warning when too close."""
    near = enroller.nearest_other(pid, embs)
    if near is not None:
        print(near.describe(pid), file=sys.stderr if near.look_alike else sys.stdout)


def _new_person(args: argparse.Namespace):  # noqa: ANN202
    """The person's record and an enroller, after checking the id is not taken."""
    api = _api(args)
    if _existing(api, args.id):
        raise EnrollError(f"{args.id} is already enrolled; use 'gatewatch enroll update'")
    return _person(args), _enroller(args, api)


def cmd_add(args: argparse.Namespace) -> int:
    person, enroller = _new_person(args)
    embs, rejected = enroller.templates(args.id, [Path(p) for p in args.photos])
    _report_rejections(rejected)
    out = enroller.send(person, embs)
    print(f"enrolled {args.id} ({out['added']} templates); gallery v{out['gallery']['version']}")
    _report_nearest(enroller, args.id, embs)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    api = _api(args)
    old = _existing(api, args.id)
    if old is None:
        raise EnrollError(f"{args.id} is not enrolled; use 'gatewatch enroll add'")
    person = _person(args, old)
    if not args.photos:
        api.call("PUT", f"/api/persons/{args.id}", person)
        print(f"updated {args.id}")
        return 0
    enroller = _enroller(args, api)
    embs, rejected = enroller.templates(args.id, [Path(p) for p in args.photos])
    _report_rejections(rejected)
    out = enroller.send(person, embs, replace=True)
    print(f"updated {args.id} ({out['added']} templates); gallery v{out['gallery']['version']}")
    _report_nearest(enroller, args.id, embs)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    out = _api(args).call("DELETE", f"/api/persons/{args.id}")
    print(f"removed {args.id}; gallery v{out['gallery']['version']}")
    return 0


def photos_for(folder: Path, pid: str) -> list[Path]:
    """DIR/<id>/*.jpg, or DIR/<id>.jpg and DIR/<id>_*.jpg."""
    sub = folder / pid
    if sub.is_dir():
        return sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return sorted(
        p
        for p in folder.glob(f"{pid}*")
        if p.suffix.lower() in IMAGE_SUFFIXES and (p.stem == pid or p.stem.startswith(pid + "_"))
    )


def cmd_import(args: argparse.Namespace) -> int:
    api = _api(args)
    enroller = _enroller(args, api)
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    done = {p["id"] for p in api.call("GET", "/api/persons") if p.get("templates")}
    report: list[dict[str, str]] = []
    enrolled = skipped = 0
    t0 = time.monotonic()
    for n, row in enumerate(rows, 1):
        pid = (row.get("id") or "").strip()
        if pid in done:
            skipped += 1
        else:
            try:
                ns = argparse.Namespace(
                    id=pid,
                    name=row.get("name"),
                    role=row.get("role"),
                    building=row.get("building") or None,
                    unit=row.get("unit") or None,
                    phone=row.get("phone") or None,
                    company=row.get("company") or None,
                    legal_basis=row.get("legal_basis") or None,
                    birth_date=row.get("birth_date"),
                    valid_until=row.get("valid_until"),
                    care=row.get("care") or "",
                )
                person = _person(ns)
                photos = photos_for(args.photos, pid)
                if not photos:
                    raise EnrollError(f"no photo found for {pid} in {args.photos}")
                embs, rejected = enroller.templates(pid, photos)
                report += [{"id": pid, "photo": r.photo, "reason": r.reason} for r in rejected]
                enroller.send(person, embs, publish=False)
                enrolled += 1
                near = enroller.nearest_other(pid, embs)
                if near is not None and near.look_alike:
                    print(f"\n{near.describe(pid)}", file=sys.stderr)
            except EnrollError as e:
                report.append({"id": pid, "photo": "", "reason": str(e)})
        rate = n / max(time.monotonic() - t0, 1e-6)
        print(
            f"\r[{n}/{len(rows)}] {enrolled} enrolled, {skipped} already there, {rate:.1f} rows/s",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    gallery = api.call("POST", "/api/gallery/publish") if enrolled else None
    if args.report:
        if args.report.suffix == ".json":
            args.report.write_text(json.dumps(report, indent=1))
        else:
            with open(args.report, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=["id", "photo", "reason"])
                w.writeheader()
                w.writerows(report)
    dt = time.monotonic() - t0
    print(
        f"{enrolled} enrolled, {skipped} skipped (already enrolled), {len(report)} rejections; "
        f"{len(rows) / max(dt, 1e-6):.1f} rows/s"
        + (f"; gallery v{gallery['version']}" if gallery else "")
    )
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    import cv2

    person, enroller = _new_person(args)
    src: str | int = int(args.camera) if args.camera.isdigit() else args.camera
    cap = cv2.VideoCapture(src)
    if not cap.isOpened():
        raise EnrollError(f"cannot open camera {args.camera}")
    good: list[tuple[float, np.ndarray]] = []
    frames = 0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        ok, img = cap.read()
        if not ok:
            break
        frames += 1
        faces = enroller.engine.analyze(img, embed="passing")
        if len(faces) == 1 and faces[0].embedding is not None:
            good.append((faces[0].quality.score, faces[0].embedding))
    cap.release()
    if len(good) < args.frames:
        raise EnrollError(
            f"only {len(good)} good frames of exactly one face in {frames} frames; "
            "stand alone, face the camera, and try again"
        )
    best = sorted(good, key=lambda x: -x[0])[: args.frames]
    embs = np.stack([e for _, e in best]).astype(np.float32)
    out = enroller.send(person, embs)
    print(
        f"enrolled {args.id} from {len(best)} of {frames} frames; "
        f"gallery v{out['gallery']['version']}"
    )
    _report_nearest(enroller, args.id, embs)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("enroll", help="enroll, update or remove people (reception desk)")
    esub = p.add_subparsers(dest="action", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--url", default="http://127.0.0.1:8080", help="the server")
        q.add_argument(
            "--token-file", type=Path, help="file holding the token (else $GATEWATCH_TOKEN)"
        )
        q.add_argument("--config", type=Path, help="YAML with a 'face:' section")
        q.add_argument("--force", action="store_true", help="enroll a possible duplicate anyway")
        q.add_argument("--largest", action="store_true", help="use the largest face of a photo")

    def fields(q: argparse.ArgumentParser, required: bool) -> None:
        q.add_argument("--id", required=True)
        q.add_argument("--name", required=required)
        q.add_argument("--role", choices=ENROLLED_ROLES, required=required)
        q.add_argument("--birth-date")
        q.add_argument("--building")
        q.add_argument("--unit")
        q.add_argument("--phone")
        q.add_argument("--company", help="couriers: the delivery company")
        q.add_argument("--care", help=f"comma-separated: {', '.join(CARE_FLAGS)}")
        q.add_argument("--valid-until")
        q.add_argument("--legal-basis", choices=LEGAL_BASES)

    a = esub.add_parser("add", help="a new person from photos")
    fields(a, True)
    a.add_argument("photos", nargs="+")
    common(a)
    a.set_defaults(func=cmd_add)

    u = esub.add_parser("update", help="change a person's details and/or photos")
    fields(u, False)
    u.add_argument("photos", nargs="*")
    common(u)
    u.set_defaults(func=cmd_update)

    r = esub.add_parser("remove", help="remove a person (gone from the next gallery)")
    r.add_argument("id")
    common(r)
    r.set_defaults(func=cmd_remove)

    i = esub.add_parser("import", help="bulk: a CSV of people and a folder of photos")
    i.add_argument("csv", type=Path)
    i.add_argument("--photos", type=Path, required=True)
    i.add_argument("--report", type=Path, help="write rejections here (.csv or .json)")
    common(i)
    i.set_defaults(func=cmd_import)

    c = esub.add_parser("capture", help="enroll from a live camera")
    fields(c, True)
    c.add_argument("--camera", required=True, help="device index, URL or video file")
    c.add_argument("--seconds", type=float, default=4.0)
    c.add_argument("--frames", type=int, default=3, help="best frames kept as templates")
    common(c)
    c.set_defaults(func=cmd_capture)
