"""All reads and writes of the server's database, one repository per kind of record.

The server is the database's only writer. ``Store`` composes the repositories over one engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from contract.events import Passage
from server.store.alerts import AlertStore
from server.store.base import Repository, now_utc
from server.store.deadletters import DeadLetterStore, Refused
from server.store.events import EventStore
from server.store.gates import GateStore
from server.store.people import PeopleStore
from server.store.presence import PresenceStore
from server.store.records import as_utc
from server.store.references import ReferencePhoto, ReferenceStore
from server.store.registry import GalleryEntry, RegistryStore
from server.store.retention import RetentionStore
from server.store.searches import SearchStore, SightingHit
from server.store.users import UserStore, token_digest
from server.store.visitors import VisitorStore

__all__ = [
    "GalleryEntry",
    "Ingested",
    "ReferencePhoto",
    "Refused",
    "SightingHit",
    "Store",
    "as_utc",
    "now_utc",
    "token_digest",
]


@dataclass(frozen=True)
class Ingested:
    """What one insert of passages stored: the new passages and the sightings among them."""

    new: list[Passage]
    sightings: list[SightingHit]


class Store(
    EventStore,
    GateStore,
    PresenceStore,
    RegistryStore,
    SearchStore,
    AlertStore,
    UserStore,
    RetentionStore,
    VisitorStore,
    DeadLetterStore,
    PeopleStore,
    ReferenceStore,
):
    """Every repository over one engine."""

    def __init__(self, engine: Engine) -> None:
        Repository.__init__(self, engine)

    def insert_events(self, passages: Sequence[Passage]) -> Ingested:
        """Insert by event id, idempotently, with the sightings they are, in one transaction."""
        if not passages:
            return Ingested([], [])
        with self.engine.begin() as conn:
            new = self._add_events(conn, passages)
            self._touch_presence(conn, new)
            return Ingested(new, self._add_sightings(conn, new))
