"""EdgeConfig: everything one gate process needs, loaded once from YAML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.config import FaceConfig, load_config
from contract.mqtt import MqttConfig
from contract.topics import ID_PATTERN
from models.calibration import DEFAULT_TARGET_FPIR
from models.learning import FUSED_FAR_RATIO, LearningPolicy

_POLICY = LearningPolicy()  # the defaults of the capture points below

SourceKind = Literal["file", "url", "device", "folder"]
# Whose calibration curve sets the naming threshold; auto: the gallery header's (the site's
# setting), else East-Asian.
PopulationSetting = Literal["auto", "east_asian", "general"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where frames come from."""

    kind: SourceKind = Field(
        description="file: a video file; url: RTSP/HTTP stream; device: USB camera index; "
        "folder: still images, each shown for frames_per_image frames."
    )
    location: str = Field(description="File path, URL, device index or folder path.")
    loop: bool = Field(False, description="Start a file or folder again at its end.")
    pace: Literal["realtime", "lossless"] = Field(
        "realtime",
        description="realtime: files play at their own fps and frames are dropped when behind, "
        "like a camera; lossless: every frame is processed (offline runs, tests).",
    )
    frames_per_image: int = Field(10, ge=1, description="Folder source: frames per image.")
    folder_fps: float = Field(10.0, gt=0, description="Folder source: frames per second.")
    stall_timeout_s: float = Field(
        5.0, gt=0, description="No frame for this long means the camera is lost."
    )
    reopen_backoff_s: tuple[float, float] = Field(
        (0.5, 30.0), description="First and largest wait before reopening a lost camera."
    )

    @model_validator(mode="after")
    def _device_is_an_index(self) -> SourceConfig:
        if self.kind == "device" and not self.location.isdigit():
            raise ValueError(f"a device source's location is a camera index (0, 1, ...), "
                             f"not {self.location!r}")  # fmt: skip
        return self


class LineRule(_Strict):
    """Direction for a camera that sees both ways: which way along the image a person moves."""

    axis: Literal["y", "x"] = Field("y", description="y: up/down the image; x: left/right.")
    in_when: Literal["increasing", "decreasing"] = Field(
        "increasing", description="Movement along the axis that means coming in."
    )
    min_travel: float = Field(
        0.08, gt=0, lt=1, description="Share of the frame a track must travel to count."
    )


