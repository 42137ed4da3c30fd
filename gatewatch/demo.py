"""``gatewatch demo``: the whole system on one machine, on embedded defaults.

Every piece runs as its own process, as in a deployment: a Mosquitto broker, the server (SQLite in
a data dir), the enrollment CLI, and three edges (an in-gate, an out-gate and an internal camera at
building 7's entrance) on generated videos of real faces. Phase 1: residents, a courier, a
watchlist person (a high-priority alert) and two unknown people come in. Between the phases the
demo enrolls one of the unknown people and raises a search for the elder. Phase 2: the new
resident comes in again (now named, at both gates); the elder passes building 7's entrance (an
internal sighting, with an evidence candidate for the search) and leaves through the out-gate: a
sighting for the search, and soon an "out and not back" alert.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gatewatch.broker import (
    Broker,
    free_port,
    mosquitto_binary,
    mosquitto_install_command,
    wait_port,
)
from gatewatch.cast import Cast, members
from gatewatch.demo_check import summarize
from gatewatch.demo_people import (  # noqa: F401  (re-exported: the demo's check and tests)
    ALERTS_WANTED,
    EDGES,
    ENROLLED_FIRST,
    IN_PHASE1,
    IN_PHASE2,
    INSIDE_PHASE2,
    OUT_PHASE2,
    PEOPLE,
    Person,
)
from gatewatch.demo_wall import banner, open_wall
from server.clitext import CliSite

PASS_S, GAP_S, PAUSE_S = 2.0, 0.6, 16.0
LOCAL = CliSite("en")  # the demo's own output: English, the demo site's time (Asia/Shanghai)


class DemoError(Exception):
    """The demo cannot run here; the message says what is missing."""


@dataclass
class Demo:
    work: Path
    photos: Path | None  # FOLDER/<person>/*.jpg; None: the faces installed packages ship
    check: bool
    browser: bool = False  # open the wall screen in a browser (where there is a display)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    passages: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cast: Cast = field(init=False)  # chosen when the run starts

    def __post_init__(self) -> None:
        self.broker: Broker | None = None
        self.mqtt_port = 0  # set when the broker starts
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.site = "demo"
        self.admin = secrets.token_urlsafe(32)
        self.env = dict(os.environ, GATEWATCH_ADMIN_TOKEN=self.admin, PYTHONUNBUFFERED="1")

    # -- processes -------------------------------------------------------------------------

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.work / f"{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env or self.env, cwd=self.work
        )

    def gatewatch(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
        env = dict(self.env, GATEWATCH_TOKEN=token or self.admin)
        return subprocess.run(
            [sys.executable, "-m", "gatewatch", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.work,
            timeout=300,
        )

    def stop_all(self) -> None:
        for name in ("edge-in", "edge-out", "edge-b7", "server"):
            p = self.procs.get(name)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.broker is not None:
            self.broker.stop()

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        from contract.http import HttpError, JsonClient

        client = JsonClient(self.url, token or self.admin, timeout_s=60)
        try:
            return client.call(method, path, body)
        except HttpError as e:
            raise DemoError(f"the demo's server refused a call: {e}") from e
        finally:
            client.close()

    # -- steps -----------------------------------------------------------------------------

    def start_broker(self) -> None:
        try:
            self.broker = Broker(self.work / "broker").start()
        except RuntimeError as e:
            raise DemoError(f"the demo needs a broker: {e}") from e
        self.mqtt_port = self.broker.port

    def start_server(self) -> None:
        cfg = {
            "site": self.site,
            "data_dir": str(self.work / "server"),
            "mqtt": {"port": self.mqtt_port, "client_id": "demo-server"},
            "http": {"port": self.http_port},
            # Short enough to be seen in a demo: "out and not back" after 12 s.
            "elder": {"out_not_back_h": 12 / 3600, "scan_interval_s": 2},
        }
        (self.work / "server.yaml").write_text(yaml.safe_dump(cfg))
        self.spawn(
            "server", [sys.executable, "-m", "gatewatch", "server", "--config", "server.yaml"]
        )
        if not wait_port(self.http_port, 60):
            raise DemoError(f"the server did not start; see {self.work / 'server.log'}")
        self.edge_token = self.api("POST", "/api/users", {"name": "edges", "role": "edge"})["token"]
        self.officer = self.api("POST", "/api/users", {"name": "officer", "role": "officer"})[
            "token"
        ]
        # The wall screen's sign-in: a viewer sees roles and masked names, never a trajectory.
        self.viewer = self.api("POST", "/api/users", {"name": "wall", "role": "viewer"})["token"]
        self.admin_token_file = self.work / "admin-token"
        self.admin_token_file.touch(mode=0o600)
        self.admin_token_file.write_text(self.admin + "\n")

    def choose_cast(self) -> None:
        from gatewatch.cast import CastError, default_cast, folder_cast
        from models.engine import FaceEngine

        engine = FaceEngine()
        try:
            if self.photos is None:
                self.cast = default_cast(engine, self.work)
            else:
                self.cast = folder_cast(engine, self.photos)
        except CastError as e:
            raise DemoError(str(e)) from e

    def walks(self, parts: tuple[str, ...]) -> list[str]:
        """The walk photos (under the cast folder) of these parts, in order."""
        return [getattr(self.cast, part).walk for part in parts]

    def enroll(self, part: str) -> str:
        who = PEOPLE[part]
        args = ["enroll", "add", "--url", self.url, "--id", who.id, "--name", who.name]
        args += ["--role", who.role]
        if who.born:
            args += ["--birth-date", who.born]
        for k, v in who.extra.items():
            args += [f"--{k}", v]
        r = self.gatewatch(*args, *[str(p) for p in getattr(self.cast, part).enroll])
        if r.returncode != 0:
            raise DemoError(f"enrolling {who.id} failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def make_videos(self) -> None:
        from gatewatch.gatevideo import make_video

        phase1_s = len(IN_PHASE1) * (PASS_S + GAP_S)
        make_video(
            self.cast.folder,
            self.walks(IN_PHASE1 + IN_PHASE2),
            self.work / "in-gate.mp4",
            pass_s=PASS_S,
            gap_s=GAP_S,
            pause_after=len(IN_PHASE1) - 1,
            pause_s=PAUSE_S,
        )
        phase2_s = phase1_s + PAUSE_S + PASS_S + GAP_S
        make_video(
            self.cast.folder,
            self.walks(INSIDE_PHASE2),
            self.work / "b7.mp4",
            pass_s=PASS_S,
            gap_s=GAP_S,
            lead_s=phase2_s,
            seed=2,
        )
        make_video(
            self.cast.folder,
            self.walks(OUT_PHASE2),
            self.work / "out-gate.mp4",
            pass_s=PASS_S,
            gap_s=GAP_S,
            lead_s=phase2_s + 2 * (PASS_S + GAP_S),  # after the walk past building 7
            seed=1,
        )

    def start_edges(self) -> None:
        for name, gate, camera, direction in EDGES:
            cfg = {
                "site": self.site,
                "gate": gate,
                "camera": camera,
                "direction": direction,
                "camera_kind": "internal" if direction == "none" else "gate",
                "source": {
                    "kind": "file",
                    "location": str(self.work / f"{name}.mp4"),
                    "pace": "realtime",
                },
                "gallery_path": str(self.work / f"edge-{name}" / "gallery.npz"),
                "mqtt": {"port": self.mqtt_port, "client_id": f"demo-edge-{name}"},
                "outbox": {"path": str(self.work / f"edge-{name}" / "outbox.sqlite")},
                "status_interval_s": 2,
            }
            (self.work / f"edge-{name}.yaml").write_text(yaml.safe_dump(cfg))
            env = dict(self.env, GATEWATCH_EDGE_TOKEN=self.edge_token)
            self.spawn(
                f"edge-{name.split('-')[0]}",
                [sys.executable, "-m", "gatewatch", "edge", "--config", f"edge-{name}.yaml"],
                env=env,
            )

    def watch_mqtt(self) -> None:
        from contract.mqtt import MqttConfig, make_client, start_client

        cfg = MqttConfig(port=self.mqtt_port)
        c = make_client(cfg, "demo-watch-" + secrets.token_hex(3))

        def on_connect(client, userdata, flags, rc, props) -> None:  # noqa: ANN001
            client.subscribe(
                [(f"gatewatch/{self.site}/gates/+/events", 1), (f"gatewatch/{self.site}/alerts", 1)]
            )

        def on_message(client, userdata, msg) -> None:  # noqa: ANN001
            item = json.loads(msg.payload)
            with self.lock:
                if msg.topic.endswith("/alerts"):
                    self.alerts.append(item)
                    print(f"  ALERT  {item['rule']:<17} {item['person_id']:<12} "
                          f"{LOCAL.evidence(item['evidence'])}")  # fmt: skip
                elif item["event_id"] not in {p["event_id"] for p in self.passages}:
                    self.passages.append(item)
                    who = item["identity"] or "-"
                    flag = f"  search {item['search_id']}" if item["search_id"] else ""
                    print(
                        f"  {LOCAL.hms(item['ts'])}  {item['gate']:<8} {item['direction']:<4} "
                        f"{item['role']:<10} {who:<16} score {item['score']}{flag}",
                        flush=True,
                    )

        c.on_connect, c.on_message = on_connect, on_message
        start_client(c, cfg, persistent=False)
        self.watcher = c
        if not self.wait_for(c.is_connected, 10, "the broker"):
            raise DemoError(f"cannot connect to the demo's broker; see {self.work / 'broker'}")

    def wait_for(self, pred, timeout_s: float, what: str) -> bool:  # noqa: ANN001
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if pred():
                    return True
            time.sleep(0.2)
        print(f"  (timed out waiting for {what})")
        return False

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        print(f"gatewatch demo in {self.work}")
        self.choose_cast()  # first: a folder that cannot cast the demo fails before anything starts
        self.start_broker()
        print(f"broker: mosquitto on 127.0.0.1:{self.mqtt_port}")
        self.start_server()
        print(f"server: {self.url} (SQLite in {self.work / 'server'})")
        print(banner(self.url, self.viewer), flush=True)
        if self.browser:
            print(open_wall(self.url), flush=True)
        print(
            f"admin token: in {self.admin_token_file}; to enroll someone yourself while the demo "
            f"runs:\n  gatewatch enroll add --url {self.url} --token-file {self.admin_token_file} "
            "--id p-you --name You --role resident PHOTO.jpg"
        )
        print(self.cast.note)
        for part, member in members(self.cast):
            shown = PEOPLE[part].id if part in PEOPLE else "(never enrolled)"
            print(f"  {part:<9} {shown:<16} played by {member.source}")
        for part in ENROLLED_FIRST:
            print(f"enroll: {self.enroll(part)}")
        self.make_videos()
        self.watch_mqtt()
        self.start_edges()
        print("edges: in-gate, out-gate and building-7 entrance (internal camera) running on "
              "generated videos\n\npassages:")  # fmt: skip
        self.wait_for(
            lambda: sum(p["gate"] == "in-gate" for p in self.passages) >= len(IN_PHASE1),
            90,
            "phase 1",
        )
        print(f"\nenroll the newcomer: {self.enroll('newcomer')}")
        search = self.api(
            "POST",
            "/api/searches",
            {"person_id": "p-elder", "reason": "女儿报告她走失"},
            token=self.officer,
        )
        where = search["whereabouts"]
        print(
            f"search {search['search_id']} raised for p-elder: last seen "
            f"{LOCAL.local(where['last_seen'], seconds=True)} at "
            f"{where['gate']}, believed {'inside' if search['believed_inside'] else 'outside'}\n"
        )
        self.wait_for(
            lambda: (
                any(p["search_id"] for p in self.passages)
                and sum(p["identity"] == PEOPLE["newcomer"].id for p in self.passages) >= 2
            ),
            90,
            "phase 2",
        )
        self.wait_for(
            lambda: (
                {"sighting", "out_not_back", "watchlist_seen"} <= {a["rule"] for a in self.alerts}
            ),
            60,
            "the alerts",
        )
        self.wait_for(
            lambda: any(p["gate"] == "building-7" for p in self.passages),
            60,
            "the elder at building 7",
        )
        self.wait_for(
            lambda: any(p["gate"] == "out-gate" and p["role"] == "visitor" for p in self.passages),
            60,
            "the visitor leaving",
        )
        traj = self.api("GET", "/api/trajectory/p-elder?since=1h&reason=demo", token=self.officer)
        print("\ntrajectory of p-elder:")
        for p in traj["passages"]:
            print(f"  {LOCAL.hms(p['ts'])}  {p['direction']:<4} {p['gate']}")
        return summarize(self, search["search_id"], traj)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the demo as Ctrl-C does: through stop_all, ending every process it started."""
    raise KeyboardInterrupt


