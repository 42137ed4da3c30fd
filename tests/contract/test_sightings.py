"""Sighting candidates on the wire: more than one frame, a JPEG or nothing, their own topic."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from contract.events import Alert, EvidencePicture, SightingCandidate
from contract.topics import Topics

JPEG = base64.b64encode(cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1]).decode()
PNG = base64.b64encode(cv2.imencode(".png", np.full((8, 8, 3), 128, np.uint8))[1]).decode()


def _candidate(**kw: object) -> SightingCandidate:
    fields: dict[str, object] = {
        "candidate_id": uuid.uuid4().hex,
        "search_id": "s-1",
        "site": "c1",
        "gate": "north",
        "camera": "cam",
        "ts": datetime.now(UTC),
        "track_id": 3,
        "score": 0.42,
        "frames_at_threshold": 2,
        "frames_considered": 5,
        "threshold": 0.3,
        "model_id": "sface:x",
    }
    return SightingCandidate.model_validate(fields | kw)


def test_a_candidate_round_trips_with_its_evidence() -> None:
    c = _candidate(evidence=EvidencePicture(aligned_jpeg_b64=JPEG, context_jpeg_b64=JPEG))
    assert SightingCandidate.model_validate_json(c.to_json()) == c
    assert Topics("c1").sightings("north") == "gatewatch/c1/gates/north/sightings"
    assert Topics("c1").gate_of(Topics("c1").sightings("north")) == "north"


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"frames_at_threshold": 1}, "frames_at_threshold"),
        ({"frames_at_threshold": 6}, "cannot exceed"),
        ({"score": 1.5}, "score"),
        ({"evidence": {"aligned_jpeg_b64": PNG, "context_jpeg_b64": JPEG}}, "must be a JPEG"),
        ({"evidence": {"aligned_jpeg_b64": "!!!!!!!!!", "context_jpeg_b64": JPEG}}, "base64"),
        ({"identity": "p-1"}, "identity"),
    ],
)
def test_a_bad_candidate_is_refused(bad: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        _candidate(**bad)


def test_an_alert_says_its_priority_and_state_and_old_ones_still_parse() -> None:
    old = b'{"schema_version":1,"alert_id":1,"rule":"out_not_back","person_id":"p",'
    old += b'"created":"2026-11-30T10:00:00Z","evidence":{}}'
    a = Alert.model_validate_json(old)
    assert (a.priority, a.state) == ("normal", "open")
