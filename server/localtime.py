"""The compound's local time: 'today', and times as people there read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo


def local_midnight(now: datetime, tz: tzinfo, days_back: int = 0) -> datetime:
    """The start (UTC) of the local day ``days_back`` days before the one ``now`` falls in."""
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=days_back)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def local_text(ts: datetime | str | None, tz: tzinfo, seconds: bool = False) -> str:
    """'2026-11-30 20:01' in the compound's zone ('' for None); ISO strings are accepted."""
    if ts is None:
        return ""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
