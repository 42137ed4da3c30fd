#!/usr/bin/env python3
"""Slowloris against the real server: 1,100 half-open unauthenticated connections, held open
(each drips a header byte every few seconds and is reopened when the server closes it), while an
officer's authenticated request is sent four times a second.

Usage: python scripts/bench_slowloris.py [--connections 1100] [--seconds 30] [--before]

The server runs as ``gatewatch server`` in a child process with the shipped unit's
``LimitNOFILE`` (65536, or the hard limit where that is lower) and the shipped ``http`` settings
(header_timeout_s 10, keepalive_timeout_s 5, max_connections 4096). ``--before`` runs it as it
was before issue 19 instead: 1024 file descriptors, no connection limit and (the nearest the
settings allow to none) a 300 s header timeout.

Prints: requests answered during the attack (and their latency), how long a half-open
connection lived, the server's open file descriptors at the peak, and how many log lines said
"Too many open files".
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gatewatch.broker import Broker, free_port, wait_port  # noqa: E402

UNIT_NOFILE = 65536
HEAD = b"GET /api/health HTTP/1.1\r\nHost: gatewatch\r\nUser-Agent: slow\r\n"


def run_server(work: Path, port: int, broker_port: int, before: bool, token: str):  # noqa: ANN201
    http = (
        {"header_timeout_s": 300, "max_connections": 60000}
        if before
        else {}  # the shipped defaults
    )
    lines = [
        "site: slow",
        f"data_dir: {work / 'data'}",
        f"mqtt: {{host: 127.0.0.1, port: {broker_port}, client_id: server-slow}}",
        "http:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        *(f"  {k}: {v}" for k, v in http.items()),
    ]
    cfg = work / "server.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = 1024 if before else min(UNIT_NOFILE, hard)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    env = {**os.environ, "GATEWATCH_ADMIN_TOKEN": token, "PYTHONPATH": str(ROOT)}
    log = (work / "server.log").open("wb")
    p = subprocess.Popen(
        [sys.executable, "-m", "gatewatch", "server", "--config", str(cfg)],
        env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit,
    )  # fmt: skip
    if not wait_port(port, 120):
        p.kill()
        raise SystemExit(f"the server did not listen within 120 s; see {work / 'server.log'}")
    return p, nofile


class Loris:
    """Keeps ``n`` half-open connections, reopening any the server closes."""

    def __init__(self, port: int, n: int) -> None:
        self.port, self.n = port, n
        self.sel = selectors.DefaultSelector()
        self.opened = self.closed_by_server = self.refused = 0
        self.lifetimes: list[float] = []
        self.stop = threading.Event()

    def _open(self) -> None:
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        except OSError:
            self.refused += 1
            s.close()
            return
        self.sel.register(s, selectors.EVENT_WRITE, [time.monotonic(), 0.0, False])
        self.opened += 1

    def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.stop.is_set():
            while len(self.sel.get_map()) < self.n:
                self._open()
            now = time.monotonic()
            for key, events in self.sel.select(0.1):
                s, st = key.fileobj, key.data
                if events & selectors.EVENT_WRITE and not st[2]:
                    try:
                        s.send(HEAD)
                        st[1], st[2] = now, True
                        self.sel.modify(s, selectors.EVENT_READ, st)
                    except OSError:
                        self._drop(s, st, now, refused=True)
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.closed_by_server += 1
                    self._drop(s, st, now)
            for key in list(self.sel.get_map().values()):  # drip: one byte every 3 s
                s, st = key.fileobj, key.data
                if st[2] and now - st[1] > 3:
                    try:
                        s.send(b"X")
                        st[1] = now
                    except OSError:
                        self._drop(s, st, now)
        for key in list(self.sel.get_map().values()):
            self.sel.unregister(key.fileobj)
            key.fileobj.close()

    def _drop(self, s, st, now: float, refused: bool = False) -> None:  # noqa: ANN001
        self.sel.unregister(s)
        s.close()
        if refused:
            self.refused += 1
        else:
            self.lifetimes.append(now - st[0])


def probe(port: int, token: str, stop: threading.Event, out: list) -> None:  # noqa: ANN001
    import httpx

    while not stop.is_set():
        t0 = time.monotonic()
        try:
            r = httpx.get(
                f"http://127.0.0.1:{port}/api/me",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            out.append((r.status_code, time.monotonic() - t0))
        except httpx.HTTPError as e:
            out.append((type(e).__name__, time.monotonic() - t0))
        stop.wait(0.25)


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=1100)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--before", action="store_true", help="the settings before issue 19")
    a = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the attacker's own sockets
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Broker(work / "broker").start()
        port = free_port()
        server, nofile = run_server(work, port, broker.port, a.before, token)
        try:
            results: list = []
            stop = threading.Event()
            prober = threading.Thread(target=probe, args=(port, token, stop, results))
            prober.start()
            time.sleep(2)  # a baseline before the attack
            base = len(results)
            loris = Loris(port, a.connections)
            peak = [0]

            def watch() -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], fds(server.pid))
                    stop.wait(0.5)

            watcher = threading.Thread(target=watch)
            watcher.start()
            t0 = time.monotonic()
            loris.run(a.seconds)
            attack_s = time.monotonic() - t0
            during = results[base:]
            time.sleep(3)
            after = results[base + len(during):]
            stop.set()
            prober.join()
            watcher.join()
        finally:
            server.terminate()
            server.wait(30)
            broker.stop()
        log = (work / "server.log").read_text(errors="replace")
    ok = [t for s, t in during if s == 200]
    what = "before issue 19" if a.before else "shipped settings"
    print(f"server: {what}, LimitNOFILE {nofile}, "
          f"{a.connections} half-open connections for {attack_s:.0f} s")  # fmt: skip
    print(f"  requests answered 200 during the attack: {len(ok)} of {len(during)}"
          f" (others: {sorted({str(s) for s, _ in during if s != 200}) or 'none'})")  # fmt: skip
    if ok:
        print(f"  latency: median {statistics.median(ok) * 1000:.0f} ms, "
              f"max {max(ok) * 1000:.0f} ms")  # fmt: skip
    print(f"  after the attack: {sum(1 for s, _ in after if s == 200)} of {len(after)} answered")
    life = sorted(loris.lifetimes)
    if life:
        print(f"  half-open connections closed by the server: {loris.closed_by_server} "
              f"(lived median {statistics.median(life):.1f} s, max {life[-1]:.1f} s); "
              f"opened {loris.opened}, connect failures {loris.refused}")  # fmt: skip
    else:
        print(f"  half-open connections closed by the server: 0 (all {loris.opened} held open)")
    print(f"  server's open file descriptors at the peak: {peak[0]}")
    print(f"  log lines saying 'Too many open files': {log.count('Too many open files')}, "
          f"log size {len(log.encode()) / 1024:.0f} KB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