def cmd_demo(args: argparse.Namespace) -> int:
    if mosquitto_binary() is None:
        raise DemoError(
            "the demo runs a real MQTT 5 broker and Mosquitto is not installed; run:\n  "
            + mosquitto_install_command()
        )
    photos = args.photos.resolve() if args.photos else None
    if photos is not None and not photos.is_dir():
        print(
            f"gatewatch demo: --photos {args.photos}: no such folder (FOLDER/<person>/*.jpg)",
            file=sys.stderr,
        )
        return 2
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="gatewatch-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    demo = Demo(work.resolve(), photos, args.check, browser=not (args.check or args.no_browser))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary = demo.run()
        if args.json:
            (work / "summary.json").write_text(json.dumps(summary, indent=1))
        print(f"\n{banner(demo.url, demo.viewer)}")
        if not args.check:
            print(
                f"officer token (the workbench pages, the CLI's GATEWATCH_TOKEN): {demo.officer}\n"
                f"admin token in {demo.admin_token_file}\nCtrl-C (or kill {os.getpid()}) to stop."
            )
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 1 if (args.check and summary["problems"]) else 0
    except DemoError as e:
        print(f"gatewatch demo: {e}", file=sys.stderr)
        return 2
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.stop_all()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole system on this machine, with sample data")
    p.add_argument(
        "--check", action="store_true", help="run to the end and fail on anything missing"
    )
    p.add_argument(
        "--photos",
        type=Path,
        help="FOLDER/<person>/*.jpg for the cast (default: the faces installed packages ship)",
    )
    p.add_argument("--data-dir", type=Path, help="keep everything here (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="also write summary.json in the data dir")
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open the wall screen in a browser (never opened without a display, in CI or "
        "with --check)",
    )
    p.set_defaults(func=cmd_demo)
