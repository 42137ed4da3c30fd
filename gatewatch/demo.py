"""``gatewatch demo``: the whole system on one machine, on embedded defaults.

Every piece runs as its own process, as in a deployment: a Mosquitto broker, the server (SQLite in
a data dir), the enrollment CLI, and two edges (an in-gate and an out-gate) on generated gate
videos of real faces. Phase 1: residents, a courier, a watchlist person and two unknown people
come in. Between the phases the demo enrolls one of the unknown people and raises a search for the
elder. Phase 2: the new resident comes in again (now named, at both gates) and the elder leaves
through the out-gate: a sighting for the search, and soon an "out and not back" alert.
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
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from gatewatch.broker import Broker, free_port, wait_port

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTOS = REPO / "tests" / "data" / "faces"
PASS_S, GAP_S, PAUSE_S = 2.0, 0.6, 16.0

# Who is enrolled before the demo starts: id -> (name, role, birth date, photos, extra fields).
ENROLLED = {
    "p-elder": (
        "Grandpa Wang",
        "resident",
        "1950-08-04",
        ["obama/1.jpg", "obama/2.jpg"],
        {"care": "lives_alone", "building": "7", "unit": "701"},
    ),
    "p-kit": ("Kit", "resident", "1986-12-26", ["kit_harington/1.jpg"], {"building": "3"}),
    "c-amy": (
        "Amy (FastPost)",
        "courier",
        None,
        ["bbt_amy/1.jpg"],
        {"company": "FastPost", "valid-until": f"{date.today().year + 1}-12-31"},
    ),
    "w-biden": ("Watchlist entry", "watchlist", None, ["biden/1.jpg"], {}),
}
NEWCOMER = ("p-sheldon", "Sheldon", "resident", "1980-02-26", ["bbt_sheldon/1.jpg"])
IN_PHASE1 = [
    "obama/4.jpg",
    "kit_harington/2.jpg",
    "bbt_amy/2.jpg",
    "biden/2.jpg",
    "alex_lacamoire/1.jpg",
    "bbt_sheldon/2.jpg",
]
IN_PHASE2 = ["bbt_sheldon/2.jpg"]
OUT_PHASE2 = ["obama/4.jpg", "bbt_sheldon/2.jpg"]


class DemoError(Exception):
    """The demo cannot run here; the message says what is missing."""


@dataclass
class Demo:
    work: Path
    photos: Path
    check: bool
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    passages: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

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
        for name in ("edge-in", "edge-out", "server"):
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
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.admin}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")

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

    def enroll(
        self,
        pid: str,
        name: str,
        role: str,
        born: str | None,
        photos: list[str],
        extra: dict[str, str],
    ) -> str:
        args = ["enroll", "add", "--url", self.url, "--id", pid, "--name", name, "--role", role]
        if born:
            args += ["--birth-date", born]
        for k, v in extra.items():
            args += [f"--{k}", v]
        r = self.gatewatch(*args, *[str(self.photos / p) for p in photos])
        if r.returncode != 0:
            raise DemoError(f"enrolling {pid} failed: {r.stderr.strip()}")
        return r.stdout.strip()

    def make_videos(self) -> None:
        from gatewatch.gatevideo import make_video

        phase1_s = len(IN_PHASE1) * (PASS_S + GAP_S)
        make_video(
            self.photos,
            IN_PHASE1 + IN_PHASE2,
            self.work / "in-gate.mp4",
            pass_s=PASS_S,
            gap_s=GAP_S,
            pause_after=len(IN_PHASE1) - 1,
            pause_s=PAUSE_S,
        )
        make_video(
            self.photos,
            OUT_PHASE2,
            self.work / "out-gate.mp4",
            pass_s=PASS_S,
            gap_s=GAP_S,
            lead_s=phase1_s + PAUSE_S + PASS_S + GAP_S,
            seed=1,
        )

    def start_edges(self) -> None:
        for gate, direction in (("in", "in"), ("out", "out")):
            cfg = {
                "site": self.site,
                "gate": f"{gate}-gate",
                "camera": "cam1",
                "direction": direction,
                "source": {
                    "kind": "file",
                    "location": str(self.work / f"{gate}-gate.mp4"),
                    "pace": "realtime",
                },
                "gallery_path": str(self.work / f"edge-{gate}" / "gallery.npz"),
                "mqtt": {"port": self.mqtt_port, "client_id": f"demo-edge-{gate}"},
                "outbox": {"path": str(self.work / f"edge-{gate}" / "outbox.sqlite")},
                "status_interval_s": 2,
            }
            (self.work / f"edge-{gate}.yaml").write_text(yaml.safe_dump(cfg))
            env = dict(self.env, GATEWATCH_EDGE_TOKEN=self.edge_token)
            self.spawn(
                f"edge-{gate}",
                [sys.executable, "-m", "gatewatch", "edge", "--config", f"edge-{gate}.yaml"],
                env=env,
            )

    def watch_mqtt(self) -> None:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="demo-watch-" + secrets.token_hex(3)
        )

        def on_connect(client, userdata, flags, rc, props) -> None:  # noqa: ANN001
            client.subscribe(
                [(f"gatewatch/{self.site}/gates/+/events", 1), (f"gatewatch/{self.site}/alerts", 1)]
            )

        def on_message(client, userdata, msg) -> None:  # noqa: ANN001
            item = json.loads(msg.payload)
            with self.lock:
                if msg.topic.endswith("/alerts"):
                    self.alerts.append(item)
                    print(f"  ALERT  {item['rule']:<17} {item['person_id']:<12} {item['evidence']}")
                elif item["event_id"] not in {p["event_id"] for p in self.passages}:
                    self.passages.append(item)
                    who = item["identity"] or "-"
                    flag = f"  search {item['search_id']}" if item["search_id"] else ""
                    print(
                        f"  {item['ts'][11:19]}  {item['gate']:<8} {item['direction']:<4} "
                        f"{item['role']:<10} {who:<16} score {item['score']}{flag}",
                        flush=True,
                    )

        c.on_connect, c.on_message = on_connect, on_message
        c.connect("127.0.0.1", self.mqtt_port)
        c.loop_start()
        self.watcher = c

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
        self.start_broker()
        print(f"broker: mosquitto on 127.0.0.1:{self.mqtt_port}")
        self.start_server()
        print(f"server: {self.url} (SQLite in {self.work / 'server'})")
        for pid, (name, role, born, photos, extra) in ENROLLED.items():
            print(f"enroll: {self.enroll(pid, name, role, born, photos, extra)}")
        self.make_videos()
        self.watch_mqtt()
        self.start_edges()
        print("edges: in-gate and out-gate running on generated gate videos\n\npassages:")
        self.wait_for(
            lambda: sum(p["gate"] == "in-gate" for p in self.passages) >= len(IN_PHASE1),
            90,
            "phase 1",
        )
        print(f"\nenroll the newcomer: {self.enroll(*NEWCOMER, {})}")
        search = self.api(
            "POST",
            "/api/searches",
            {"person_id": "p-elder", "reason": "daughter reports him missing"},
            token=self.officer,
        )
        where = search["whereabouts"]
        print(
            f"search {search['search_id']} raised for p-elder: last seen {where['last_seen']} at "
            f"{where['gate']}, believed {'inside' if search['believed_inside'] else 'outside'}\n"
        )
        self.wait_for(
            lambda: (
                any(p["search_id"] for p in self.passages)
                and sum(p["identity"] == NEWCOMER[0] for p in self.passages) >= 2
            ),
            90,
            "phase 2",
        )
        self.wait_for(
            lambda: {"sighting", "out_not_back"} <= {a["rule"] for a in self.alerts},
            60,
            "the alerts",
        )
        traj = self.api("GET", "/api/trajectory/p-elder?since=1h&reason=demo", token=self.officer)
        print("\ntrajectory of p-elder:")
        for p in traj["passages"]:
            print(f"  {p['ts'][11:19]}  {p['direction']:<4} {p['gate']}")
        summary = self.summary(search["search_id"], traj)
        return summary

    def summary(self, search_id: str, traj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ps = list(self.passages)
            alerts = list(self.alerts)
        roles: dict[str, int] = {}
        for p in ps:
            roles[p["role"]] = roles.get(p["role"], 0) + 1
        named = [
            (p["gate"], p["identity"], p["role"]) for p in ps if p["identity_kind"] == "person"
        ]
        expected = [
            ("in-gate", "p-elder", "resident"),
            ("in-gate", "p-kit", "resident"),
            ("in-gate", "c-amy", "courier"),
            ("in-gate", "w-biden", "watchlist"),
            ("in-gate", "p-sheldon", "resident"),
            ("out-gate", "p-elder", "resident"),
            ("out-gate", "p-sheldon", "resident"),
        ]
        problems = [f"missing passage {e}" for e in expected if e not in named]
        visitors_in = [p for p in ps if p["gate"] == "in-gate" and p["identity_kind"] == "visitor"]
        if len(visitors_in) != 2:
            problems.append(f"expected 2 visitor passages at the in-gate, got {len(visitors_in)}")
        if not any(p["search_id"] == search_id and p["identity"] == "p-elder" for p in ps):
            problems.append("no sighting of p-elder for the search")
        for rule in ("sighting", "out_not_back"):
            if not any(a["rule"] == rule and a["person_id"] == "p-elder" for a in alerts):
                problems.append(f"no {rule} alert for p-elder")
        dirs = [p["direction"] for p in traj["passages"]]
        if dirs != ["in", "out"]:
            problems.append(f"p-elder's trajectory should be in then out, is {dirs}")
        stored = self.api("GET", "/api/events?since=1h&limit=5000&reason=demo", token=self.officer)
        if sorted(e["event_id"] for e in stored) != sorted(p["event_id"] for p in ps):
            problems.append(f"server stored {len(stored)} events, the broker carried {len(ps)}")
        out = {
            "events": len(ps),
            "by_role": roles,
            "alerts": [a["rule"] for a in alerts],
            "search_id": search_id,
            "problems": problems,
            "work_dir": str(self.work),
        }
        print(f"\nsummary: {len(ps)} passages {roles}; alerts {out['alerts']}")
        for p in problems:
            print(f"  PROBLEM: {p}")
        return out


def cmd_demo(args: argparse.Namespace) -> int:
    photos = args.photos
    if not (photos / "obama" / "1.jpg").is_file():
        raise DemoError(
            f"sample photos not found in {photos}: run from a checkout of the "
            "repository, or pass --photos DIR laid out like tests/data/faces"
        )
    work = args.data_dir or Path(tempfile.mkdtemp(prefix="gatewatch-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    demo = Demo(work.resolve(), photos.resolve(), args.check)
    try:
        summary = demo.run()
        if args.json:
            (work / "summary.json").write_text(json.dumps(summary, indent=1))
        if not args.check:
            print(
                f"\ndashboard: {demo.url}/  (viewer/officer token: {demo.officer})\nCtrl-C to stop."
            )
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 1 if (args.check and summary["problems"]) else 0
    finally:
        demo.stop_all()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole system on this machine, with sample data")
    p.add_argument(
        "--check", action="store_true", help="run to the end and fail on anything missing"
    )
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="sample photos folder")
    p.add_argument("--data-dir", type=Path, help="keep everything here (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="also write summary.json in the data dir")
    p.set_defaults(func=cmd_demo)
