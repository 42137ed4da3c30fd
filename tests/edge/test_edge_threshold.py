"""The edge's naming threshold follows its gallery's persons and templates, the target FPIR and
the population whose curve the site chose (real faces)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from contract.config import FaceConfig
from edge.config import DecisionConfig
from edge.decide import Judge, ThresholdRule
from edge.tracker import Sample, Track
from models.gallery import Gallery
from models.imageio import read_image
from tests.conftest import FACES, photos
from tests.edge.conftest import ENROLLED, build_gallery, start_edge, write_config


def _emb(engine, img: np.ndarray) -> np.ndarray:  # noqa: ANN001
    return max(engine.analyze(img), key=lambda f: f.area).embedding


def _gallery(engine, mirrored: bool) -> Gallery:  # noqa: ANN001
    """One template per test photo (15 real faces); with ``mirrored`` also each photo's mirror."""
    g = Gallery(engine.model_id, engine.dim)
    rows = []
    for i, p in enumerate(photos()):
        img = read_image(p)
        e = [_emb(engine, img)] + (
            [_emb(engine, np.ascontiguousarray(img[:, ::-1]))] if mirrored else []
        )
        rows.append((f"p-{i}", "resident", np.stack(e)))
    g.add_many(rows)
    return g


def test_the_threshold_rises_when_a_larger_gallery_is_swapped_in(engine, caplog) -> None:  # noqa: ANN001
    rule = ThresholdRule(engine, 0.003, "site/g1/c1")
    small, large = _gallery(engine, False), _gallery(engine, True)
    assert large.template_count == 2 * small.template_count
    with caplog.at_level(logging.INFO, logger="edge.decide"):
        a = rule.follow(small)
        assert rule.follow(small) is a  # unchanged gallery: not recomputed, not logged again
        b = rule.follow(large)
    assert a.threshold == engine.operating_point(small.size(), 0.003).threshold
    assert b.threshold == engine.operating_point(large.size(), 0.003).threshold
    assert engine.threshold < a.threshold < b.threshold and a.source == b.source == "calibration"
    # Counted per person: n persons with 2 templates each, never more than 2n single ones.
    n = len(large)
    assert b.persons == n and b.gallery_size == 2 * n
    assert b.threshold <= engine.operating_point(2 * n, 0.003).threshold
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert f"{n} persons ({large.template_count} templates, counted " in lines[1]
    curve = "east_asian curve faces_east_asian_dev + distractors_dev"
    assert f"{curve}) -> threshold {b.threshold:.3f}" in lines[1]
    assert "target FPIR 0.003" in lines[1]
    stricter = ThresholdRule(engine, 0.0003, "x").follow(small)
    assert stricter.threshold > a.threshold


@pytest.mark.parametrize(
    "setting,header,used",
    [
        ("auto", None, "east_asian"),  # no site setting: a Chinese compound's default
        ("auto", "general", "general"),  # the site's setting, carried in the gallery
        ("auto", "east_asian", "east_asian"),
        ("general", "east_asian", "general"),  # the edge's explicit setting wins
        ("east_asian", "general", "east_asian"),
    ],
)
def test_the_population_picks_the_curve(engine, setting: str, header: str | None, used: str) -> None:  # noqa: ANN001, E501
    g = _gallery(engine, False)
    g.population = header  # type: ignore[assignment]
    rule = ThresholdRule(engine, 0.003, "x", setting)  # type: ignore[arg-type]
    p = rule.follow(g)
    assert p.population == used
    assert p.threshold == engine.operating_point(g.size(), 0.003, used).threshold  # type: ignore[arg-type]
    assert p.curve == engine.curve(used).label and f"{used} curve" in p.why()  # type: ignore[union-attr, arg-type]


