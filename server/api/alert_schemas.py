"""The alerts page's and the officer CLI's shapes: an alert with its person's name, its evidence
as readable parts (server/watch/alert_text.py) and its history; a note on a step."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from server.states import AlertRule, AlertState
from server.store.records import TEXT_PATTERN, AlertStep, Evidence, NamedAlert
from server.watch.alert_text import Part, summary


class NoteIn(BaseModel):
    """An optional note on acknowledging or closing an alert, or closing a search."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=1000, pattern=TEXT_PATTERN)


class AlertStepOut(BaseModel):
    ts: datetime
    user: str
    state: AlertState
    note: str | None


class AlertOut(BaseModel):
    """An alert for an officer: the registered person's name (None for a visitor or a photo
    search), the evidence raw and as ``summary`` parts, and who did what when."""

    model_config = ConfigDict(protected_namespaces=())
    id: int
    rule: AlertRule
    person_id: str
    person_name: str | None
    episode: str
    state: AlertState
    evidence: Evidence
    summary: list[Part]
    created: datetime
    updated: datetime
    updated_by: str | None
    history: list[AlertStepOut]

    @classmethod
    def of(cls, a: NamedAlert, steps: list[AlertStep]) -> AlertOut:
        return cls(
            **a.model_dump(),
            summary=summary(a.rule.value, a.evidence),
            history=[AlertStepOut(**s.model_dump(exclude={"alert_id"})) for s in steps],
        )
