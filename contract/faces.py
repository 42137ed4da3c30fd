"""Face crops of passages (issue 18): kept on the gate machine, asked for by the server on demand.

Each edge keeps its passages' best-frame crops in a bounded ring on its own disk. The server asks
for one with an MQTT 5 request on ``.../gates/<gate>/faces/req`` (ResponseTopic
``.../gates/<gate>/faces/res``, CorrelationData an opaque id); the edge answers there with the
same correlation data. Only the server may write a gate's requests (configs/mosquitto.acl), and a
gate may answer only on its own response topic: no port opens on a gate machine.

A watchlist passage's crop is pushed at once (``PassageFace`` on ``.../gates/<gate>/sightings``,
``kind: passage_face``), as sighting evidence is, and kept by the server with its own retention.
"""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from contract.events import JPEG_B64_MAX, _Payload, _utc_in_range, jpeg_b64
from contract.topics import ID_PATTERN

EVENT_ID_PATTERN = r"^[0-9a-f]{32}$"
CORRELATION_MAX = 64  # bytes of CorrelationData the server sends and the edge echoes
FaceStatus = Literal["ok", "not_found", "expired"]


def _jpeg_b64(v: str) -> str:
    return jpeg_b64(v, "a face crop")


class FaceRequest(_Payload):
    """Server -> edge: the crop of this passage, please. ``camera`` says which edge of the gate
    answers (a gate may run one edge per camera); ``ts`` is the passage's time, so that an edge
    can tell a crop past its retention from one it never had."""

    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    camera: str = Field(pattern=ID_PATTERN)
    ts: AwareDatetime

    _ts = field_validator("ts")(_utc_in_range)


class FaceAnswer(_Payload):
    """Edge -> server: the crop (``ok``), or why not: ``not_found`` (no crop for this passage:
    no usable face, or never passed this camera) or ``expired`` (past the ring's retention)."""

    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    camera: str = Field(pattern=ID_PATTERN)
    status: FaceStatus
    jpeg_b64: str | None = Field(None, min_length=8, max_length=JPEG_B64_MAX)

    _jpeg = field_validator("jpeg_b64")(lambda v: v if v is None else _jpeg_b64(v))

    @model_validator(mode="after")
    def _picture_when_ok(self) -> FaceAnswer:
        if (self.status == "ok") != (self.jpeg_b64 is not None):
            raise ValueError("a face answer carries a picture exactly when its status is ok")
        return self

    def jpeg(self) -> bytes:
        if self.jpeg_b64 is None:
            raise ValueError(f"the answer for {self.event_id} is {self.status}: no picture")
        return base64.b64decode(self.jpeg_b64)


class PassageFace(_Payload):
    """Edge -> server on ``.../gates/<gate>/sightings`` (``kind: passage_face``): the crop of a
    watchlist passage, pushed with it so that an officer can confirm the hit by eye even when
    the gate is offline later."""

    kind: Literal["passage_face"] = "passage_face"
    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    site: str = Field(pattern=ID_PATTERN)
    gate: str = Field(pattern=ID_PATTERN)
    camera: str = Field(pattern=ID_PATTERN)
    ts: AwareDatetime
    person_id: str = Field(pattern=ID_PATTERN, description="The watchlist person it named")
    jpeg_b64: str = Field(min_length=8, max_length=JPEG_B64_MAX)

    _ts = field_validator("ts")(_utc_in_range)
    _jpeg = field_validator("jpeg_b64")(_jpeg_b64)

    def jpeg(self) -> bytes:
        return base64.b64decode(self.jpeg_b64)
