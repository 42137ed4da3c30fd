"""The schema (SQLAlchemy Core), one module per domain sharing one MetaData. Changes go through
an Alembic revision in server/migrations. ``from server import tables as t; t.persons``."""

from server.tables.admin import (
    audit,
    galleries,
    sessions,
    users,
)
from server.tables.alerts import (
    alert_history,
    alert_repeats,
    alerts,
    notify_attempts,
    notify_outbox,
)
from server.tables.base import TS, metadata
from server.tables.ingest import (
    camera_passages,
    dead_letters,
    events,
    gates,
    hourly_counts,
    presence,
)
from server.tables.learning import (
    capture_faces,
    captures,
    review_items,
    review_rejections,
)
from server.tables.people import (
    home_visits,
    passage_faces,
    persons,
    reference_photos,
    templates,
)
from server.tables.searches import (
    candidate_evidence,
    candidates,
    searches,
    sightings,
)
from server.tables.visitors import (
    visitor_alias,
    visitor_matches,
    visitors,
)

__all__ = [
    "TS",
    "metadata",
    "persons",
    "templates",
    "reference_photos",
    "home_visits",
    "passage_faces",
    "captures",
    "capture_faces",
    "review_items",
    "review_rejections",
    "gates",
    "events",
    "presence",
    "camera_passages",
    "hourly_counts",
    "dead_letters",
    "visitors",
    "visitor_alias",
    "visitor_matches",
    "alerts",
    "alert_repeats",
    "alert_history",
    "notify_outbox",
    "notify_attempts",
    "searches",
    "sightings",
    "candidates",
    "candidate_evidence",
    "audit",
    "galleries",
    "users",
    "sessions",
]
