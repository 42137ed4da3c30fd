"""Issue 9 item 9: photo uploads are checked from their header and decoded one at a time."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib

import psutil
from PIL import Image

from tests.conftest import FACES, needs_shared
from tests.server.conftest import auth

PHOTO = FACES / "rose_leslie/1.jpg"


def _png_header(w: int, h: int) -> bytes:
    """A PNG that claims w x h gray pixels and carries one small IDAT (what a bomb looks like)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (w + 1) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _upload(client, server, data: bytes, name: str = "p.png"):  # noqa: ANN001, ANN202
    return client.post(
        "/api/searches/photo",
        headers=auth(server, "officer"),
        data={"reason": "missing child"},
        files={"photo": (name, data, "application/octet-stream")},
    )


def test_30000_squared_png_is_refused_from_its_header(client, server) -> None:
    rss, t0 = psutil.Process().memory_info().rss, time.monotonic()
    r = _upload(client, server, _png_header(30000, 30000))
    assert r.status_code == 413, r.text
    assert r.json() == {"detail": "the photo claims 900000000 pixels; the limit is 40 megapixels"}
    assert time.monotonic() - t0 < 5
    assert psutil.Process().memory_info().rss - rss < 100 << 20


def test_just_over_40_megapixels_is_refused(client, server) -> None:
    r = _upload(client, server, _png_header(8000, 5001))
    assert r.status_code == 413 and r.json()["detail"] == (
        "the photo is 8000x5001 pixels (40.0 megapixels); the limit is 40 megapixels"
    )


@needs_shared
def test_face_photo_with_50mb_of_trailing_junk_is_refused(client, server) -> None:
    r = _upload(client, server, PHOTO.read_bytes() + b"\0junk" * (10 << 20), "rose.jpg")
    assert r.status_code == 413, r.text
    assert "bytes, this route's limit" in r.json()["detail"]


@needs_shared
def test_face_photo_with_a_little_trailing_junk_is_refused(client, server) -> None:
    r = _upload(client, server, PHOTO.read_bytes() + b"trailing bytes", "rose.jpg")
    assert r.status_code == 400
    assert r.json() == {"detail": "the JPEG upload has bytes after the end of the image"}


@needs_shared
def test_a_real_face_as_png_raises_a_search(client, server) -> None:
    buf = io.BytesIO()
    Image.open(PHOTO).save(buf, "PNG")
    r = _upload(client, server, buf.getvalue())
    assert r.status_code == 201, r.text
    s = server.store.search(r.json()["search_id"])
    assert s.model_id == server.face.model_id and len(s.template) == 128 * 4


@needs_shared
def test_decodes_wait_for_a_free_slot(client, server) -> None:
    done: list[int] = []
    photo = PHOTO.read_bytes()
    with server.searches.photos.slot():  # another decode is running
        t = threading.Thread(target=lambda: done.append(_upload(client, server, photo).status_code))
        t.start()
        t.join(timeout=2)
        assert done == [], "a second decode ran while the slot was taken"
    t.join(timeout=60)
    assert done == [201]
