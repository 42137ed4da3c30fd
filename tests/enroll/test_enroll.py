"""Enrollment at the reception desk, against a running server, as separate CLI processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FACES, SCENES, needs_shared, person_of
from tests.conftest import photos as core_photos

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.parametrize("db_url", ["sqlite"], indirect=True), needs_shared]


def enroll(url: str, token: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, GATEWATCH_TOKEN=token)
    return subprocess.run(
        [sys.executable, "-m", "gatewatch", "enroll", *args, "--url", url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_add_refuses_duplicates_and_bad_photos_with_reasons(server, http_url: str) -> None:
    admin = server.tokens["admin"]
    r = enroll(
        http_url,
        admin,
        "add",
        "--id",
        "p-obama",
        "--name",
        "Barack",
        "--role",
        "resident",
        "--birth-date",
        "1950-08-04",
        "--care",
        "lives_alone",
        str(FACES / "obama/1.jpg"),
        str(FACES / "obama/2.jpg"),
    )
    assert r.returncode == 0, r.stderr
    assert "enrolled p-obama (2 templates); gallery v1" in r.stdout
    p = server.store.get_person("p-obama")
    assert p.birth_date.isoformat() == "1950-08-04" and p.care_flags == ["lives_alone"]
    # Again under another id, from another photo: a possible duplicate.
    r = enroll(
        http_url,
        admin,
        "add",
        "--id",
        "p-x",
        "--name",
        "X",
        "--role",
        "resident",
        str(FACES / "obama/4.jpg"),
    )
    assert r.returncode == 2 and "already matches enrolled person p-obama" in r.stderr
    assert server.store.get_person("p-x") is None
    r = enroll(
        http_url,
        admin,
        "add",
        "--id",
        "p-x",
        "--name",
        "X",
        "--role",
        "resident",
        "--force",
        str(FACES / "obama/4.jpg"),
    )
    assert r.returncode == 0, r.stderr
    # Two different people's photos for one person: refused, with the reason per photo.
    r = enroll(
        http_url,
        admin,
        "add",
        "--id",
        "p-mixed",
        "--name",
        "M",
        "--role",
        "resident",
        str(FACES / "kit_harington/1.jpg"),
        str(FACES / "bbt_amy/1.jpg"),
    )
    assert r.returncode == 2
    assert r.stderr.count("does not match the person's other photos") == 2
    # A group photo: refused unless --largest.
    r = enroll(
        http_url,
        admin,
        "add",
        "--id",
        "p-kit",
        "--name",
        "Kit",
        "--role",
        "resident",
        str(SCENES / "2.jpg"),
    )
    assert r.returncode == 2 and "2 faces; use a photo of one person" in r.stderr
    r = enroll(
        http_url,
        admin,
        "add",
        "--id",
        "p-kit",
        "--name",
        "Kit",
        "--role",
        "resident",
        "--largest",
        str(SCENES / "2.jpg"),
    )
    assert r.returncode == 0, r.stderr
    # Couriers need a validity end.
    r = enroll(
        http_url,
        admin,
        "add",
        "--id",
        "c-1",
        "--name",
        "C",
        "--role",
        "courier",
        str(FACES / "rose_leslie/1.jpg"),
    )
    assert r.returncode == 2 and "--valid-until" in r.stderr
    # Unreadable photo.
    r = enroll(
        http_url,
        admin,
        "add",
        "--id",
        "p-bad",
        "--name",
        "B",
        "--role",
        "resident",
        str(ROOT / "README.md"),
    )
    assert r.returncode == 2 and "unreadable" in r.stderr


def test_update_and_remove(server, http_url: str) -> None:
    admin = server.tokens["admin"]
    assert (
        enroll(
            http_url,
            admin,
            "add",
            "--id",
            "p-rose",
            "--name",
            "Rose",
            "--role",
            "courier",
            "--valid-until",
            "2030-01-01",
            "--company",
            "FastPost",
            str(FACES / "rose_leslie/1.jpg"),
        ).returncode
        == 0
    )
    r = enroll(
        http_url,
        admin,
        "update",
        "--id",
        "p-rose",
        "--phone",
        "123",
        str(FACES / "rose_leslie/2.jpg"),
    )
    assert r.returncode == 0, r.stderr
    p = server.store.get_person("p-rose")
    assert p.phone == "123" and p.company == "FastPost" and p.role == "courier"
    r = enroll(http_url, admin, "remove", "p-rose")
    assert r.returncode == 0 and "gallery v3" in r.stdout
    assert server.store.get_person("p-rose").removed is True
    viewer = enroll(http_url, server.tokens["viewer"], "remove", "p-rose")
    assert viewer.returncode == 2 and "403" in viewer.stderr


def test_bulk_import_reports_rejections_and_resumes(server, http_url: str, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for pid, src in (("r-kit", "kit_harington"), ("r-rose", "rose_leslie"), ("r-bern", "biden")):
        (photos / pid).mkdir(parents=True)
        for p in core_photos():
            if person_of(p) == src:
                shutil.copy(p, photos / pid / p.name)
    shutil.copy(FACES / "bbt_amy/1.jpg", photos / "r-amy.jpg")
    csv = tmp_path / "residents.csv"
    csv.write_text(
        "id,name,role,birth_date,building,unit,care\n"
        "r-kit,Kit,resident,1950-01-01,7,701,lives_alone\n"
        "r-rose,Rose,resident,1988-02-02,7,702,\n"
        "r-bern,Bern,resident,1942-03-03,8,801,\n"
        "r-amy,Amy,resident,,9,901,\n"
        "r-ghost,Ghost,resident,,9,902,\n"
    )
    report = tmp_path / "report.json"
    r = enroll(
        http_url,
        server.tokens["admin"],
        "import",
        str(csv),
        "--photos",
        str(photos),
        "--report",
        str(report),
    )
    assert r.returncode == 0, r.stderr
    assert "4 enrolled, 0 skipped" in r.stdout and "rows/s" in r.stdout
    rejected = {
        (x["id"], Path(x["photo"]).name if x["photo"] else "", x["reason"].split(";")[0])
        for x in json.loads(report.read_text())
    }
    assert ("r-bern", "2.jpg", "2 faces") in rejected
    assert any(x[0] == "r-ghost" and "no photo found" in x[2] for x in rejected)
    again = enroll(http_url, server.tokens["admin"], "import", str(csv), "--photos", str(photos))
    assert "0 enrolled, 4 skipped" in again.stdout
    m = server.store.gallery()
    assert m.persons == 4


def test_capture_from_a_camera(server, http_url: str, tmp_path: Path, gatewatch_home) -> None:
    from gatewatch.gatevideo import make_video

    video = tmp_path / "desk.mp4"
    make_video(FACES, ["kit_harington/2.jpg"], video, pass_s=3.0, gap_s=0.0)
    r = enroll(
        http_url,
        server.tokens["admin"],
        "capture",
        "--id",
        "p-kit",
        "--name",
        "Kit",
        "--role",
        "staff",
        "--camera",
        str(video),
        "--seconds",
        "20",
    )
    assert r.returncode == 0, r.stderr
    assert "enrolled p-kit from 3 of" in r.stdout
