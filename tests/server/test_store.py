"""The store on both databases: atomic template replacement, upsert in one statement, typed rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from server.states import AlertRule, AlertState, SearchState
from server.store import Store
from server.store.records import AlertRecord, Event, PassageRow, Person, PersonEntry
from tests.server.conftest import passage

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)



def _unit_rows(n: int, dim: int = 8) -> np.ndarray:
    e = np.random.default_rng(n).normal(size=(n, dim)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_replace_templates_is_one_transaction(store: Store) -> None:
    store.upsert_person(PersonEntry(id="p-1", name="One", role="resident"))
    store.add_templates("p-1", _unit_rows(2), "sface:test", [0.9, 0.8])
    # model_id is NOT NULL: the insert fails after the delete ran in the same transaction.
    with pytest.raises(sa.exc.IntegrityError):
        store.replace_templates("p-1", _unit_rows(3), None, [None] * 3)  # type: ignore[arg-type]
    assert store.template_count("p-1") == 2, "the old templates survive a failed replacement"
    assert store.replace_templates("p-1", _unit_rows(3), "sface:test", [None] * 3) == 3
    assert store.template_count("p-1") == 3


def test_upsert_person_is_one_insert_on_conflict(store: Store) -> None:
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2].upper()))
    store.upsert_person(PersonEntry(id="p-1", name="One", role="resident", phone="1"))
    first = store.get_person("p-1")
    assert first is not None
    store.remove_person("p-1")
    statements.clear()
    store.upsert_person(PersonEntry(id="p-1", name="Uno", role="courier", company="FastPost"))
    writes = [s for s in statements if not s.startswith(("BEGIN", "COMMIT", "PRAGMA"))]
    assert len(writes) == 1 and writes[0].startswith("INSERT") and "ON CONFLICT" in writes[0]
    again = store.get_person("p-1")
    assert again is not None
    assert (again.name, again.role, again.company, again.phone) == (
        "Uno",
        "courier",
        "FastPost",
        None,
    )
    assert again.removed is False, "enrolling again brings a removed person back"
    assert again.created == first.created and again.updated >= first.updated


def test_rows_are_typed_and_read_by_column_name(store: Store) -> None:
    store.upsert_person(
        PersonEntry(id="p-1", name="One", role="resident", birth_date=date(1940, 2, 3))
    )
    p = passage("s", 1, "p-1", "out", NOW - timedelta(hours=1), gate="north")
    store.insert_events([p])
    person = store.get_person("p-1")
    assert isinstance(person, Person) and person.birth_date == date(1940, 2, 3)
    assert person.created.tzinfo is not None
    [ev] = store.events(NOW - timedelta(hours=2))
    assert isinstance(ev, Event)
    assert (ev.event_id, ev.gate, ev.direction, ev.identity, ev.ts) == (
        p.event_id, "north", "out", "p-1", p.ts,
    )  # fmt: skip
    last = store.last_passage("p-1")
    assert isinstance(last, PassageRow) and last.ts == p.ts and last.ts.tzinfo is not None
    with pytest.raises(Exception, match="frozen"):
        last.gate = "south"  # type: ignore[misc]
    store.add_alert(AlertRule.NOT_SEEN, "p-1", "since:x", {"hours": 50.0})
    [a] = store.alerts(AlertState.OPEN)
    assert (
        isinstance(a, AlertRecord) and a.state is AlertState.OPEN and a.evidence == {"hours": 50.0}
    )


def test_events_of_a_gate_newest_first_with_limit(store: Store) -> None:
    ps = [
        passage("s", i, f"p{i}", ts=NOW - timedelta(minutes=i), gate="ab"[i % 2])
        for i in range(1, 7)
    ]
    store.insert_events(ps)
    assert [e.seq for e in store.events(NOW - timedelta(hours=1), limit=3)] == [1, 2, 3]
    assert [e.seq for e in store.events(NOW - timedelta(hours=1), gate="a")] == [2, 4, 6]


def test_sightings_are_stored_with_their_passages_for_active_searches_only(store: Store) -> None:
    store.add_search("s-open", reason="missing", raised_by="officer1", person_id="p-1")
    store.add_search("s-done", reason="found", raised_by="officer1", person_id="p-2")
    store.close_search("s-done", "officer1")
    hit = passage("s", 1, "p-1", search_id="s-open")
    late = passage("s", 2, "p-2", search_id="s-done")
    got = store.insert_events([hit, late, passage("s", 3, "p-3")])
    assert len(got.new) == 3
    assert [(h.sighting.event_id, h.searched_person) for h in got.sightings] == [
        (hit.event_id, "p-1")
    ]
    assert store.insert_events([hit]).sightings == [], "a redelivered passage is no new sighting"
    assert [s.event_id for s in store.sightings("s-open")] == [hit.event_id]
    assert store.sightings("s-done") == []
    assert store.search("s-done").state is SearchState.CLOSED
