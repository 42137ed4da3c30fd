"""The alerts page's and the officer CLI's shapes: an alert with its person's name, its evidence
as readable parts (server/watch/alert_text.py), how many occurrences it stands for and its
history; a note on a step; a bulk acknowledgement (chosen alerts, or every open one matching the
list's filters)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from server.states import AlertRule, AlertState
from server.store.alerts import BULK_MAX, AlertFilter
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
    created: datetime  # the first occurrence
    updated: datetime
    updated_by: str | None
    count: int  # occurrences merged into this alert (1: a single one)
    last_ts: datetime  # the latest occurrence
    history: list[AlertStepOut]

    @classmethod
    def of(cls, a: NamedAlert, steps: list[AlertStep]) -> AlertOut:
        return cls(
            **a.model_dump(),
            summary=summary(a.rule.value, a.evidence),
            history=[AlertStepOut(**s.model_dump(exclude={"alert_id"})) for s in steps],
        )


class AlertRepeatOut(BaseModel):
    """One occurrence of a merged alert."""

    episode: str
    ts: datetime
    evidence: Evidence
    summary: list[Part]


MAX_INT = 2**31 - 1
AlertId = Annotated[int, Field(ge=1, le=MAX_INT)]
FIRST_DAY, LAST_DAY = date(2020, 1, 1), date(2099, 12, 31)  # the passages' own range
Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]


def day_start(day: date, tz: tzinfo) -> datetime:
    """The start (UTC) of a local day."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


class AlertQuery(BaseModel):
    """The alerts list's filters as a bulk acknowledgement repeats them: ``from_day`` and
    ``to_day`` are local days (both included); ``upto_id``: none newer than the newest alert
    the officer saw, so that one arriving meanwhile is not acknowledged unseen."""

    model_config = ConfigDict(extra="forbid")
    rule: AlertRule | None = None
    person: str | None = Field(default=None, max_length=64, pattern=TEXT_PATTERN)
    from_day: Day | None = None
    to_day: Day | None = None
    since: AwareDatetime | None = None
    upto_id: AlertId | None = None

    def to_filter(self, tz: tzinfo, state: AlertState | None = None) -> AlertFilter:
        since = [t for t in (self.since, self.from_day and day_start(self.from_day, tz)) if t]
        until = day_start(self.to_day + timedelta(days=1), tz) if self.to_day else None
        return AlertFilter(rule=self.rule, state=state, person=self.person or None,
                           since=max(since) if since else None, until=until,
                           upto_id=self.upto_id)  # fmt: skip


class BulkAckIn(BaseModel):
    """Acknowledge several alerts at once: the chosen ``ids``, or every open alert ``matching``
    the list's filters; only open ones change; an optional note goes to each one's history.
    ``upto_ts``: when the officer's list was made (its ``X-Listed-At``): an alert with an
    occurrence after it (a repeat merged since) is left open, not acknowledged unseen."""

    model_config = ConfigDict(extra="forbid")
    ids: list[AlertId] | None = Field(default=None, min_length=1, max_length=BULK_MAX)
    matching: AlertQuery | None = None
    upto_ts: AwareDatetime | None = None
    note: str | None = Field(default=None, max_length=1000, pattern=TEXT_PATTERN)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.ids is None) == (self.matching is None):
            raise ValueError("give either ids (the chosen alerts) or matching (the filters)")
        return self


class BulkAckOut(BaseModel):
    acknowledged: int  # how many open alerts were acknowledged now
    ids: list[int]
    by: str
    skipped: int = 0  # open ones left: a new occurrence since the list was made
