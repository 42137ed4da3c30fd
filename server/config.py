"""ServerConfig: the system of record of one compound, loaded once from YAML."""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.config import FaceConfig, load_config
from contract.gallery import Population
from contract.mqtt import MqttConfig
from contract.topics import ID_PATTERN
from models.learning import LearningPolicy
from server.faces.config import FacesConfig
from server.ingest.gatecheck import GateLimits
from server.notify.config import NotifyConfig
from server.site.names import SiteNames
from server.watch.repeats import AlertsConfig

_POLICY = LearningPolicy()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestConfig(_Strict):
    batch_max: int = Field(200, ge=1, le=10_000, description="Events committed in one transaction.")
    batch_wait_ms: int = Field(50, ge=0, le=5000, description="Longest wait to fill a batch.")
    shared_group: str | None = Field(
        None,
        pattern=ID_PATTERN,
        description="Share the events among server workers ($share/<group>/...); None: one worker.",
    )
    max_future_skew_s: float = Field(
        300, ge=0, le=86_400, description="Refuse passages dated further than this in the future."
    )
    stuck_after_s: float = Field(
        60, gt=0, description="Health says degraded when storing has failed this long."
    )
    retry_max_s: float = Field(
        10, gt=0, le=300, description="Longest wait between retries of a failing store."
    )


class ElderWatchConfig(_Strict):
    age_years: int = Field(70, ge=0, le=130, description="Residents this old or older are watched.")
    not_seen_h: float = Field(48, gt=0, description="Alert when not seen by any camera this long.")
    out_not_back_h: float = Field(6, gt=0, description="Alert when out and not back this long.")
    no_passage_today_h: float = Field(
        24, gt=0, description="Alert when a resident living alone has no passage this long."
    )
    night_lookback_h: float = Field(
        24, gt=0, description="How far back each scan looks for passages out at night."
    )
    night_start_h: int = Field(22, ge=0, le=23, description="Night window start (local hour).")
    night_end_h: int = Field(5, ge=0, le=23, description="Night window end (local hour).")
    scan_interval_s: float = Field(60, gt=0, description="How often the rules are checked.")


class VisitorWatchConfig(_Strict):
    """Visitors inside the compound: the night rule (an alert with the visitor id, no name)."""

    inside_at_night_h: float = Field(
        4, gt=0, description="Alert for a visitor inside longer than this during the night."
    )
    night_start_h: int = Field(22, ge=0, le=23, description="Night window start (local hour).")
    night_end_h: int = Field(5, ge=0, le=23, description="Night window end (local hour).")
    lookback_h: float = Field(
        48, gt=0, description="Visitors whose last passage is older than this are not counted."
    )


class RetentionConfig(_Strict):
    visitor_days: float = Field(7, gt=0, description="Visitor events and visitor templates.")
    resident_days: float = Field(180, gt=0, description="Events of enrolled persons.")
    audit_days: float = Field(730, gt=0, description="Audit log.")
    closed_search_days: float = Field(
        30, gt=0, description="A closed search with its candidates, sightings and matches."
    )
    closed_alert_days: float = Field(
        180,
        gt=0,
        description="An acknowledged, resolved or closed alert and its history, after its last "
        "change.",
    )
    removed_person_days: float = Field(
        180, gt=0, description="A removed person's row (name, phone...) after the removal."
    )
    dead_letter_max_rows: int = Field(
        10_000, ge=100, le=1_000_000, description="Dead letters kept at most (oldest out first)."
    )
    purge_interval_s: float = Field(3600, gt=0)


class SearchConfig(_Strict):
    evidence: bool = Field(
        True, description="Keep the evidence pictures of sighting candidates (active searches)."
    )
    evidence_retention_days: float = Field(
        30, gt=0, description="Evidence pictures are deleted this long after they arrived."
    )


