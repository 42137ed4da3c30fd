"""The demo's wall screen: its address printed where nobody can miss it, a browser opened on it
when this machine has a display, and ``--check``'s look at it (the page and its numbers)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import webbrowser
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Browsers that draw in the terminal: opening one would take over the demo's own output.
TEXT_BROWSERS = frozenset({"lynx", "w3m", "links", "elinks", "www-browser", "browsh"})
RULE = "=" * 72


def wall_url(base: str) -> str:
    return f"{base.rstrip('/')}/wall"


def banner(base: str, viewer_token: str) -> str:
    """The wall's address and the token to sign in there with, framed to stand out."""
    return (
        f"{RULE}\n  WALL SCREEN  大屏:  {wall_url(base)}\n"
        f"  sign in there with this viewer token (paste it into the page's 访问令牌 field):\n"
        f"    {viewer_token}\n{RULE}"
    )


def has_display(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """True where a browser window could appear: never in CI (``CI`` set) or over SSH without
    forwarding; on Linux and the BSDs only with an X or Wayland display."""
    if env.get("CI") or env.get("GATEWATCH_NO_BROWSER"):
        return False
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return platform in ("darwin", "win32")


def graphical_browser() -> webbrowser.BaseBrowser | None:
    """The system's default browser if it opens a window (not a text-mode one), else None."""
    try:
        b = webbrowser.get()
    except webbrowser.Error:
        return None
    name = os.path.basename(getattr(b, "name", "") or "")
    return None if name in TEXT_BROWSERS else b


def open_wall(base: str, env: Mapping[str, str] = os.environ) -> str:
    """Open the wall in a browser when there is a display; never blocks, never raises. Says what
    it did, for the demo to print."""
    if not has_display(env):
        return "no display here: open the wall screen's address in a browser yourself"
    browser = graphical_browser()
    if browser is None:
        return "no graphical browser found: open the wall screen's address yourself"

    def go() -> None:
        with contextlib.suppress(Exception):  # a browser that fails must not end the demo
            browser.open(wall_url(base), new=1)

    threading.Thread(target=go, name="open-wall", daemon=True).start()
    return f"opening the wall screen in {getattr(browser, 'name', 'your browser')}"


def wall_problems(base: str, viewer_token: str, passages: list[dict[str, Any]]) -> list[str]:
    """What ``--check`` finds wrong with the wall: the page (200, Chinese title), the site's
    settings as the viewer sees them, and today's numbers against the passages the demo saw."""
    import httpx

    from server.i18n import text

    problems = []
    page = httpx.get(wall_url(base), timeout=30)
    if page.status_code != 200:
        problems.append(f"GET /wall answered {page.status_code}")
    elif text("zh-CN", "wall.title") not in page.text:
        problems.append("the wall page lacks its Chinese title")
    auth = {"Authorization": f"Bearer {viewer_token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=30) as c:
        site = c.get("/api/site")
        if site.status_code != 200:
            return [*problems, f"GET /api/site as the viewer answered {site.status_code}"]
        if (site.json()["locale"], site.json()["timezone"]) != ("zh-CN", "Asia/Shanghai"):
            problems.append(f"the demo site is {site.json()}, not Chinese in Asia/Shanghai")
        problems += _board_problems(c, passages)
    return problems


def _board_problems(c: Any, passages: list[dict[str, Any]]) -> list[str]:  # noqa: ANN401
    """Today's passages by role on the board equal the demo's own count of them."""
    board = c.get("/api/board")
    if board.status_code != 200:
        return [f"GET /api/board as the viewer answered {board.status_code}"]
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    want: dict[str, int] = {}
    for p in passages:
        if datetime.fromisoformat(p["ts"]) >= midnight:
            want[p["role"]] = want.get(p["role"], 0) + 1
    got = board.json()["counts_today"]
    return [] if got == want else [f"the board counts today's passages {got}, the demo saw {want}"]
