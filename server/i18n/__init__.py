"""The pages' and the officer CLI's strings: one catalogue per language (``<locale>.json`` and,
by area, ``<locale>/*.json``; a key defined twice is an error).

Every string a person reads comes from here, by key; both catalogues hold the same keys (a test
checks). ``{name}`` placeholders are filled by ``text()`` here and by ``GW.t()`` in the pages.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


@cache
def catalogue(locale: str) -> dict[str, str]:
    """The strings of ``locale`` (one of LOCALES), key -> text."""
    if locale not in LOCALES:
        raise ValueError(f"locale {locale!r}: use one of {', '.join(LOCALES)}")
    merged: dict[str, str] = {}
    for path in [HERE / f"{locale}.json", *sorted((HERE / locale).glob("*.json"))]:
        part = json.loads(path.read_text(encoding="utf-8"))
        twice = sorted(merged.keys() & part.keys())
        if twice:
            raise ValueError(f"{path.name}: keys already defined for {locale}: {', '.join(twice)}")
        merged.update(part)
    return merged


def text(locale: str, key: str, **values: object) -> str:
    """The string ``key`` in ``locale`` with its placeholders filled; a missing key raises."""
    s = catalogue(locale)[key]
    return s.format(**values) if values else s


def choose(asked: str | None, cookie: str | None, default: str) -> str:
    """The page's language: asked for (``?lang=``), else remembered (cookie), else the site's."""
    for candidate in (asked, cookie):
        if candidate in LOCALES:
            return candidate
    return default
