"""The reference photo: one face crop per person, stored by an admin after the person's templates,
shown to officers only (every view audited), refused when it is not that person's face crop,
deleted with the person; the person page shows it, or says there is none. Real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.enrollment import REFERENCE_PX, Shot, person_shots
from models.imageio import read_image
from server.i18n import catalogue
from tests.conftest import FACES, SCENES, needs_shared
from tests.server.browser import chrome, needs_chromium, sign_in, wait
from tests.server.conftest import auth

pytestmark = [needs_shared]
ZH = catalogue("zh-CN")


def shot_of(engine, photo) -> Shot:  # noqa: ANN001
    shots, rejected = person_shots(engine, "x", [photo])
    assert shots, rejected
    return shots[0]


def jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def enrol(client, server, engine, pid: str, photo) -> Shot:  # noqa: ANN001
    """The person and their template from ``photo`` through the admin API."""
    admin = auth(server, "admin")
    r = client.put(f"/api/persons/{pid}", json={"id": pid, "name": "王秀华", "role": "resident"},
                   headers=admin)  # fmt: skip
    assert r.status_code == 200, r.text
    shot = shot_of(engine, photo)
    body = {"model_id": engine.model_id, "embeddings": [shot.embedding.tolist()], "publish": False}
    r = client.post(f"/api/persons/{pid}/templates", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["templates"] == 1, r.text
    return shot


def put(client, server, pid: str, data: bytes, ctype: str = "image/jpeg", role: str = "admin"):  # noqa: ANN001, ANN201
    headers = {**auth(server, role), "Content-Type": ctype}
    return client.put(f"/api/persons/{pid}/reference", content=data, headers=headers)


def audit_rows(client, server, action: str) -> list[dict]:  # noqa: ANN001
    rows = client.get(f"/api/audit?since=1h&action={action}", headers=auth(server, "admin"))
    assert rows.status_code == 200, rows.text
    return rows.json()


def test_stored_shown_to_officers_audited_and_deleted_with_the_person(client, server, engine):  # noqa: ANN001
    shot = enrol(client, server, engine, "p-wang", FACES / "obama/1.jpg")
    officer, viewer = auth(server, "officer"), auth(server, "viewer")
    overview = client.get("/api/persons/p-wang/overview", headers=officer).json()
    assert overview["reference"] is False
    assert client.get("/api/persons/p-wang/reference", headers=officer).status_code == 404

    r = put(client, server, "p-wang", jpeg(shot.reference_crop()))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["person_id"], body["width"], body["height"]) == ("p-wang", 240, 240)
    assert REFERENCE_PX == 240
    assert body["score"] > 0.8  # the crop's face against the template from the same photo
    assert client.get("/api/persons/p-wang/overview", headers=officer).json()["reference"] is True

    r = client.get("/api/persons/p-wang/reference", headers=officer)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (REFERENCE_PX, REFERENCE_PX, 3)
    faces = engine.analyze(img)
    assert len(faces) == 1 and float(faces[0].embedding @ shot.embedding) > 0.8
    views = audit_rows(client, server, "view_reference")
    assert [(a["user"], a["target"]) for a in views] == [("officer1", "p-wang")]
    assert [a["target"] for a in audit_rows(client, server, "put_reference")] == ["p-wang"]

    r = client.get("/api/persons/p-wang/reference", headers=viewer)
    assert r.status_code == 403 and "needs admin/officer" in r.json()["detail"]
    denied = audit_rows(client, server, "access_denied")
    assert [a["target"] for a in denied] == ["/api/persons/p-wang/reference"]
    r = put(client, server, "p-wang", jpeg(shot.reference_crop()), role="officer")
    assert r.status_code == 403

    r = client.delete("/api/persons/p-wang", headers=auth(server, "admin"))
    assert r.status_code == 200, r.text
    assert server.store.reference("p-wang") is None
    assert client.get("/api/persons/p-wang/reference", headers=officer).status_code == 404


def test_an_admin_deletes_the_reference_photo(client, server, engine) -> None:  # noqa: ANN001
    shot = enrol(client, server, engine, "p-kit", FACES / "kit_harington/1.jpg")
    assert put(client, server, "p-kit", jpeg(shot.reference_crop())).status_code == 200
    path = "/api/persons/p-kit/reference"
    assert client.delete(path, headers=auth(server, "officer")).status_code == 403
    assert client.delete(path, headers=auth(server, "admin")).status_code == 204
    assert server.store.reference("p-kit") is None
    assert client.delete(path, headers=auth(server, "admin")).status_code == 404
    assert [a["target"] for a in audit_rows(client, server, "delete_reference")] == ["p-kit"]
    # A person still enrolled keeps their templates: only the photo went.
    assert server.store.template_count("p-kit") == 1


def _scaled(photo, side: int) -> np.ndarray:  # noqa: ANN001
    img = read_image(photo)
    s = side / max(img.shape[:2])
    return cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)


def test_bad_uploads_are_refused_with_a_reason(client, server, engine) -> None:  # noqa: ANN001
    shot = enrol(client, server, engine, "p-obama", FACES / "obama/1.jpg")
    crop = shot.reference_crop()
    other = shot_of(engine, FACES / "rose_leslie/1.jpg").reference_crop()
    png = cv2.imencode(".png", crop)[1].tobytes()
    cases = [
        (b"this is no photo", "image/jpeg", 400, "not an image"),
        (png, "image/png", 415, "image/jpeg"),
        (png, "image/jpeg", 415, "must be a JPEG"),
        (jpeg(crop)[:-2000], "image/jpeg", 400, "bytes after the end"),
        (jpeg(_scaled(SCENES / "2.jpg", 760)), "image/jpeg", 422, "exactly one face; found 2"),
        (jpeg(_scaled(FACES / "obama/1.jpg", 1000)), "image/jpeg", 422, "crop of the face"),
        (jpeg(other), "image/jpeg", 422, "does not show p-obama"),
        (jpeg(cv2.resize(crop, (1100, 1100))), "image/jpeg", 413, "megapixels"),
    ]
    for data, ctype, status, says in cases:
        r = put(client, server, "p-obama", data, ctype)
        assert r.status_code == status and says in r.json()["detail"], (says, r.text)
    assert server.store.reference("p-obama") is None
    assert put(client, server, "p-nobody", jpeg(crop)).status_code == 404
    # No template yet: nothing to check the face against.
    client.put("/api/persons/p-new", json={"id": "p-new", "name": "新", "role": "resident"},
               headers=auth(server, "admin"))  # fmt: skip
    r = put(client, server, "p-new", jpeg(crop))
    assert r.status_code == 422 and "add templates first" in r.json()["detail"]
    assert audit_rows(client, server, "put_reference") == []


@needs_chromium
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_person_page_shows_the_reference_photo_or_says_there_is_none(
    client,
    server,
    engine,
    http_url,  # noqa: ANN001
) -> None:
    from selenium.webdriver.common.by import By

    shot = enrol(client, server, engine, "p-wang", FACES / "obama/1.jpg")
    enrol(client, server, engine, "p-li", FACES / "kit_harington/1.jpg")
    assert put(client, server, "p-wang", jpeg(shot.reference_crop())).status_code == 200
    driver = chrome("1080p")
    try:
        sign_in(driver, http_url, server.tokens["officer"], "/person/p-wang")
        img = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#reference img"))[0]
        wait(driver, lambda d: d.execute_script("return arguments[0].naturalWidth", img) > 0)
        assert driver.execute_script("return arguments[0].naturalWidth", img) == REFERENCE_PX
        assert img.get_attribute("alt") == ZH["person.reference"]
        driver.get(http_url + "/person/p-li")
        none = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#reference .none"))[0]
        assert none.text == ZH["person.no_reference"] == "无登记照片"
    finally:
        driver.quit()
    views = audit_rows(client, server, "view_reference")
    assert [(a["user"], a["target"]) for a in views] == [("officer1", "p-wang")]
