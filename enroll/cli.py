"""``gatewatch enroll add|import|capture|update|remove``: enrollment at the reception desk."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from contract.roles import ENROLLED_ROLES
from enroll.client import Api, EnrollError
from enroll.words import Words, words_of
from models.enrollment import agreeing
from models.imageio import IMAGE_SUFFIXES

CARE_FLAGS = ("lives_alone", "disabled", "pregnant", "serious_illness")
LEGAL_BASES = ("consent", "contract", "legal_obligation", "vital_interest")
PERSON_FIELDS = (
    "name",
    "role",
    "birth_date",
    "building",
    "unit",
    "room",
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
        "room": args.room,
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


def _report_rejections(w: Words, rejected: list) -> None:  # noqa: ANN001
    for r in rejected:
        print(w("rejected", photo=r.photo, reason=r.reason), file=sys.stderr)


def _report_nearest(w: Words, enroller, pid: str, embs: np.ndarray) -> None:  # noqa: ANN001
    """How close the nearest other enrolled person is; a look-alike warning when too close."""
    near = enroller.nearest_other(pid, embs)
    if near is not None:
        print(near.describe(pid, w), file=sys.stderr if near.look_alike else sys.stdout)


def _report_reference(w: Words, enroller, pid: str, shots: list) -> None:  # noqa: ANN001
    """Upload the reference photo (the best face crop); a failure is a warning, not an error."""
    why = enroller.send_reference(pid, shots)
    if why is None:
        print(w("reference_stored", id=pid))
    else:
        print(w("reference_not_stored", id=pid, why=why), file=sys.stderr)


def _new_person(args: argparse.Namespace):  # noqa: ANN202
    """The person's record and an enroller, after checking the id is not taken."""
    api = _api(args)
    if _existing(api, args.id):
        raise EnrollError(f"{args.id} is already enrolled; use 'gatewatch enroll update'")
    return _person(args), _enroller(args, api)


def _enrolled(w: Words, verb: str, pid: str, out: dict[str, Any], used: str = "") -> str:
    """'enrolled p-1 (3 templates); gallery v4': the person's template count after the call."""
    n = out.get("templates", out["added"])
    return w(verb, id=pid, count=w.templates(n), extra=used, version=out["gallery"]["version"])


def cmd_add(args: argparse.Namespace) -> int:
    from enroll.policy import embeddings

    person, enroller = _new_person(args)
    w = words_of(enroller.api.call)
    shots, rejected = enroller.shots(args.id, [Path(p) for p in args.photos])
    _report_rejections(w, rejected)
    out = enroller.send(person, shots)
    print(_enrolled(w, "enrolled", args.id, out))
    _report_nearest(w, enroller, args.id, embeddings(shots))
    _report_reference(w, enroller, args.id, shots)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    from enroll.policy import embeddings

    api = _api(args)
    w = words_of(api.call)
    old = _existing(api, args.id)
    if old is None:
        raise EnrollError(f"{args.id} is not enrolled; use 'gatewatch enroll add'")
    person = _person(args, old)
    if not args.photos:
        api.call("PUT", f"/api/persons/{args.id}", person)
        print(w("updated", id=args.id))
        return 0
    enroller = _enroller(args, api)
    shots, rejected = enroller.shots(args.id, [Path(p) for p in args.photos])
    _report_rejections(w, rejected)
    out = enroller.send(person, shots, replace=True)
    print(_enrolled(w, "updated_full", args.id, out))
    _report_nearest(w, enroller, args.id, embeddings(shots))
    _report_reference(w, enroller, args.id, shots)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    api = _api(args)
    out = api.call("DELETE", f"/api/persons/{args.id}")
    print(words_of(api.call)("removed", id=args.id, version=out["gallery"]["version"]))
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


REPORT_FIELDS = ("id", "outcome", "templates", "photo", "reason")


def _row_person(pid: str, row: dict[str, str]) -> dict[str, Any]:
    ns = argparse.Namespace(
        id=pid,
        name=row.get("name"),
        role=row.get("role"),
        building=row.get("building") or None,
        unit=row.get("unit") or None,
        room=row.get("room") or None,
        phone=row.get("phone") or None,
        company=row.get("company") or None,
        legal_basis=row.get("legal_basis") or None,
        birth_date=row.get("birth_date"),
        valid_until=row.get("valid_until"),
        care=row.get("care") or "",
    )
    return _person(ns)


