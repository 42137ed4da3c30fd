"""A private Mosquitto on a free port: for the demo, the tests and the benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float) -> bool:
    """True once something listens on 127.0.0.1:port, False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if Path(p).exists()), None
    )


def mosquitto_install_command() -> str:
    """The command that installs Mosquitto here (Debian/Ubuntu: apt-get, with sudo unless root)."""
    if shutil.which("apt-get"):
        sudo = "" if os.geteuid() == 0 else "sudo "
        return f"{sudo}apt-get update && {sudo}apt-get install -y mosquitto"
    return "install Mosquitto from your system's packages (https://mosquitto.org/download/)"


class MosquittoMissing(RuntimeError):
    """No Mosquitto binary on this machine; the message says how to install it."""


class Broker:
    """Mosquitto with persistence, stoppable and restartable on the same port."""

    def __init__(self, workdir: Path, extra_conf: str = "") -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise MosquittoMissing(
                f"Mosquitto is not installed; run: {mosquitto_install_command()}"
            )
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"persistence true\npersistence_location {workdir}/\n"
            "autosave_interval 1\n"
            # Mosquitto keeps only 1000 messages for an offline session by default; a server that
            # is down for a while must not lose passages (configs/mosquitto.conf does the same).
            "max_queued_messages 1000000\n" + (extra_conf or "allow_anonymous true\n")
        )
        self.log = workdir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=open(self.log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        # Generous: Mosquitto starts in milliseconds, but a loaded machine can stall it for seconds.
        if not wait_port(self.port, 60):
            raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        self.proc = None
