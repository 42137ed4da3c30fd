"""Shared fixtures: a prepared model cache for the session, the engine, the test photos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
FACES = DATA / "faces"
SCENES = DATA / "scenes"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


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


def photos() -> list[Path]:
    return sorted(FACES.glob("*/*.jpg"))


def person_of(path: Path) -> str:
    return path.parent.name


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory):
    """A private Mosquitto on a free port for the module's tests."""
    from tests.mqtt_helpers import Broker

    b = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop()
