"""Issue 17: gate captures for the gallery that learns, through a real edge and a real broker.

Three people walk through a generated gate video made from real photos (../shared/faces): one
enrolled with one photo and walking with another photo of theirs that scores in the review band
(picked here by score), one walking with their enrolled photo itself (far above the threshold),
and a stranger far below the review floor. ``face.match_threshold`` fixes the naming threshold so
the band is predictable; the floor and the learning point come from the pack's curve as in use.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from contract.events import GateCapture, Passage
from edge.config import DecisionConfig
from models.learning import LearningPolicy
from scripts.search_trial import TrialResult, run_edge
from tests.conftest import SHARED, needs_shared

THRESHOLD = 0.70  # face.match_threshold in these runs


@dataclass(frozen=True)
class Cast:
    """Who walks, in order: the near miss, the strong match, the stranger."""

    review_id: str
    review_enroll: str
    review_walk: str
    learn_id: str
    learn_photo: str
    stranger_photo: str
    still_scores: tuple[float, float]  # review pair, stranger's best against the gallery


def _embed(engine, faces: Path, rel: str) -> np.ndarray | None:  # noqa: ANN001
    from models.imageio import read_image

    found = engine.analyze(read_image(faces / rel))
    return max(found, key=lambda f: f.area).embedding if found else None


def _pick(engine, faces: Path, floor: float) -> Cast:  # noqa: ANN001
    """A same-person pair scoring mid-band, a strong person, and the farthest stranger."""
    people = sorted(
        p.name for p in faces.iterdir() if p.is_dir() and not p.name.startswith("orl_")
    )
    emb = {
        f"{p}/{f.name}": e
        for p in people
        for f in sorted((faces / p).glob("*.jpg"))
        if (e := _embed(engine, faces, f"{p}/{f.name}")) is not None
    }
    aim = (floor + THRESHOLD) / 2 + 0.03  # a walk scores a little below its still photo
    pairs = [
        (abs(float(emb[a] @ emb[b]) - aim), a, b)
        for a, b in itertools.permutations(emb, 2)
        if a.split("/")[0] == b.split("/")[0]
    ]
    _, enroll, walk = min(pairs)
    review_person = enroll.split("/")[0]
    learn_photo = next(k for k in ("obama/1.jpg", "kit_harington/1.jpg") if review_person not in k)
    gallery = np.stack([emb[enroll], emb[learn_photo]])
    taken = {review_person, learn_photo.split("/")[0]}
    strangers = [(float((gallery @ e).max()), k) for k, e in emb.items()
                 if k.split("/")[0] not in taken]  # fmt: skip
    best, stranger = min(strangers)
    return Cast(
        f"p-{review_person.replace('_', '-')}", enroll, walk,
        f"p-{learn_photo.split('/')[0].replace('_', '-')}", learn_photo, stranger,
        (float(emb[enroll] @ emb[walk]), best),
    )  # fmt: skip


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory, engine) -> tuple[Cast, Path, Path]:  # noqa: ANN001
    from gatewatch.gatevideo import make_video
    from models.gallery import Gallery

    faces = SHARED / "faces"
    point = engine.operating_point(2, 0.003)
    floor = LearningPolicy().review_floor(engine.calibration, 2, THRESHOLD)
    assert floor < THRESHOLD, point
    cast = _pick(engine, faces, floor)
    work = tmp_path_factory.mktemp("captures")
    video = work / "gate.mp4"
    make_video(faces, [cast.review_walk, cast.learn_photo, cast.stranger_photo], video,
               pass_s=2.0, gap_s=0.8, lead_s=2.0)  # fmt: skip
    g = Gallery(engine.model_id, engine.dim)
    g.add_many([
        (cast.review_id, "resident", _embed(engine, faces, cast.review_enroll)[None]),
        (cast.learn_id, "resident", _embed(engine, faces, cast.learn_photo)[None]),
    ])  # fmt: skip
    g.save(work / "gallery.npz")
    return cast, video, work / "gallery.npz"


def _run(trial, broker, site: str, captures: bool) -> TrialResult:  # noqa: ANN001
    cast, video, gallery = trial
    return run_edge(
        gallery.parent / site, broker.port, site, video, gallery, [],
        overrides={"face": {"match_threshold": THRESHOLD}, "decision": {"captures": captures}},
    )  # fmt: skip


def _walks(result: TrialResult) -> list[Passage]:
    passages = sorted(result.passages, key=lambda p: p.seq)
    assert len(passages) == 3, [(p.identity, p.score) for p in passages]
    return passages


def _check_face(c: GateCapture) -> None:
    for b64 in (c.face.aligned_jpeg_b64, c.face.context_jpeg_b64):
        img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and min(img.shape[:2]) >= 100, "a face picture must be a JPEG"
    t = np.asarray(c.template, np.float32)
    assert t.shape == (128,) and abs(float(np.linalg.norm(t)) - 1) < 1e-3


@needs_shared
def test_near_miss_and_strong_passages_carry_captures_strangers_none(
    trial, broker, engine  # noqa: ANN001
) -> None:
    cast = trial[0]
    r = _run(trial, broker, "capon", True)
    near, strong, stranger = _walks(r)
    by_event = {c.event_id: c for c in r.captures}
    assert len(r.captures) == 2 == len(by_event), [(c.purpose, c.person_id) for c in r.captures]
    assert stranger.event_id not in by_event, f"stranger (still score {cast.still_scores[1]:.3f})"

    review = by_event[near.event_id]
    assert near.identity_kind == "visitor", near
    assert review.purpose == "review" and review.person_id == cast.review_id
    assert review.identity == near.identity
    assert review.review_floor <= review.score < review.threshold == THRESHOLD
    _check_face(review)
    enrolled = _embed(engine, SHARED / "faces", cast.review_enroll)
    # The fused template of differing frames scores at least their mean against the person.
    assert float(np.asarray(review.template) @ enrolled) >= review.score - 0.01

    learn = by_event[strong.event_id]
    assert strong.identity == cast.learn_id == learn.person_id == learn.identity
    assert learn.purpose == "learn" and learn.score >= THRESHOLD
    assert learn.frames >= DecisionConfig().learn_min_frames and learn.margin >= 0.10
    _check_face(learn)
    assert r.status is not None and r.status.captures_sent == 2


@needs_shared
def test_no_captures_when_turned_off(trial, broker) -> None:  # noqa: ANN001
    r = _run(trial, broker, "capoff", False)
    walks = _walks(r)
    assert [p.identity_kind for p in walks] == ["visitor", "person", "visitor"]
    assert r.captures == []
    assert r.status is not None and r.status.captures_sent == 0


@pytest.mark.parametrize(
    "points", [{"review_fpir": 0.002}, {"learn_fpir": 0.01}, {"target_fpir": 0.2}]
)
def test_capture_points_must_straddle_the_naming_point(points: dict) -> None:
    with pytest.raises(ValidationError, match="learn_fpir < target_fpir < review_fpir"):
        DecisionConfig(**points)
