"""Liveness (open) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from server.api.deps import Server, Viewer
from server.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/api/health")
def health(app: Server) -> Health:
    return Health(ok=True, mqtt_connected=app.bus.connected)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(app: Server, _u: Viewer) -> str:
    s = app.bus.stats
    lines = [
        "# TYPE gatewatch_ingest_received_total counter",
        f"gatewatch_ingest_received_total {s.received}",
        f"gatewatch_ingest_inserted_total {s.inserted}",
        f"gatewatch_ingest_duplicates_total {s.duplicates}",
        f"gatewatch_ingest_malformed_total {s.malformed}",
        f"gatewatch_ingest_db_errors_total {s.db_errors}",
        f"gatewatch_ingest_batches_total {s.batches}",
        f"gatewatch_mqtt_connected {int(app.bus.connected)}",
        f"gatewatch_events_stored {app.store.count_events()}",
    ]
    return "\n".join(lines) + "\n"
