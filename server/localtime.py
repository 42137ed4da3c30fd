"""The compound's local time: 'today', and times as people there read them."""

from __future__ import annotations

import math
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


def day_time_text(ts: datetime | str, tz: tzinfo, locale: str, now: datetime | None = None) -> str:
    """'12月7日 周一 14:05' (en 'Mon 7 Dec 14:05') in the compound's zone; the year too when it
    is not this year's. The pages' ``GW.fmt(iso, "datetime")`` follows the same rules."""
    from server.i18n import text

    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    local = ts.astimezone(tz)
    this_year = (now or datetime.now(UTC)).astimezone(tz).year
    values = {
        "year": local.year,
        "month": text(locale, "fmt.months").split(",")[local.month - 1],
        "day": local.day,
        "weekday": text(locale, "fmt.weekdays").split(",")[local.weekday()],
        "time": local.strftime("%H:%M"),
    }
    key = "fmt.day_time" if local.year == this_year else "fmt.year_day_time"
    return text(locale, key, **values)


def duration_text(seconds: float, locale: str) -> str:
    """A length of time as people say it: '38 分钟', '2 小时 5 分', '3 天 4 小时' (never '0.1
    小时'). Rounded to the minute below a day, to the hour from a day on. The pages'
    ``GW.duration`` follows the same rules (tests/server/test_words.py checks both)."""
    from server.i18n import text

    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return text(locale, "dur.under_min")
    minutes = _round(seconds / 60)
    if minutes < 60:
        return text(locale, "dur.min", m=minutes)
    if minutes < 24 * 60:
        h, m = divmod(minutes, 60)
        return text(locale, "dur.h_min", h=h, m=m) if m else text(locale, "dur.h", h=h)
    d, h = divmod(_round(seconds / 3600), 24)
    return text(locale, "dur.d_h", d=d, h=h) if h else text(locale, "dur.d", d=d)


def pct_text(score: float, locale: str) -> str:
    """A similarity (0-1) as a whole percentage: '87%'."""
    from server.i18n import text

    return text(locale, "fmt.pct", n=_round(min(1.0, max(0.0, score)) * 100))


def _round(x: float) -> int:
    """Half up, as JavaScript's Math.round (Python's round() goes to even)."""
    return math.floor(x + 0.5)