def _import_one(enroller, folder: Path, pid: str, row: dict[str, str]) -> list[dict[str, Any]]:  # noqa: ANN001
    """Enroll one CSV row; the report's rows for it (its outcome first, then rejected photos)."""
    from enroll.policy import embeddings

    person = _row_person(pid, row)
    photos = photos_for(folder, pid)
    if not photos:
        raise EnrollError(f"no photo found for {pid} in {folder}")
    shots, rejected = enroller.shots(pid, photos)
    rows = [
        {
            "id": pid,
            "outcome": "photo_rejected",
            "templates": "",
            "photo": r.photo,
            "reason": r.reason,
        }
        for r in rejected
    ]
    try:
        out = enroller.send(person, shots, publish=False)
    except EnrollError as e:
        return [{"id": pid, "outcome": "not_enrolled", "templates": 0, "photo": "",
                 "reason": str(e)}, *rows]  # fmt: skip
    done = {"id": pid, "outcome": "enrolled", "templates": out.get("templates", out["added"]),
            "photo": "", "reason": f"{len(shots)} of {len(photos)} photos used"}  # fmt: skip
    near = enroller.nearest_other(pid, embeddings(shots))
    if near is not None and near.look_alike:
        print(f"\n{near.describe(pid)}", file=sys.stderr)
        done["reason"] += "; " + near.describe(pid).split("; ", 1)[1]
    why = enroller.send_reference(pid, shots)
    if why is not None:
        done["reason"] += f"; reference photo not stored: {why}"
    return [done, *rows]


def _write_report(path: Path, report: list[dict[str, Any]]) -> None:
    if path.suffix == ".json":
        path.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        return
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=REPORT_FIELDS)
        w.writeheader()
        w.writerows(report)


def cmd_import(args: argparse.Namespace) -> int:
    api = _api(args)
    enroller = _enroller(args, api)
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    done = {p["id"]: p["templates"] for p in api.call("GET", "/api/persons") if p.get("templates")}
    report: list[dict[str, Any]] = []
    counts: list[int] = []
    skipped = 0
    t0 = time.monotonic()
    for n, row in enumerate(rows, 1):
        pid = (row.get("id") or "").strip()
        if pid in done:
            skipped += 1
            report.append({"id": pid, "outcome": "already_enrolled", "templates": done[pid],
                           "photo": "", "reason": ""})  # fmt: skip
        else:
            try:
                got = _import_one(enroller, args.photos, pid, row)
                if got[0]["outcome"] == "enrolled":
                    counts.append(int(got[0]["templates"]))
                report += got
            except EnrollError as e:
                report.append({"id": pid, "outcome": "not_enrolled", "templates": 0, "photo": "",
                               "reason": str(e)})  # fmt: skip
        rate = n / max(time.monotonic() - t0, 1e-6)
        print(
            f"\r[{n}/{len(rows)}] {len(counts)} enrolled, {skipped} already there, "
            f"{rate:.1f} rows/s",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    gallery = api.call("POST", "/api/gallery/publish") if counts else None
    if args.report:
        _write_report(args.report, report)
    dt = time.monotonic() - t0
    rejections = sum(r["outcome"] in ("photo_rejected", "not_enrolled") for r in report)
    w = words_of(api.call)
    per = w("import_per_sep").join(
        w("import_per", c=c, k=k) for k, c in sorted(Counter(counts).items(), reverse=True)
    )
    print(
        w(
            "import_done",
            enrolled=len(counts),
            skipped=skipped,
            rejections=rejections,
            templates=sum(counts),
            per=w("import_per_all", per=per) if per else "",
            rate=f"{len(rows) / max(dt, 1e-6):.1f}",
            gallery=w("import_gallery", version=gallery["version"]) if gallery else "",
        )
    )
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    from enroll.capture import DeskCamera, capture
    from enroll.policy import embeddings

    person, enroller = _new_person(args)
    w = words_of(enroller.api.call)
    camera = DeskCamera(args.camera, args.seconds_per_prompt)
    try:
        results = capture(enroller.engine, camera, lambda line: print(line, flush=True))
    finally:
        camera.close()
    for r in results:
        if r.shot is None:
            print(w("not_kept", prompt=r.prompt.text, reason=r.reason), file=sys.stderr)
    found = [r.shot for r in results if r.shot is not None]
    shots, rejected = agreeing(enroller.engine, args.id, found)
    _report_rejections(w, rejected)
    if not shots:
        raise EnrollError(
            "no usable photo from the camera; stand alone in front of it, follow the prompts, "
            "and try again"
        )
    out = enroller.send(person, shots)
    kept = [r.prompt.key for r in results if r.shot in shots]
    print(_enrolled(w, "enrolled", args.id, out, w("kept", keys=w("kept_sep").join(kept))))
    _report_nearest(w, enroller, args.id, embeddings(shots))
    _report_reference(w, enroller, args.id, shots)
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
        q.add_argument("--room", help='the flat: 701 of "3号楼 2单元 701室"')
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
    i.add_argument(
        "--report",
        type=Path,
        help="write each person's outcome and template count, and every rejected photo, here "
        "(.csv or .json)",
    )
    common(i)
    i.set_defaults(func=cmd_import)

    c = esub.add_parser("capture", help="enroll from a live camera")
    fields(c, True)
    c.add_argument("--camera", required=True, help="device index, URL or video file")
    c.add_argument(
        "--seconds-per-prompt",
        type=float,
        default=3.0,
        help="time each prompt is given; a video file: the length of each prompt's segment",
    )
    common(c)
    c.set_defaults(func=cmd_capture)
