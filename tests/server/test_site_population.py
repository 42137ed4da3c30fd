"""The site's population setting (whose calibration curve sets the gates' threshold) reaches the
gallery snapshot's header, the retained manifest, GET /api/site and the edge's threshold."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from contract.gallery import GalleryManifest
from models.imageio import read_image
from scripts.standins import server_config
from server.store.records import PersonEntry
from tests.conftest import FACES, needs_shared
from tests.mqtt_helpers import connect, subscribe, wait_until
from tests.server.conftest import start_subscribed

PEOPLE = {"p-kit": "kit_harington", "p-rose": "rose_leslie", "p-obama": "obama"}


@pytest.mark.parametrize(
    "locale,setting,used",
    [
        ("zh-CN", None, "east_asian"),
        ("en", None, "general"),
        ("zh-CN", "general", "general"),  # an explicit setting wins over the locale's default
        ("en", "east_asian", "east_asian"),
    ],
)
def test_the_population_follows_the_locale_unless_set(
    tmp_path: Path, locale: str, setting: str | None, used: str
) -> None:
    extra = {"population": setting} if setting else {}
    cfg = server_config(tmp_path, "s1", 1883, locale=locale, **extra)
    assert cfg.site_population == used


def test_an_unknown_population_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="population"):
        server_config(tmp_path, "s1", 1883, population="martian")


@needs_shared
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("locale,used", [("en", "general"), ("zh-CN", "east_asian")])
def test_the_site_setting_reaches_manifest_snapshot_and_edge_threshold(
    tmp_path: Path, broker, db_url: str, engine, locale: str, used: str  # noqa: ANN001
) -> None:
    from fastapi.testclient import TestClient

    from edge.decide import ThresholdRule
    from models.gallery import Gallery
    from server.api import create_api
    from server.app import ServerApp

    site = "s" + secrets.token_hex(3)
    app = start_subscribed(ServerApp(server_config(tmp_path, site, broker.port, db_url,
                                                   locale=locale)))  # fmt: skip
    try:
        viewer = app.store.add_user("viewer1", "viewer")
        for pid, who in PEOPLE.items():
            app.store.upsert_person(PersonEntry(id=pid, name=who, role="resident"))
            e = engine.analyze(read_image(FACES / f"{who}/1.jpg"))[0].embedding
            app.store.add_templates(pid, e[None, :], engine.model_id, [None])
        seen: list[GalleryManifest] = []
        edge = connect(broker.port, f"edge-{site}")
        edge.on_message = lambda c, u, msg: seen.append(
            GalleryManifest.model_validate_json(msg.payload)
        )
        subscribe(edge, app.topics.gallery())
        m = app.publish_gallery()
        wait_until(lambda: seen, 30, "the retained gallery manifest")
        edge.disconnect()
        assert m.population == seen[-1].population == used
        g = Gallery.load(m.path or "", expected_model_id=engine.model_id)
        assert g.population == used and len(g) == 3
        point = ThresholdRule(engine, 0.003, f"{site}/g1/c1").follow(g)  # decision.population auto
        assert point.population == used and point.curve == engine.curve(used).label
        assert point.threshold == engine.operating_point(g.size(), 0.003, used).threshold
        with TestClient(create_api(app)) as client:
            r = client.get("/api/site", headers={"Authorization": f"Bearer {viewer}"})
        assert r.status_code == 200 and r.json()["population"] == used
        assert r.json()["locale"] == locale
    finally:
        app.stop()
