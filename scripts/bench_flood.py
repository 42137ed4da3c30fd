"""Memory of the broker, the server and a second edge while one gate misbehaves (issue 19, 1-2).

A private Mosquitto with the shipped policy (configs/mosquitto.conf without its machine lines,
configs/mosquitto.acl, users server/north/south), a real server process (``gatewatch server``,
SQLite) and a real edge process at gate south (``gatewatch edge``, a camera looking at an empty
gate). Gate north then sends, as an attacker holding its password would:

1. a 20 MB passage on its events topic, and a 20 MB retained visitor template;
2. 20,000 valid retained visitor templates, as fast as the broker takes them.

The resident memory (psutil RSS) of each process is sampled before, during (peak) and after.
``--no-broker-limit`` runs the same without the broker's ``max_packet_size`` (the clients' own
Maximum Packet Size and per-topic limits still hold).

    python -m scripts.bench_flood [--templates 20000] [--mb 20] [--no-broker-limit]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import psutil
import yaml

from contract.topics import Topics
from gatewatch.broker import Broker, free_port, mosquitto_binary
from gatewatch.gatevideo import background

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SITE = "compound-1"
TOPICS = Topics(SITE)
MACHINE = {"listener", "certfile", "keyfile", "persistence", "persistence_location",
           "autosave_interval", "max_queued_messages"}  # fmt: skip
USERS = ("server", "north", "south")


def policy(passwd: Path, acl: Path, limit: bool) -> str:
    out = []
    for raw in (CONFIGS / "mosquitto.conf").read_text().splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] in MACHINE or (words[0] == "max_packet_size" and not limit):
            continue
        path = {"password_file": passwd, "acl_file": acl}.get(words[0])
        out.append(f"{words[0]} {path}" if path else " ".join(words))
    return "\n".join(out) + "\n"


def mqtt_section(port: int, user: str) -> dict:
    return {"host": "127.0.0.1", "port": port, "tls": False, "username": user,
            "password_env": f"GW_PW_{user.upper()}", "client_id": user}  # fmt: skip


class Sampler:
    """Peak RSS (MB) of some processes, sampled every 0.1 s while running."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self.procs = procs
        self.peak = {k: 0.0 for k in procs}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def now(self) -> dict[str, float]:
        return {k: p.memory_info().rss / 2**20 for k, p in self.procs.items()}

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for k, v in self.now().items():
                self.peak[k] = max(self.peak[k], v)

    def __enter__(self) -> Sampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def north_client(port: int, disconnects: list[str]) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="north", protocol=mqtt.MQTTv5)
    c.username_pw_set("north", "pw-north")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.on_disconnect = lambda cl, u, f, rc, p: disconnects.append(str(rc))
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def wait_log(log: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{log}: no {text!r} within {timeout_s:g} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--templates", type=int, default=20_000)
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument("--no-broker-limit", action="store_true")
    args = ap.parse_args()
    if mosquitto_binary() is None:
        print("Mosquitto is not installed")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="gatewatch-flood-"))
    tmp.chmod(0o755)
    procs: list[subprocess.Popen] = []
    broker = None
    try:
        passwd, acl = tmp / "passwd", tmp / "acl"
        tool = shutil.which("mosquitto_passwd") or str(
            Path(mosquitto_binary() or "mosquitto").with_name("mosquitto_passwd")
        )
        for i, u in enumerate(USERS):
            subprocess.run([tool, "-b", *(["-c"] if i == 0 else []), str(passwd), u, f"pw-{u}"],
                           check=True)  # fmt: skip
        shutil.copyfile(CONFIGS / "mosquitto.acl", acl)
        for f in (passwd, acl):
            f.chmod(0o644)
        state = tmp / "broker"
        state.mkdir()
        state.chmod(0o777)
        broker = Broker(state, extra_conf=policy(passwd, acl, not args.no_broker_limit)).start()
        env = {**os.environ, **{f"GW_PW_{u.upper()}": f"pw-{u}" for u in USERS},
               "PYTHONPATH": str(ROOT)}  # fmt: skip

        server_cfg = tmp / "server.yaml"
        server_cfg.write_text(yaml.safe_dump({
            "site": SITE, "data_dir": str(tmp / "data"),
            "mqtt": mqtt_section(broker.port, "server"),
            "http": {"host": "127.0.0.1", "port": free_port()},
        }))  # fmt: skip
        server_log = tmp / "server.log"
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "gatewatch", "server", "--config", str(server_cfg)], cwd=ROOT,
            env=env, stdout=open(server_log, "ab"), stderr=subprocess.STDOUT))  # noqa: SIM115  # fmt: skip

        empty = tmp / "empty-gate"
        empty.mkdir()
        cv2.imwrite(str(empty / "0.jpg"), background(1280, 720, 3))
        gate = yaml.safe_load((CONFIGS / "gate.yaml").read_text())
        gate.update(
            gate="south", camera="south-in", direction="in",
            source={"kind": "folder", "location": str(empty), "loop": True, "frames_per_image": 1},
            gallery_path=str(tmp / "south-gallery.npz"), mqtt=mqtt_section(broker.port, "south"),
            outbox={"path": str(tmp / "south-outbox.sqlite")}, status_interval_s=1,
        )  # fmt: skip
        edge_cfg = tmp / "gate.yaml"
        edge_cfg.write_text(yaml.safe_dump(gate))
        edge_log = tmp / "edge.log"
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "gatewatch", "edge", "--config", str(edge_cfg)], cwd=ROOT,
            env=env, stdout=open(edge_log, "ab"), stderr=subprocess.STDOUT))  # noqa: SIM115  # fmt: skip
        wait_log(edge_log, "connected to", 180)
        wait_log(server_log, "ingest connected", 180)
        time.sleep(5)  # settle: the edge's first frames, the server's first status
        assert broker.proc is not None
        watched = {"broker": psutil.Process(broker.proc.pid),
                   "server": psutil.Process(procs[0].pid),
                   "edge south": psutil.Process(procs[1].pid)}  # fmt: skip
        rows = []

        # 1: a 20 MB passage and a 20 MB retained template from north
        size = int(args.mb * 2**20)
        disconnects: list[str] = []
        with Sampler(watched) as s:
            before = s.now()
            north = north_client(broker.port, disconnects)
            north.publish(TOPICS.events("north"), b"{" + b" " * size + b"}", qos=1)
            north.publish(TOPICS.visitor("north", "v-0000000000ff"), b"{" + b" " * size + b"}",
                          qos=1, retain=True)  # fmt: skip
            time.sleep(8)
            north.disconnect()
            north.loop_stop()
            time.sleep(2)
            after = s.now()
        rows.append((f"{args.mb:g} MB message", before, s.peak, after,
                     f"north disconnected: {disconnects[:1] or 'no'}"))  # fmt: skip

        # 2: a flood of valid retained templates from north
        rng = np.random.default_rng(1)
        vecs = rng.standard_normal((args.templates, 128)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        now = datetime.now(UTC).isoformat()
        head = f'{{"model_id": "sface", "first_seen": "{now}", "last_seen": "{now}", '
        with Sampler(watched) as s:
            before = s.now()
            north = north_client(broker.port, [])
            t0 = time.monotonic()
            info = None
            for i in range(args.templates):
                vid = f"v-{i:012x}"
                values = ",".join(f"{x:.6f}" for x in vecs[i].tolist())
                body = f'{head}"visitor_id": "{vid}", "template": [{values}]}}'.encode()
                info = north.publish(TOPICS.visitor("north", vid), body, qos=1, retain=True)
            if info is not None:
                info.wait_for_publish(timeout=300)
            sent_s = time.monotonic() - t0
            time.sleep(15)
            north.disconnect()
            north.loop_stop()
            after = s.now()
        lost = edge_log.read_text(errors="replace").count("lost the broker")
        rows.append((f"{args.templates:,} templates", before, s.peak, after,
                     f"sent in {sent_s:.0f} s; south lost the broker {lost}x"))  # fmt: skip

        limit = "without max_packet_size" if args.no_broker_limit else "shipped conf"
        print(f"\nRSS in MB ({limit}): before / peak / after\n")
        print("| attack | " + " | ".join(watched) + " | note |")
        print("|---|" + "---|" * len(watched) + "---|")
        for what, b, p, a, note in rows:
            cells = [f"{b[k]:.0f} / {p[k]:.0f} / {a[k]:.0f}" for k in watched]
            print(f"| {what} | " + " | ".join(cells) + f" | {note} |")
        edge_text = edge_log.read_text(errors="replace")
        for line in edge_text.splitlines():
            if "visitor" in line and ("full" in line or "dropped" in line or "oversized" in line):
                print("edge:", line[-200:])
                break
        print(json.dumps({"server_dead_letters_log": server_log.read_text(errors="replace")
                          .count("oversized")}))  # fmt: skip
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
