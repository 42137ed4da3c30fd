"""An alert's evidence as readable text: which catalogue string, with which values.

The API hands each alert a ``summary`` (a list of parts, each a catalogue key with its values);
the pages fill it with ``GW.t`` and the officer CLI with ``server.i18n.text``, so the words live
once, in the catalogues. Values named in ``times`` are ISO times the reader shows in the site's
zone; values named in ``labels`` are looked up as ``<prefix>.<value>`` (e.g. a direction).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from typing_extensions import TypedDict  # pydantic reads it on Python 3.11

from server.i18n import catalogue, text
from server.localtime import day_time_text, duration_text, pct_text
from server.site.names import SiteNames
from server.store.records import Evidence

Value = str | float | int | None


class Part(TypedDict):
    key: str
    vars: dict[str, Value]
    times: list[str]
    labels: dict[str, str]


def _part(key: str, times: tuple[str, ...] = (), labels: dict[str, str] | None = None,
          **values: Value) -> Part:  # fmt: skip
    return {"key": f"alerts.ev.{key}", "vars": values, "times": list(times),
            "labels": labels or {}}  # fmt: skip


def _not_seen(e: Evidence) -> list[Part]:
    if e.get("last_seen"):
        return [_part("not_seen", ("at",), at=e["last_seen"], gate=e.get("gate") or "",
                      hours=e.get("hours"))]  # fmt: skip
    return [_part("never_seen", hours=e.get("hours"))]


def _out_not_back(e: Evidence) -> list[Part]:
    parts = [_part("out_not_back", ("at",), at=e.get("went_out"), gate=e.get("gate"),
                   hours=e.get("hours"))]  # fmt: skip
    if e.get("returned"):
        parts.append(_part("returned", ("at",), at=e["returned"], gate=e.get("return_gate")))
    return parts


def _no_passage_today(e: Evidence) -> list[Part]:
    if e.get("last_seen"):
        return [_part("no_passage_today", ("at",), at=e["last_seen"], hours=e.get("hours"))]
    return [_part("never_seen", hours=e.get("hours"))]


def _sighting(e: Evidence) -> list[Part]:
    score = e.get("score")
    return [_part("sighting", ("at",), at=e.get("ts"), gate=e.get("gate"),
                  camera=e.get("camera"),
                  score=round(score, 2) if isinstance(score, float) else score)]  # fmt: skip


SUMMARIES: dict[str, Callable[[Evidence], list[Part]]] = {
    "not_seen": _not_seen,
    "out_not_back": _out_not_back,
    "no_passage_today": _no_passage_today,
    "out_at_night": lambda e: [
        _part("out_at_night", ("at",), at=e.get("went_out"), gate=e.get("gate"))
    ],  # fmt: skip
    "sighting": _sighting,
    "watchlist_seen": lambda e: [
        _part(
            "watchlist_seen",
            ("at",),
            {"direction": "direction"},
            at=e.get("ts"),
            gate=e.get("gate"),
            direction=e.get("direction"),
        )
    ],  # fmt: skip
    "visitor_inside_at_night": lambda e: [
        _part(
            "visitor_inside_at_night",
            ("at",),
            at=e.get("since"),
            gate=e.get("gate"),
            hours=e.get("hours"),
        )
    ],  # fmt: skip
}


def summary(rule: str, evidence: Evidence) -> list[Part]:
    """The evidence of an alert of ``rule`` as catalogue parts; an unknown shape as key: value."""
    try:
        return SUMMARIES[rule](evidence)
    except (KeyError, TypeError, ValueError):
        listed = "; ".join(f"{k}: {v}" for k, v in evidence.items())
        return [_part("other", details=listed)]


def summary_text(parts: list[Part], locale: str, tz: tzinfo, names: SiteNames | None = None) -> str:
    """The parts as one line in ``locale``, times in ``tz`` with the weekday, gates and cameras
    by their display names, hours and scores as said ("6 小时 12 分", "87%"): the officer CLI's
    rendering (the pages' alertText in alerts.js follows the same rules)."""
    strings = catalogue(locale)
    names = names or SiteNames()
    out = []
    for p in parts:
        raw = p["vars"]
        values: dict[str, object] = {k: ("" if v is None else v) for k, v in raw.items()}
        for name in p["times"]:
            at = raw.get(name)
            values[name] = day_time_text(at, tz, locale) if isinstance(at, str) and at else "?"
        for name, prefix in p["labels"].items():
            values[name] = strings.get(f"{prefix}.{values[name]}", values[name])
        if isinstance(raw.get("camera"), str):
            values["camera"] = names.camera(str(raw.get("gate") or ""), str(raw["camera"]))
        for g in ("gate", "return_gate"):
            if isinstance(raw.get(g), str):
                values[g] = names.gate(str(raw[g]))
        hours, score = raw.get("hours"), raw.get("score")
        if isinstance(hours, int | float):
            values["hours"] = duration_text(hours * 3600, locale)
        if isinstance(score, int | float):
            values["score"] = pct_text(score, locale)
        out.append(text(locale, p["key"], **values))
    return text(locale, "alerts.ev.join").join(out)
