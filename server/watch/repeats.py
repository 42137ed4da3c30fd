"""Repeats of one person and rule merge into one alert: the setting, and the evidence a merged
occurrence is published with (its count, an optional key old readers of ``.../alerts`` accept)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from server.store.records import AlertRecord, Evidence


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repeat_window_min: float = Field(
        30,
        ge=0,
        le=7 * 24 * 60,
        description="A new occurrence of the same rule for the same person within this many "
        "minutes of that alert's latest one, while it is still open (not acknowledged), is "
        "counted on it instead of raising another alert; 0: every occurrence is its own alert.",
    )

    @property
    def repeat_window(self) -> timedelta:
        return timedelta(minutes=self.repeat_window_min)


def counted(evidence: Evidence, alert: AlertRecord) -> Evidence:
    """The occurrence's evidence, with how many occurrences its alert now stands for and when
    the first was raised when it was merged into an earlier one."""
    if alert.count <= 1:
        return evidence
    return {**evidence, "count": alert.count, "first_raised": alert.created.isoformat()}
