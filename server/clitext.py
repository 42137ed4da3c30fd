"""What the officer CLI prints, in the site's language and time zone.

The site's settings come from ``GET /api/site`` once per command (``site_of``); ``CliSite`` then
turns the API's UTC times into the compound's local time with the weekday ("12月7日 周一 14:05"),
gate and camera ids into their display names (``names:`` in server.yaml), lengths of time into
words ("2 小时 5 分") and its keys into the catalogue's text (server/i18n, keys ``cli.*`` and the
shared ``direction.*``, ``rule.*``...).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from server.i18n import DEFAULT_LOCALE, LOCALES, catalogue, text
from server.localtime import day_time_text, duration_text, local_text, pct_text
from server.site.names import SiteNames


@dataclass(frozen=True)
class CliSite:
    """The site's language and time zone, and how the CLI writes with them."""

    locale: str = DEFAULT_LOCALE
    tz: tzinfo = ZoneInfo("Asia/Shanghai")
    names: SiteNames = field(default_factory=SiteNames)

    def t(self, key: str, **values: object) -> str:
        """The catalogue's string ``key`` in the site's language."""
        return text(self.locale, key, **values)

    def local(self, ts: datetime | str | None, seconds: bool = False) -> str:
        """'12月7日 周一 21:04' in the site's zone (the year too when not this year's); with
        ``seconds`` '2026-11-30 21:04:05'; the catalogue's "never" for None."""
        if ts is None:
            return self.t("common.never")
        return local_text(ts, self.tz, True) if seconds else day_time_text(ts, self.tz, self.locale)

    def hm(self, ts: datetime | str) -> str:
        """'21:04' in the site's zone."""
        return local_text(ts, self.tz)[-5:]

    def hms(self, ts: datetime | str) -> str:
        """'21:04:05' in the site's zone."""
        return local_text(ts, self.tz, seconds=True)[-8:]

    def duration(self, seconds: float) -> str:
        """'38 分钟', '2 小时 5 分', '3 天 4 小时' (server/localtime.py duration_text)."""
        return duration_text(seconds, self.locale)

    def pct(self, score: float) -> str:
        """A similarity as '87%'."""
        return pct_text(score, self.locale)

    def where(self, gate: str | None, camera: str | None = None) -> str:
        """'北门（进门）' with display names, 'north/in-cam' without."""
        return self.names.where(gate, camera)

    def label(self, group: str, value: str | None) -> str:
        """The catalogue's name of ``value`` in ``group`` (``direction``, ``role``, ``rule``,
        ``alert_state``, ``flag``, ``cli.user_role``), else the value itself."""
        if value is None:
            return self.t("common.none")
        return catalogue(self.locale).get(f"{group}.{value}", value)

    def inside(self, inside: bool | None) -> str:
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
            return self.duration(v * 3600)
        if key in ("gate", "return_gate") and isinstance(v, str):
            return self.names.gate(v)
        if key == "score" and isinstance(v, int | float):
            return self.pct(v)
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
    names = SiteNames.model_validate(s.get("names") or {})
    return CliSite(locale=locale, tz=ZoneInfo(s["timezone"]), names=names)


def help_locale() -> str:
    """The language of ``--help``: $GATEWATCH_LANG (zh-CN or en), else the default (zh-CN). Help
    is printed before any server is asked, so it cannot follow the site's setting by itself."""
    asked = os.environ.get("GATEWATCH_LANG")
    return asked if asked in LOCALES else DEFAULT_LOCALE


def helptext(key: str) -> str:
    """A command's or option's help from the catalogue (``help.<key>``)."""
    return text(help_locale(), f"help.{key}")
