"""Is a gate camera online? Its last status says so, and that status is not overdue.

An edge reports every ``status_interval_s`` (it says so in its status; an older edge does not, and
then the wall's ``gate_interval_s`` stands in). A status older than that interval plus
``gate_grace_s`` is overdue: the edge, its network or the broker is away, whatever the status
said. Ages are measured on the server's clock (the edge's time corrected by its known skew).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel

from server.config import WallConfig
from server.ingest.gatecheck import GateLimits, GateTrouble
from server.store import Store, now_utc
from server.store.records import Gate

EDGE_INTERVAL_S = 10.0  # the edge's default status_interval_s (edge/config.py)


def interval_s(g: Gate, default_s: float = EDGE_INTERVAL_S) -> float:
    """Seconds between this camera's statuses, as its status says, else ``default_s``."""
    v = (g.status or {}).get("status_interval_s")
    return float(v) if isinstance(v, int | float) and v > 0 else default_s


def received(g: Gate) -> datetime | None:
    """When the last status arrived, on the server's clock (as far as the skew is known)."""
    if g.last_status is None:
        return None
    return g.last_status - timedelta(seconds=g.clock_skew_s or 0.0)


def reports_online(g: Gate) -> bool:
    """The last status says online, with a camera that is not lost."""
    return g.state == "online" and g.camera_state != "camera_lost"


def overdue_at(g: Gate, default_s: float, grace_s: float) -> datetime | None:
    """When the next status was due at the latest (None: no status yet)."""
    at = received(g)
    return None if at is None else at + timedelta(seconds=interval_s(g, default_s) + grace_s)


def online(g: Gate, now: datetime, default_s: float, grace_s: float) -> bool:
    """Reports online and its status is not overdue."""
    due = overdue_at(g, default_s, grace_s)
    return reports_online(g) and due is not None and now <= due


def since(g: Gate, now: datetime, default_s: float, grace_s: float) -> datetime | None:
    """Since when the camera has been in the state ``online`` gives: since its status went
    overdue if it fell silent, else since the reported state began."""
    due = overdue_at(g, default_s, grace_s)
    if reports_online(g) and due is not None and now > due:
        return due
    return g.state_since or received(g)


def age_s(g: Gate, now: datetime) -> float | None:
    """Seconds since the last status arrived."""
    at = received(g)
    return None if at is None else round(max(0.0, (now - at).total_seconds()), 1)


class Heard(NamedTuple):
    """A camera heard of: its status row (None: passages only) and its last passage."""

    status: Gate | None
    gate: str
    camera: str
    last_passage: datetime | None


def heard_cameras(store: Store, limits: GateLimits, now: datetime) -> list[Heard]:
    """Every camera heard of (status or passage) within ``camera_stale_days``; those known by
    passages only at most ``max_cameras`` per gate (counting those with a status; the newest
    first). The wall and the /gates page both show these."""
    fresh = now - timedelta(days=limits.camera_stale_days)
    last = store.camera_passages()
    out = [Heard(g, g.gate, g.camera, last.pop((g.gate, g.camera), None))
           for g in store.gates(fresh_since=fresh)]  # fmt: skip
    per_gate = Counter(h.gate for h in out)
    for (g, c), ts in sorted(last.items(), key=lambda kv: kv[1], reverse=True):
        if ts < fresh or per_gate[g] >= limits.max_cameras:
            continue
        per_gate[g] += 1
        out.append(Heard(None, g, c, ts))
    return out


M = TypeVar("M", bound=BaseModel)


def with_troubles(items: list[M], troubles: Mapping[str, GateTrouble]) -> list[M]:
    """Each camera with its gate's refused passages and problem (``refused_recent``,
    ``problem``), from the ingest's refusal report."""
    return [
        g.model_copy(update={"refused_recent": tr.refused_recent, "problem": tr.problem})
        if (tr := troubles.get(g.gate)) is not None
        else g
        for g in items
    ]


