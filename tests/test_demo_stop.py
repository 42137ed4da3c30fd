"""`kill <demo pid>` (SIGTERM) stops the demo's broker, server and edges, as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gatewatch.cast import NO_PACKAGE_PHOTOS, have_package_photos

ROOT = Path(__file__).resolve().parents[1]


def children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` (from /proc): pid -> command line."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        # Fields after the command name in parentheses: state, ppid, ...
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            out[int(d.name)] = cmd
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(cond, timeout_s: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.skipif(not have_package_photos(), reason=NO_PACKAGE_PHOTOS)
def test_sigterm_stops_broker_server_and_edges(tmp_path: Path, gatewatch_home: Path) -> None:
    args = ["demo", "--no-browser", "--data-dir", str(tmp_path / "demo")]
    demo = subprocess.Popen(
        [sys.executable, "-m", "gatewatch", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True)
    reader.start()
    started: dict[int, str] = {}
    try:
        # "Up": broker, server and the three edges started (the demo says so once they run):
        # in-gate, out-gate and the internal camera at building 7 (issue 10 §5).
        assert wait_until(lambda: any(ln.startswith("edges:") for ln in lines), 300), "".join(lines)
        # The wall screen's address and the viewer token to sign in with, before the passages.
        wall = [ln for ln in lines if "WALL SCREEN" in ln]
        assert wall and wall[0].rstrip().endswith("/wall"), "".join(lines)
        assert not any("opening the wall screen" in ln for ln in lines), "--no-browser"
        assert wait_until(lambda: len(children(demo.pid)) >= 5, 60), children(demo.pid)
        started = children(demo.pid)
        kinds = " ".join(started.values())
        assert "mosquitto" in kinds and " server " in kinds and kinds.count(" edge ") == 3, started
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=120)
        assert wait_until(lambda: not any(alive(p) for p in started), 60), {
            p: c for p, c in started.items() if alive(p)
        }
        assert demo.returncode in (0, 130), "".join(lines)
    finally:
        for p in started:
            if alive(p):
                os.kill(p, signal.SIGKILL)
        if demo.poll() is None:
            demo.kill()
            demo.wait()