def test_a_gallery_from_a_site_of_another_population_moves_the_threshold(engine, caplog) -> None:  # noqa: ANN001
    rule = ThresholdRule(engine, 0.003, "site/g1/c1")
    ea, general = _gallery(engine, False), _gallery(engine, False)
    ea.population, general.population = "east_asian", "general"
    with caplog.at_level(logging.INFO, logger="edge.decide"):
        a, b = rule.follow(ea), rule.follow(general)
    assert a.threshold > b.threshold  # East-Asian strangers score higher: a stricter threshold
    lines = [r.getMessage() for r in caplog.records]
    assert "east_asian curve" in lines[0] and "general curve faces_wide_dev" in lines[1]


def test_a_configured_match_threshold_overrides_the_rule(engine, gatewatch_home) -> None:  # noqa: ANN001
    from models.engine import FaceEngine

    fixed = FaceEngine(FaceConfig(match_threshold=0.42))
    p = ThresholdRule(fixed, 0.003, "x").follow(_gallery(engine, True))
    assert p.threshold == 0.42 and p.source == "configured" and "overrides" in p.why()


def _track(engine, photo: str) -> Track:  # noqa: ANN001
    e = _emb(engine, read_image(FACES / photo))
    t = Track(id=1, box=np.zeros(4, np.float32), first_seen=0, last_seen=1,
              first_centre=np.zeros(2, np.float32), centre=np.zeros(2, np.float32))  # fmt: skip
    t.samples = [Sample(e, 0.9, 0.1 * i) for i in range(3)]
    return t


@pytest.mark.parametrize("target,named", [(0.003, True), (1e-12, False)])
def test_a_face_not_confidently_named_stays_a_visitor(engine, target: float, named: bool) -> None:  # noqa: ANN001
    from edge.visitors import VisitorGallery

    g = Gallery(engine.model_id, engine.dim)
    g.add_many(
        [
            (pid, "resident", _emb(engine, read_image(FACES / photo))[None])
            for pid, photo in (("p-obama", "obama/1.jpg"), ("p-kit", "kit_harington/1.jpg"))
        ]
    )
    rule = ThresholdRule(engine, target, "x")
    visitors = VisitorGallery(engine.dim, engine.threshold, 3600, 100)
    judge = Judge(DecisionConfig(), engine.threshold, 0.05, visitors, rule=rule)
    d = judge.decide(_track(engine, "obama/4.jpg"), g, now=0.0, final=True)
    assert d is not None
    if named:
        assert d.identity == "p-obama" and d.identity_kind == "person"
    else:  # the score (about 0.8) is below this rule's threshold: a visitor, never a guess
        assert rule.current is not None and rule.current.threshold > 0.9
        assert d.identity_kind == "visitor" and d.role == "visitor"


def test_the_edge_logs_and_reports_its_threshold(
    tmp_path: Path, broker, store_factory, gate_video: Path, engine
) -> None:
    site = "thresholdtest"
    store = store_factory(site)
    gallery = build_gallery(engine, tmp_path / "gallery.npz", ENROLLED)
    g = Gallery.load(gallery)
    g.population = "general"  # as an English-speaking site's server writes it
    g.save(gallery)
    cfg = write_config(
        tmp_path, site, broker.port,
        {"kind": "file", "location": str(gate_video), "pace": "lossless"}, gallery,
    )  # fmt: skip
    edge = start_edge(cfg, tmp_path / "edge.log")
    assert edge.wait(timeout=180) == 0, (tmp_path / "edge.log").read_text()[-3000:]
    # 4 persons, 5 templates (obama has two); the target as the default fusion asks the curve
    expected = engine.operating_point(g.size(), DecisionConfig().naming_fpir(), "general")
    st = store.status["g1"]
    assert st.match_threshold == expected.threshold and st.gallery_templates == 5
    assert st.match_threshold_why == expected.why()
    assert st.calibration == engine.curve("general").label
    assert st.calibration.startswith("sface general: faces_wide_dev (")
    log = (tmp_path / "edge.log").read_text()
    assert "4 persons (5 templates, counted " in log
    assert f"general curve faces_wide_dev) -> threshold {expected.threshold:.3f}" in log
    named = {p.identity for p in store.passages() if p.identity_kind == "person"}
    assert named == {"p-obama", "p-kit", "p-rose"}