class GateHealth(BaseModel):
    """One gate camera for the workbench's /gates page: state and since when, camera, rate,
    backlog, last passage and status, and what its status says of software and calibration."""

    gate: str
    camera: str
    online: bool | None  # None: unknown (the server is not connected to the broker)
    since: datetime | None
    state: str | None
    camera_state: str | None
    fps: float | None = None
    outbox_depth: int | None = None
    outbox_error: str | None = None
    dropped_frames: int | None = None
    lost_events: int | None = None
    refused_events: int | None = None
    last_passage: datetime | None
    last_status: datetime | None  # when it arrived (server clock)
    status_age_s: float | None
    status_interval_s: float
    clock_skew_s: float | None
    software: str | None = None
    gallery_version: int | None = None
    gallery_templates: int | None = None
    match_threshold: float | None = None
    calibration: str | None = None
    latency_ms: dict[str, float] = {}
    # The gate's passages refused over gates.refusal_window_s, and its problem when most are
    # (clock_skew, malformed, oversized, database; None: fine), as on the wall.
    refused_recent: int = 0
    problem: str | None = None


class GatesHealth(BaseModel):
    now: datetime
    broker: bool  # the server hears the gates
    live: bool  # ingest works (/api/health ok)
    gates: list[GateHealth]


def gate_health(
    g: Gate | None,
    gate: str,
    camera: str,
    last_passage: datetime | None,
    now: datetime,
    cfg: WallConfig,
    broker: bool,
) -> GateHealth:
    """``g`` (None: a camera with passages and no status) as the /gates page shows it."""
    if g is None:
        return GateHealth(gate=gate, camera=camera, online=False if broker else None, since=None,
                          state=None, camera_state=None, last_passage=last_passage,
                          last_status=None, status_age_s=None,
                          status_interval_s=cfg.gate_interval_s, clock_skew_s=None)  # fmt: skip
    st = g.status or {}

    def num(key: str, kind: type) -> Any:  # noqa: ANN401
        v = st.get(key)
        return kind(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    trouble = st.get("outbox_error")
    is_on = online(g, now, cfg.gate_interval_s, cfg.gate_grace_s)
    return GateHealth(
        gate=gate,
        camera=camera,
        online=is_on if broker else None,
        since=since(g, now, cfg.gate_interval_s, cfg.gate_grace_s),
        state=g.state,
        camera_state=g.camera_state,
        fps=num("fps", float),
        outbox_depth=num("outbox_depth", int),
        outbox_error=str(trouble.get("code")) if isinstance(trouble, dict) else None,
        dropped_frames=num("dropped_frames", int),
        lost_events=num("lost_events", int),
        refused_events=num("refused_events", int),
        last_passage=last_passage,
        last_status=received(g),
        status_age_s=age_s(g, now),
        status_interval_s=interval_s(g, cfg.gate_interval_s),
        clock_skew_s=g.clock_skew_s,
        software=st.get("software") if isinstance(st.get("software"), str) else None,
        gallery_version=num("gallery_version", int),
        gallery_templates=num("gallery_templates", int),
        match_threshold=num("match_threshold", float),
        calibration=st.get("calibration") if isinstance(st.get("calibration"), str) else None,
        latency_ms={k: float(v) for k, v in (st.get("latency_ms") or {}).items()
                    if isinstance(v, int | float)},  # fmt: skip
    )


def gates_health(
    store: Store,
    cfg: WallConfig,
    limits: GateLimits,
    troubles: Mapping[str, GateTrouble],
    broker: bool,
    live: bool,
    now: datetime | None = None,
) -> GatesHealth:
    """Every camera heard of (``heard_cameras``: the wall's), with its gate's refusals."""
    now = now or now_utc()
    out = [gate_health(h.status, h.gate, h.camera, h.last_passage, now, cfg, broker)
           for h in heard_cameras(store, limits, now)]  # fmt: skip
    out = with_troubles(out, troubles)
    return GatesHealth(now=now, broker=broker, live=live,
                       gates=sorted(out, key=lambda h: (h.gate, h.camera)))  # fmt: skip
