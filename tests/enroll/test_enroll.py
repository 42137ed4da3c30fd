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
    assert "已登记 p-obama（2 个人脸模板）；人脸库版本 1" in r.stdout
    assert "p-obama：登记照片已保存（人脸裁剪）" in r.stdout
    ref = server.store.reference("p-obama")
    assert ref is not None and (ref.width, ref.height) == (240, 240)
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
    # The group photo's largest face, cropped: the server found exactly one face in the crop.
    assert "p-kit：登记照片已保存" in r.stdout, r.stderr
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
    first = server.store.reference("p-rose")
    assert first is not None
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
    assert "已更新 p-rose（1 个人脸模板）；人脸库版本 2" in r.stdout
    p = server.store.get_person("p-rose")
    assert p.phone == "123" and p.company == "FastPost" and p.role == "courier"
    ref = server.store.reference("p-rose")
    assert ref is not None and ref.created > first.created, "the new photo's crop replaced it"
    r = enroll(http_url, admin, "remove", "p-rose")
    assert r.returncode == 0 and "人脸库版本 3" in r.stdout
    assert server.store.get_person("p-rose").removed is True
    assert server.store.reference("p-rose") is None
    viewer = enroll(http_url, server.tokens["viewer"], "remove", "p-rose")
    assert viewer.returncode == 2 and "403" in viewer.stderr


def test_bulk_import_reports_templates_rejections_and_resumes(
    server, http_url: str, tmp_path: Path, shared: Path
) -> None:
    photos = tmp_path / "photos"
    for pid, src in (("r-kit", "kit_harington"), ("r-rose", "rose_leslie"), ("r-bern", "biden")):
        (photos / pid).mkdir(parents=True)
        for p in core_photos():
            if person_of(p) == src:
                shutil.copy(p, photos / pid / p.name)
    # Ten photos of one person (ORL faces, turned this way and that): the best five are kept.
    shutil.copytree(shared / "faces/orl_s01", photos / "r-orl")
    shutil.copy(FACES / "bbt_amy/1.jpg", photos / "r-amy.jpg")
    shutil.copy(SCENES / "2.jpg", photos / "r-group.jpg")
    csv = tmp_path / "residents.csv"
    csv.write_text(
        "id,name,role,birth_date,building,unit,care\n"
        "r-kit,Kit,resident,1950-01-01,7,701,lives_alone\n"
        "r-rose,Rose,resident,1988-02-02,7,702,\n"
        "r-bern,Bern,resident,1942-03-03,8,801,\n"
        "r-orl,Orl,resident,1960-04-04,8,802,\n"
        "r-amy,Amy,resident,,9,901,\n"
        "r-ghost,Ghost,resident,,9,902,\n"
        "r-group,Group,resident,,9,903,\n"
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
    assert "登记 5 人，跳过 0 人" in r.stdout and "每秒" in r.stdout
    assert "共 11 个人脸模板（5 个模板的 1 人，2 个模板的 2 人，1 个模板的 2 人）" in r.stdout
    rows = json.loads(report.read_text())
    counts = {x["id"]: x["templates"] for x in rows if x["outcome"] == "enrolled"}
    assert counts == {"r-kit": 2, "r-rose": 2, "r-bern": 1, "r-orl": 5, "r-amy": 1}
    assert {p.id: p.templates for p in server.store.list_persons()} == counts
    rejected = {
        (x["id"], Path(x["photo"]).name if x["photo"] else "", x["reason"].split(";")[0])
        for x in rows
        if x["outcome"] != "enrolled"
    }
    assert ("r-bern", "2.jpg", "2 faces") in rejected
    assert any(x[0] == "r-ghost" and "no photo found" in x[2] for x in rejected)
    # Not enrolled: the outcome, and still the reason of each photo.
    assert ("r-group", "", "r-group: no usable photo") in rejected
    assert ("r-group", "r-group.jpg", "2 faces") in rejected
    capped = [x for x in rows if x["id"] == "r-orl" and x["outcome"] == "photo_rejected"]
    assert len(capped) == 5 and all("the best 5 photos are kept" in x["reason"] for x in capped)
    # Every enrolled person's reference photo: the face crop of their best photo.
    for pid in counts:
        ref = server.store.reference(pid)
        assert ref is not None and (ref.width, ref.height) == (240, 240), pid
    again = enroll(http_url, server.tokens["admin"], "import", str(csv), "--photos", str(photos),
                   "--report", str(tmp_path / "again.csv"))  # fmt: skip
    assert "登记 0 人，跳过 5 人" in again.stdout
    lines = (tmp_path / "again.csv").read_text().splitlines()
    assert lines[0] == "id,outcome,templates,photo,reason"
    assert "r-orl,already_enrolled,5,," in lines
    m = server.store.gallery()
    assert m.persons == 5 and m.templates == 11