class DecisionConfig(_Strict):
    """When a track becomes a passage event."""

    target_fpir: float = Field(
        DEFAULT_TARGET_FPIR,
        gt=0,
        lt=1,
        description="Share of strangers that may be named as someone. With the pack's calibration "
        "curve it sets the naming threshold for the gallery's size (a gallery that grows raises "
        "it); face.match_threshold, if set, overrides it.",
    )
    population: PopulationSetting = Field(
        "auto",
        description="Whose faces the gate serves, i.e. which calibration curve sets the "
        "threshold: east_asian, general, or auto (the gallery's, as the site sets it; "
        "without one east_asian).",
    )
    min_frames: int = Field(3, ge=1, le=50, description="Good frames needed to name a person.")
    top_frames: int = Field(5, ge=1, le=50, description="Best-quality frames that vote.")
    fusion: Literal["vote", "mean"] = Field(
        "mean",
        description="vote: a person's score is their mean score over the best frames; mean: the "
        "best frames' embeddings are averaged (quality-weighted, L2-normalised) and that one "
        "template is scored, against a threshold for target_fpir / FUSED_FAR_RATIO (fused "
        "strangers score higher). Measured in scripts/bench_gate.py --walk-photos.",
    )
    embeds_per_s: float = Field(6.0, gt=0, description="Most embeddings per track per second.")
    min_track_frames: int = Field(
        3, ge=1, description="Shorter tracks are flicker, not people: no event."
    )
    min_faceless_track_frames: int = Field(
        10, ge=1, description="A track without one usable face needs this many frames for an event."
    )
    repeat_window_s: float = Field(
        5.0,
        ge=0,
        description="The same person or visitor again at this camera within this many seconds is "
        "the same passage (a track that broke up), not a new event.",
    )
    max_missed_frames: int = Field(8, ge=1, description="Frames unseen before a track ends.")
    iou_match: float = Field(0.25, gt=0, lt=1, description="IoU to continue a track.")
    captures: bool = Field(
        True,
        description="Send a gate capture (the face and the track's fused template, on the "
        "gate's sightings topic) for two kinds of passage only: not named but scored at or "
        "above the review floor for an enrolled person (an officer is asked), and named far "
        "above the threshold (the server may learn it). false: no face ever leaves for these.",
    )
    review_fpir: float = Field(
        _POLICY.review_fpir,
        gt=0,
        lt=1,
        description="The review floor: the threshold at this share of strangers (on the "
        "calibration curve, for the gallery's size); near misses from there up to the naming "
        "threshold go to review.",
    )
    learn_fpir: float = Field(
        _POLICY.learn_fpir,
        gt=0,
        lt=1,
        description="The learning point: the threshold at this share of strangers; a named "
        "passage at or above it (with learn_min_frames and learn_margin) is offered for learning.",
    )
    learn_min_frames: int = Field(
        _POLICY.learn_min_frames, ge=1, le=50, description="Frames a learned passage needs."
    )
    learn_margin: float = Field(
        _POLICY.learn_margin, ge=0, le=2, description="Margin over the runner-up to learn."
    )

    @model_validator(mode="after")
    def _points_in_order(self) -> DecisionConfig:
        if not self.learn_fpir < self.target_fpir < self.review_fpir:
            raise ValueError(
                f"need learn_fpir < target_fpir < review_fpir (the learning point above the "
                f"naming threshold, the review floor below it), got {self.learn_fpir:g}, "
                f"{self.target_fpir:g}, {self.review_fpir:g}"
            )
        return self

    def _per_score(self, share: float) -> float:
        """A share of strangers as the curve must be asked for it under this fusion rule."""
        return share / FUSED_FAR_RATIO if self.fusion == "mean" else share

    def naming_fpir(self) -> float:
        """The target FPIR the naming threshold is computed for (see FUSED_FAR_RATIO)."""
        return self._per_score(self.target_fpir)

    def learning(self) -> LearningPolicy:
        """The learning policy with this gate's capture points (the rest its defaults)."""
        return LearningPolicy(
            review_fpir=self._per_score(self.review_fpir),
            learn_fpir=self._per_score(self.learn_fpir),
            learn_min_frames=self.learn_min_frames,
            learn_margin=self.learn_margin,
        )


class VisitorConfig(_Strict):
    """Pseudonymous ids for faces not in the gallery (kept in memory, shared by the site's edges
    through the broker's retained messages until they expire)."""

    enabled: bool = True
    expiry_s: float = Field(
        24 * 3600,
        ge=1,
        description="A visitor id is forgotten this long after it was last seen; also the MQTT "
        "message expiry of its shared template.",
    )
    share: bool = Field(
        True,
        description="Share visitor ids with the site's edges (.../visitors/<gate>/<id>, retained, "
        "expiring): one id from gate to gate and across restarts.",
    )
    threshold: float | None = Field(
        None, ge=-1, le=1, description="Same-visitor threshold; default: the face threshold."
    )
    max_visitors: int = Field(50_000, ge=1, description="Visitors held in memory at most.")
    max_per_gate: int = Field(
        10_000,
        ge=1,
        description="Visitors one gate may make known here (minted, or shared on its topic) at "
        "most; beyond it, that gate's visitors nearest expiry are evicted, so a flood of "
        "templates from one gate cannot push out the others'.",
    )


