"""What the officer CLI prints, in the site's language and time zone.

The site's settings come from ``GET /api/site`` once per command (``site_of``); ``CliSite`` then
turns the API's UTC times into the compound's local time ("2026-11-30 21:04") and its keys into
the catalogue's text (server/i18n, keys ``cli.*`` and the shared ``direction.*``, ``rule.*``...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from server.i18n import DEFAULT_LOCALE, LOCALES, catalogue, text
from server.localtime import local_text


@dataclass(frozen=True)
class CliSite:
    """The site's language and time zone, and how the CLI writes with them."""

    locale: str = DEFAULT_LOCALE
    tz: tzinfo = ZoneInfo("Asia/Shanghai")

    def t(self, key: str, **values: object) -> str:
        """The catalogue's string ``key`` in the site's language."""
        return text(self.locale, key, **values)

    def local(self, ts: datetime | str | None, seconds: bool = False) -> str:
        """'2026-11-30 21:04' in the site's zone; the catalogue's "never" for None."""
        return local_text(ts, self.tz, seconds) if ts is not None else self.t("common.never")

    def hm(self, ts: datetime | str) -> str:
        """'21:04' in the site's zone."""
        return self.local(ts)[-5:]

    def hms(self, ts: datetime | str) -> str:
        """'21:04:05' in the site's zone."""
        return self.local(ts, seconds=True)[-8:]

    def label(self, group: str, value: str | None) -> str:
        """The catalogue's name of ``value`` in ``group`` (``direction``, ``role``, ``rule``,
        ``alert_state``, ``flag``, ``cli.user_role``), else the value itself."""
        if value is None:
            return self.t("common.none")
        return catalogue(self.locale).get(f"{group}.{value}", value)

    def where(self, inside: bool | None) -> str:
        """'inside' / 'outside' (the compound), or 'unknown'."""
        if inside is None:
            return self.t("common.unknown")
        return self.t("common.inside" if inside else "common.outside")

    def evidence(self, evidence: Mapping[str, Any]) -> str:
        """An alert's evidence as one readable line: labels from the catalogue
        (``cli.evidence.<field>``), times local, directions named; a field that has a
        ``<field>_local`` twin is shown once, in local time."""
        parts = []
        for k, v in evidence.items():
            if k.endswith("_local") and k.removesuffix("_local") in evidence:
                continue
            if k == "local_time" and "went_out" in evidence:  # the hour of went_out, again
                continue
            parts.append(f"{self.label('cli.evidence', k)} {self._value(k, v)}")
        return self.t("cli.list_sep").join(parts)

    def _value(self, key: str, v: object) -> str:
        if v is None:
            return self.t("common.none")
        if isinstance(v, str) and _is_time(v):
            return self.local(v)
        if key == "direction" and isinstance(v, str):
            return self.label("direction", v)
        if key == "hours" and isinstance(v, int | float):
            return self.t("common.hours", n=v)
        return str(v)


def _is_time(v: str) -> bool:
    """An ISO 8601 date-time with a zone, as the API writes times."""
    if len(v) < 19 or v[4] != "-" or "T" not in v:
        return False
    try:
        return datetime.fromisoformat(v).tzinfo is not None
    except ValueError:
        return False


def site_of(get: Callable[[str], Any]) -> CliSite:
    """The site's language and zone from ``GET /api/site`` (``get(path)`` -> decoded JSON)."""
    s = get("/api/site")
    locale = s.get("locale") if s.get("locale") in LOCALES else DEFAULT_LOCALE
    return CliSite(locale=locale, tz=ZoneInfo(s["timezone"]))
