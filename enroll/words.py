"""What the enrollment tool prints, in the site's language (enroll/words.json).

The reception desk's tool may not import the server (tests/test_layering.py), so its few lines
have their own small catalogue, keyed as the server's: both languages hold the same keys (a test
checks). The language is the site's (``GET /api/site``), else $GATEWATCH_LANG, else zh-CN.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


@cache
def catalogues() -> dict[str, dict[str, str]]:
    """{locale: {key: text}} of the enrollment tool."""
    return json.loads((Path(__file__).resolve().parent / "words.json").read_text("utf-8"))


class Words:
    """The tool's lines in one language."""

    def __init__(self, locale: str = DEFAULT_LOCALE) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE

    def __call__(self, key: str, **values: object) -> str:
        return catalogues()[self.locale][key].format(**values)

    def templates(self, n: int) -> str:
        """'1 个人脸模板' / '3 templates'."""
        return self("templates_1") if n == 1 else self("templates_n", n=n)


def words_of(call: Any) -> Words:  # noqa: ANN401
    """The site's language through ``call(method, path)`` (the desk's API client); the
    environment's ($GATEWATCH_LANG) or zh-CN when the server does not say."""
    try:
        site = call("GET", "/api/site") or {}
    except Exception:  # the words are not worth failing an enrollment over
        site = {}
    return Words(site.get("locale") or os.environ.get("GATEWATCH_LANG") or DEFAULT_LOCALE)