class OutboxConfig(_Strict):
    """The on-disk queue of events not yet acknowledged by the server."""

    path: Path = Field(description="SQLite file.")
    max_events: int = Field(
        200_000,
        ge=10,
        description="When full, new events are refused (counted, logged), never silently lost.",
    )
    drain_timeout_s: float = Field(
        30.0, ge=0, description="At the end of a finite source, wait this long for acks."
    )
    max_unstored: int = Field(
        1000,
        ge=1,
        description="Passages kept in memory, retried with backoff, while the outbox file "
        "fails (a full disk); beyond this they are lost, counted and logged.",
    )


class FacesConfig(_Strict):
    """Face crops of passages, kept on this machine only (issue 18): a bounded ring on disk,
    purged by age and size; the server asks for one crop at a time (MQTT 5 request/response)."""

    enabled: bool = Field(
        True, description="Keep each passage's best-frame crop and answer the server's requests."
    )
    dir: Path | None = Field(
        None, description="Folder of the ring (one JPEG per passage); default: <outbox dir>/faces."
    )
    days: float = Field(
        7, gt=0, le=365, description="A crop is deleted this long after its passage."
    )
    max_mb: float = Field(
        2000, gt=0, description="The ring's size cap (MB); the oldest crops go first."
    )
    push_watchlist: bool = Field(
        True,
        description="Push a watchlist passage's crop to the server at once (kind passage_face "
        "on .../sightings), so an officer can confirm the hit by eye.",
    )


CameraKind = Literal["gate", "internal"]
DirectionSetting = Literal["in", "out", "both", "none"]
MAX_CAMERAS = 8  # one process: beyond this its 2 cores cannot keep up anyway


def _check_direction(camera_kind: str, direction: str, line: LineRule | None) -> None:
    """The rules a camera's kind, direction and line must follow together (ValueError)."""
    if camera_kind == "internal" and direction != "none":
        raise ValueError("an internal camera has direction 'none'")
    if camera_kind == "gate" and direction == "none":
        raise ValueError("a gate camera needs direction in, out or both")
    if direction == "both" and line is None:
        raise ValueError("direction 'both' needs a line rule (line: {axis, in_when})")


class CameraConfig(_Strict):
    """One camera of the gate: its id, what a passage past it means, and its source."""

    camera: str = Field(pattern=ID_PATTERN, description="Camera id at this gate.")
    camera_kind: CameraKind = Field(
        "gate", description="internal cameras see people inside the compound: no direction."
    )
    direction: DirectionSetting = Field(
        description="What a passage past this camera means; 'both' needs line."
    )
    line: LineRule | None = None
    source: SourceConfig

    @model_validator(mode="after")
    def _direction_fits_camera(self) -> CameraConfig:
        try:
            _check_direction(self.camera_kind, self.direction, self.line)
        except ValueError as e:
            raise ValueError(f"camera {self.camera}: {e}") from None
        return self


