"""Shared fixtures: a prepared model cache for the session, the engine, the test photos."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[1]


def find_shared() -> Path | None:
    """The shared photos: ``../shared`` beside the checkout (as CI lays it out), else
    ``$GATEWATCH_SHARED``; None when neither holds a ``faces/`` folder."""
    for place in (ROOT.parent / "shared", os.environ.get("GATEWATCH_SHARED")):
        if place and (Path(place) / "faces").is_dir():
            return Path(place)
    return None


# The photos in ../shared are third-party test material and never part of the repository: tests
# that need them skip, saying so, where they are absent; a core of face tests runs on the faces
# installed packages ship (tests/models/test_package_faces.py).
_FOUND = find_shared()
HAVE_SHARED = _FOUND is not None
SHARED = _FOUND or ROOT.parent / "shared"
# The face tests run on scaled copies of a few shared photos (see write_core_photos), made in a
# temp folder at the start of each run: FACES/<person>/<n>.jpg and SCENES/<n>.jpg.
CORE_DIR = Path(tempfile.gettempdir()) / f"gatewatch-test-photos-{os.getuid()}"
FACES = CORE_DIR / "faces"
SCENES = CORE_DIR / "scenes"
NO_SHARED = "needs the shared photos: no ../shared beside the checkout and GATEWATCH_SHARED unset"
needs_shared = pytest.mark.skipif(not HAVE_SHARED, reason=NO_SHARED)


def require_shared() -> Path:
    """The shared photos folder, or skip the calling test or fixture saying why."""
    if not HAVE_SHARED:
        pytest.skip(NO_SHARED)
    return SHARED


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared photos folder; skips the test (one line, saying why) where it is absent."""
    return require_shared()


@pytest.fixture(scope="session", autouse=True)
def gatewatch_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private GATEWATCH_HOME for the whole run: nothing is read from or left in the user's."""
    home = tmp_path_factory.mktemp("gatewatch_home")
    old = os.environ.get("GATEWATCH_HOME")
    os.environ["GATEWATCH_HOME"] = str(home)
    from models.packs import prepare_sface

    prepare_sface(home / "models")
    yield home
    if old is None:
        os.environ.pop("GATEWATCH_HOME", None)
    else:
        os.environ["GATEWATCH_HOME"] = old


@pytest.fixture(scope="session")
def engine(gatewatch_home: Path):
    from models.engine import FaceEngine

    return FaceEngine()


# The photos of ../shared/faces the face tests were written for: a few per person, from web photos
# and TV stills (the folder holds more, and harder ones, for scripts/bench_accuracy.py).
CORE_PHOTOS = (
    "alex_lacamoire/1.jpg", "bbt_amy/1.jpg", "bbt_amy/2.jpg", "bbt_sheldon/1.jpg",
    "bbt_sheldon/2.jpg", "biden/1.jpg", "biden/2.jpg", "kit_harington/1.jpg",
    "kit_harington/2.jpg", "obama/1.jpg", "obama/2.jpg", "obama/4.jpg", "rose_leslie/1.jpg",
    "rose_leslie/2.jpg",
)  # fmt: skip


CORE_SCENES = ("2.jpg", "6.jpg")
CORE_MAX_PX = 800


def write_core_photos() -> None:
    """Copy the core photos from ../shared, scaled to at most 800 px on the longest side and saved
    as JPEG quality 90: the size the tests' expectations were measured at (biden/2.jpg, for one,
    shows a third face in its painting at full size)."""
    paths = [f"faces/{p}" for p in CORE_PHOTOS] + [f"scenes/{p}" for p in CORE_SCENES]
    for rel in paths:
        img = cv2.imread(str(SHARED / rel))
        if img is None:
            raise RuntimeError(f"{SHARED / rel}: missing or unreadable in the shared photos")
        scale = CORE_MAX_PX / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        dst = CORE_DIR / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.stem}.{os.getpid()}.jpg")
        cv2.imwrite(str(tmp), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        os.replace(tmp, dst)  # atomic: another run may be reading the same folder


@pytest.fixture(scope="session", autouse=True)
def core_photos() -> None:
    """The core photos, written once per run where ../shared is present."""
    if HAVE_SHARED:
        write_core_photos()


def photos() -> list[Path]:
    """The core photos (absent paths where ../shared is missing: their tests skip)."""
    return [FACES / p for p in CORE_PHOTOS]


def person_of(path: Path) -> str:
    return path.parent.name


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    """A private Mosquitto on a free port for the module's tests."""
    from tests.mqtt_helpers import Broker

    b = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop()