class WallConfig(_Strict):
    """The police room's wall screen (a screen the public may see)."""

    names: Literal["masked", "roles", "full"] = Field(
        "masked", description="masked: 王*华, building 7; roles: no name at all; full: the name."
    )
    passages: int = Field(12, ge=10, le=15, description="Live passages the wall shows.")
    stale_after_s: float = Field(
        15, gt=0, description="The wall says its data is stale after this long without news."
    )
    health_every_s: float = Field(
        5, gt=0, le=60, description="The wall's stream sends the server's and gates' health."
    )
    gate_interval_s: float = Field(
        10, gt=0, description="Status interval of an edge whose status does not say its own."
    )
    gate_grace_s: float = Field(
        5, ge=0, description="A gate is offline once its status is this much past its interval."
    )


class VisitsConfig(_Strict):
    """Home visits to care-flag residents."""

    due_days: int = Field(
        30, ge=1, le=365, description="A care-flag resident not visited this long is due."
    )


class LearningConfig(_Strict):
    """The gallery that learns at the gate (server/learning/): review items and guarded learning.

    The calibrated points come from models.learning.LearningPolicy; its defaults are these."""

    enabled: bool = Field(True, description="Take gate captures: review items and learning.")
    auto: bool = Field(True, description="Learn automatically (guarded); off: review items only.")
    returning_days: int = Field(
        _POLICY.returning_days, ge=2, le=31,
        description="A visitor id seen on this many local days becomes an item.",
    )
    returning_window_days: int = Field(
        _POLICY.returning_window_days, ge=2, le=31,
        description="...of the last this many local days (today included).",
    )
    capture_days: float = Field(
        7, gt=0, description="Captures no review item needs are deleted after this (faces too)."
    )
    review_days: float = Field(
        30, gt=0, description="Decided (or undecided) review items and their faces live this long."
    )
    rejection_days: float = Field(
        365, gt=0, description="A rejected pair (and its template) is remembered this long."
    )
    max_gate_templates: int = Field(
        _POLICY.max_gate_templates, ge=1, le=50,
        description="Gate templates per person (oldest replaced first; enrollment never).",
    )  # fmt: skip
    auto_per_day: int = Field(
        _POLICY.auto_per_day, ge=0, le=10, description="Automatic additions per person per day."
    )
    review_fpir: float = Field(_POLICY.review_fpir, gt=0, lt=1, description="Review floor.")
    returning_fpir: float = Field(
        _POLICY.returning_fpir, gt=0, lt=1,
        description="Visitor floor: a visitor's capture above it counts for the returning rule.",
    )  # fmt: skip
    learn_fpir: float = Field(_POLICY.learn_fpir, gt=0, lt=1, description="Learning point.")
    learn_min_frames: int = Field(_POLICY.learn_min_frames, ge=1, le=100)
    learn_margin: float = Field(_POLICY.learn_margin, ge=0, le=2)
    anchor_far: float = Field(
        _POLICY.anchor_far, gt=0, lt=1, description="One-to-one FAR of the enrollment anchor."
    )
    target_fpir: float = Field(
        0.003, gt=0, lt=1, description="The edges' decision.target_fpir (the naming threshold)."
    )
    fusion: Literal["mean", "vote"] = Field(
        "mean",
        description="The edges' decision.fusion: with mean the points are taken at the targets "
        "divided by models.learning.FUSED_FAR_RATIO, as the edges take them.",
    )
    same_visitor_threshold: float | None = Field(
        None, ge=-1, le=1,
        description="A capture this close to a rejected one is the same face (None: naming).",
    )  # fmt: skip
    scan_interval_s: float = Field(600, gt=0, description="Returning-visitor scan interval.")
    gallery_quiet_s: float = Field(
        3, ge=0, le=600, description="A learned template is published after this quiet time..."
    )
    gallery_max_wait_s: float = Field(
        30, gt=0, le=3600, description="...or at most this long after the first change."
    )

    @model_validator(mode="after")
    def _window(self) -> LearningConfig:
        if self.returning_days > self.returning_window_days:
            raise ValueError("learning.returning_days cannot exceed returning_window_days")
        return self

    def policy(self) -> LearningPolicy:
        """The LearningPolicy these settings make."""
        return LearningPolicy(
            review_fpir=self.review_fpir,
            returning_fpir=self.returning_fpir,
            returning_days=self.returning_days,
            returning_window_days=self.returning_window_days,
            learn_fpir=self.learn_fpir,
            learn_min_frames=self.learn_min_frames,
            learn_margin=self.learn_margin,
            anchor_far=self.anchor_far,
            max_gate_templates=self.max_gate_templates,
            auto_per_day=self.auto_per_day,
        )


class HttpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = Field(
        None, description="Base URL edges use to fetch galleries; default http(s)://host:port."
    )
    tls_cert: Path | None = Field(None, description="PEM certificate (chain): serve HTTPS.")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="Largest request body (JSON) of any route."
    )
    max_upload_bytes: int = Field(
        10 << 20, ge=1024, description="Largest photo upload (multipart body)."
    )
    max_photo_pixels: int = Field(
        40_000_000, ge=10_000, description="Largest photo (width x height) decoded."
    )
    token_days: float = Field(90, gt=0, description="Lifetime of tokens made through the API.")
    session_hours: float = Field(12, gt=0, description="Lifetime of a dashboard login.")
    kiosk_days: float = Field(30, gt=0, description="A kiosk's (viewer's) session renews itself at most this long after its sign-in.")  # noqa: E501
    auth_failures: int = Field(10, ge=1, description="Failed logins per client per window.")
    auth_window_s: float = Field(60, gt=0, description="Window of auth_failures; also the ban.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses (or networks) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; none by default (the peer's address counts).",
    )
    header_timeout_s: float = Field(
        10, gt=0, le=300, description="A request's headers must arrive within this, else closed."
    )
    keepalive_timeout_s: float = Field(
        5, gt=0, le=300, description="An idle kept-alive connection is closed after this."
    )
    max_connections: int = Field(
        4096, ge=10, le=60_000,
        description="Open connections served at once; beyond it new requests get 503.",
    )  # fmt: skip
    max_header_bytes: int = Field(
        16_384, ge=4096, le=1 << 20, description="Largest request line and headers."
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("http.tls_cert and http.tls_key go together: set both or neither")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


class ServerConfig(_Strict):
    site: str = Field(pattern=ID_PATTERN, description="Compound id (topic root).")
    locale: Literal["zh-CN", "en"] = Field(
        "zh-CN", description="Language of the pages and the officer CLI (zh-CN or en)."
    )
    timezone: str = Field(
        "Asia/Shanghai",
        description="The compound's IANA time zone: local times, 'today', night windows.",
    )
    population: Population | None = Field(
        None,
        description="Whose faces the gates serve: east_asian or general; the calibration curve "
        "that sets every edge's naming threshold (written into the gallery). Default follows "
        "locale: zh-CN east_asian, en general.",
    )
    data_dir: Path = Field(description="Database (SQLite), gallery snapshots.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/gatewatch.db."
    )
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    gates: GateLimits = Field(default_factory=GateLimits)
    elder: ElderWatchConfig = Field(default_factory=ElderWatchConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    visitors: VisitorWatchConfig = Field(default_factory=VisitorWatchConfig)
    wall: WallConfig = Field(default_factory=WallConfig)
    names: SiteNames = Field(default_factory=SiteNames)  # display names (server/site/names.py)
    visits: VisitsConfig = Field(default_factory=VisitsConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    faces: FacesConfig = Field(default_factory=FacesConfig)
    face: FaceConfig = Field(default_factory=FaceConfig)
    admin_token_env: str = Field(
        "GATEWATCH_ADMIN_TOKEN", description="Env var whose token becomes the first admin's."
    )

    @model_validator(mode="after")
    def _known_timezone(self) -> ServerConfig:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(
                f"timezone {self.timezone!r} is not an IANA time zone (e.g. Asia/Shanghai)"
            ) from e
        return self

    @property
    def site_population(self) -> Population:
        """The population setting in force: the configured one, else the locale's."""
        if self.population is not None:
            return self.population
        return "east_asian" if self.locale == "zh-CN" else "general"

    @property
    def tz(self) -> tzinfo:
        """The compound's local time zone."""
        return ZoneInfo(self.timezone)

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'gatewatch.db'}"


def load_server_config(path: Path) -> ServerConfig:
    """Load and validate; ConfigError lists every bad key with its path."""
    return load_config(path, ServerConfig)
