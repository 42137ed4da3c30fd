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
        30, gt=0, description="The wall says its data is stale after this long without news."
    )


class VisitsConfig(_Strict):
    """Home visits to care-flag residents."""

    due_days: int = Field(
        30, ge=1, le=365, description="A care-flag resident not visited this long is due."
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
    auth_failures: int = Field(10, ge=1, description="Failed logins per client per window.")
    auth_window_s: float = Field(60, gt=0, description="Window of auth_failures; also the ban.")

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
    elder: ElderWatchConfig = Field(default_factory=ElderWatchConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    visitors: VisitorWatchConfig = Field(default_factory=VisitorWatchConfig)
    wall: WallConfig = Field(default_factory=WallConfig)
    visits: VisitsConfig = Field(default_factory=VisitsConfig)
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
