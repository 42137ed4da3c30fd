"""Real Chromium for the page tests (Debian's chromium + chromium-driver, through Selenium):
start it at a screen size, sign in, save a page's screenshots at 1920x1080 and 3840x2160."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
REPO = Path(__file__).resolve().parents[2]
# Where the page tests leave their screenshots for a person to look at (README "Pages").
SHOTS = Path(os.environ.get("GATEWATCH_SCREENSHOTS") or REPO / "screenshots")
SIZES = {"1080p": (1920, 1080), "2160p": (3840, 2160)}
WAIT_S = 120  # generous: CI may run on a loaded machine

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Debian's chromium and chromium-driver are "
    "not installed (apt-get install chromium chromium-driver)",
)


def chrome(size: str = "1080p"):  # noqa: ANN201
    """A headless Chromium whose page area is exactly ``size`` (device scale 1)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    w, h = SIZES[size]
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={w},{h}",
    ):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    fit(driver, size)
    return driver


def fit(driver, size: str) -> None:  # noqa: ANN001
    """Resize so the page's viewport (not the window) is ``size``."""
    w, h = SIZES[size]
    driver.set_window_size(w, h)
    iw, ih = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if (iw, ih) != (w, h):
        driver.set_window_size(w + (w - iw), h + (h - ih))


def wait(driver, condition, timeout: float = WAIT_S):  # noqa: ANN001, ANN201
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def sign_in(driver, base_url: str, token: str, path: str = "/wall") -> None:  # noqa: ANN001
    """Open ``path``, sign in with ``token`` and wait for the page's content."""
    from selenium.webdriver.common.by import By

    driver.get(base_url + path)
    wait(driver, lambda d: d.find_element(By.ID, "login").is_displayed()
         or d.find_element(By.ID, "main").is_displayed())  # fmt: skip
    if driver.find_element(By.ID, "login").is_displayed():
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.ID, "signin").click()
    wait(driver, lambda d: d.find_element(By.ID, "main").is_displayed())


def shoot(driver, name: str, ready=None) -> list[Path]:  # noqa: ANN001
    """Save ``<name>-1080p.png`` and ``<name>-2160p.png`` into SHOTS (``ready(driver)``, if
    given, is waited for after each resize); the window is left at 1080p."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for size in ("2160p", "1080p"):
        fit(driver, size)
        if ready is not None:
            wait(driver, ready)
        path = SHOTS / f"{name}-{size}.png"
        driver.save_screenshot(str(path))
        saved.append(path)
    return saved


def font_px(driver, selector: str) -> list[float]:  # noqa: ANN001
    """The computed font size (px) of every visible element matching ``selector``."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".filter(e => e.offsetParent !== null || getComputedStyle(e).position === 'fixed')"
        ".map(e => parseFloat(getComputedStyle(e).fontSize))",
        selector,
    )
