"""Liveness (open) and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError

from server.api.deps import Server, Viewer
from server.api.schemas import GateProblem, Health

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/api/health")
def health(app: Server) -> Health:
    """Always 200 while the process answers; ``state`` says whether ingest works."""
    h = app.bus.health()
    problems = [
        GateProblem(gate=g.gate, problem=g.problem or "", refused_recent=g.refused_recent,
                    stored_recent=g.stored_recent)
        for g in app.bus.refusals.problems()
    ]  # fmt: skip
    return Health(
        ok=h.state == "ok",
        state=h.state,
        mqtt_connected=h.connected,
        last_message_at=h.last_message_at,
        pending=h.pending,
        failing_for_s=h.failing_for_s,
        errors=h.errors,
        reasons=list(h.reasons),
        gates=problems,
    )


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(app: Server, _u: Viewer) -> str:
    s = app.bus.stats
    h = app.bus.health()
    last = h.last_message_at.timestamp() if h.last_message_at else 0
    lines = [
        "# TYPE gatewatch_ingest_received_total counter",
        f"gatewatch_ingest_received_total {s.received}",
        f"gatewatch_ingest_inserted_total {s.inserted}",
        f"gatewatch_ingest_duplicates_total {s.duplicates}",
        f"gatewatch_ingest_malformed_total {s.malformed}",
        f"gatewatch_ingest_db_errors_total {s.db_errors}",
        f"gatewatch_ingest_batches_total {s.batches}",
        f"gatewatch_ingest_future_total {s.future}",
        f"gatewatch_ingest_dead_letters_total {s.dead_letters}",
        f"gatewatch_ingest_status_errors_total {s.status_errors}",
        f"gatewatch_ingest_callback_errors_total {s.callback_errors}",
        f"gatewatch_ingest_oversized_total {s.oversized}",
        f"gatewatch_gates_refusing {len(app.bus.refusals.problems())}",
        f"gatewatch_ingest_pending {h.pending}",
        f"gatewatch_ingest_failing_seconds {h.failing_for_s}",
        f"gatewatch_ingest_last_message_timestamp_seconds {last}",
        f"gatewatch_ingest_degraded {int(h.state == 'degraded')}",
        f"gatewatch_mqtt_connected {int(app.bus.connected)}",
    ]
    try:
        lines.append(f"gatewatch_events_stored {app.store.count_events()}")
    except SQLAlchemyError:  # the database is away: the ingest lines above still tell why
        log.warning("metrics: cannot count the stored events", exc_info=True)
    return "\n".join(lines) + "\n"