class EdgeConfig(_Strict):
    """One gate process: one camera (top-level camera, direction, source ...) or several
    (``cameras:``), sharing the models, the gallery, the MQTT connection and the outbox."""

    site: str = Field(pattern=ID_PATTERN, description="Compound id (topic root).")
    gate: str = Field(pattern=ID_PATTERN, description="Gate id.")
    camera: str | None = Field(
        None, pattern=ID_PATTERN, description="Camera id at this gate (one-camera form)."
    )
    camera_kind: CameraKind = Field(
        "gate", description="internal cameras see people inside the compound: no direction."
    )
    direction: DirectionSetting | None = Field(
        None, description="What a passage past this camera means; 'both' needs line."
    )
    line: LineRule | None = None
    source: SourceConfig | None = None
    cameras: list[CameraConfig] | None = Field(
        None,
        description="Several cameras in one process (each: camera, camera_kind, direction, "
        "line, source); instead of the top-level camera fields.",
    )
    target_fps: float = Field(
        15.0, gt=0, le=60, description="Most frames processed per second, per camera."
    )
    frame_queue: int = Field(
        2,
        ge=1,
        le=100,
        description="Frames waiting per camera; beyond it a realtime source's oldest is dropped "
        "(counted), a lossless one waits.",
    )
    face: FaceConfig = Field(default_factory=FaceConfig)
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    visitors: VisitorConfig = Field(default_factory=VisitorConfig)
    search_threshold: float = Field(
        0.30,
        ge=-1,
        le=1,
        description="Score at or above which a frame counts for an active search; a sighting "
        "candidate needs 2 of the track's best frames there (never a name).",
    )
    search_evidence: bool = Field(
        True, description="Send an evidence picture with sighting candidates of active searches."
    )
    gallery_path: Path = Field(description="Last good gallery snapshot on disk.")
    gallery_token_env: str = Field(
        "GATEWATCH_EDGE_TOKEN",
        description="Environment variable holding the bearer token sent when a gallery "
        "snapshot is fetched over http(s).",
    )
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    outbox: OutboxConfig
    faces: FacesConfig = Field(default_factory=FacesConfig)
    status_interval_s: float = Field(10.0, gt=0, description="Seconds between status messages.")
    stats_interval_s: float = Field(60.0, gt=0, description="Seconds between stats log lines.")
    snapshot_policy: Literal["never"] = Field(
        "never",
        description="Passages never carry a face picture; only an active search's sighting "
        "candidates (search_evidence), gate captures (decision.captures) and watchlist passages "
        "(faces.push_watchlist) do. Other crops stay in the ring on this machine (faces).",
    )

    @model_validator(mode="after")
    def _one_form_of_cameras(self) -> EdgeConfig:
        single = {"camera": self.camera, "direction": self.direction, "source": self.source}
        given = [k for k, v in {**single, "line": self.line}.items() if v is not None]
        given += ["camera_kind"] if self.camera_kind != "gate" else []
        if self.cameras is not None:
            if given:
                raise ValueError(f"give either cameras: (a list) or the one-camera fields, "
                                 f"not both; move {', '.join(given)} into the cameras "
                                 f"list")  # fmt: skip
            self._check_camera_list(self.cameras)
            return self
        missing = [k for k, v in single.items() if v is None]
        if missing:
            raise ValueError(f"no camera: give cameras: (a list of camera, direction, "
                             f"source) or the one-camera fields ({', '.join(missing)} "
                             f"missing)")  # fmt: skip
        _check_direction(self.camera_kind, str(self.direction), self.line)
        return self

    @staticmethod
    def _check_camera_list(cameras: list[CameraConfig]) -> None:
        if not cameras:
            raise ValueError("cameras: is empty; list at least one camera")
        if len(cameras) > MAX_CAMERAS:
            raise ValueError(f"{len(cameras)} cameras: one process takes at most {MAX_CAMERAS}; "
                             f"run another process for the rest")  # fmt: skip
        ids = [c.camera for c in cameras]
        twice = sorted({c for c in ids if ids.count(c) > 1})
        if twice:
            raise ValueError(f"camera ids must be unique at a gate: {', '.join(twice)} twice")

    def camera_list(self) -> list[CameraConfig]:
        """The cameras in config order, in either form (the one-camera form gives one)."""
        if self.cameras is not None:
            return list(self.cameras)
        assert self.camera and self.direction and self.source  # the validator checked them
        one = CameraConfig(camera=self.camera, camera_kind=self.camera_kind,
                           direction=self.direction, line=self.line,
                           source=self.source)  # fmt: skip
        return [one]

    def faces_dir(self) -> Path:
        """The face ring's folder: ``faces.dir``, else ``faces/`` beside the outbox."""
        return self.faces.dir or self.outbox.path.parent / "faces"

    def gallery_token(self) -> str | None:
        """The token for gallery downloads, from the environment variable named above."""
        return os.environ.get(self.gallery_token_env) or None


def load_edge_config(path: Path) -> EdgeConfig:
    """Load and validate; ConfigError lists every bad key with its path."""
    return load_config(path, EdgeConfig)
