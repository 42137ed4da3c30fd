"""The deployment configs work together: Mosquitto with passwords, the per-gate ACL and client ids
bound to users, the example YAMLs and the systemd units, over a real Mosquitto."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contract.events import Ack, EdgeStatus, Passage
from contract.mqtt import MqttConfig
from contract.topics import Topics
from edge.config import EdgeConfig, load_edge_config
from edge.link import EdgeLink
from edge.outbox import Outbox
from gatewatch.gatevideo import make_video
from tests.conftest import FACES
from tests.mqtt_helpers import AckingStore, Broker, mosquitto_binary

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SITE = "compound-1"
TOPICS = Topics(SITE)
# Lines of configs/mosquitto.conf about this machine (port, certificates, where state lives): the
# test broker has its own. Every other line, the policy, is used as shipped.
MACHINE_LINES = {
    "listener",
    "certfile",
    "keyfile",
    "persistence",
    "persistence_location",
    "max_queued_messages",
}


def shipped_policy(passwd: Path, acl: Path) -> str:
    """The policy lines of configs/mosquitto.conf, with this test's password and ACL files."""
    lines = []
    for raw in (CONFIGS / "mosquitto.conf").read_text().splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] in MACHINE_LINES:
            continue
        path = {"password_file": passwd, "acl_file": acl}.get(words[0])
        lines.append(f"{words[0]} {path}" if path else " ".join(words))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SecuredBroker:
    broker: Broker
    acl: Path  # the file the broker reads; starts as a copy of configs/mosquitto.acl

    @property
    def port(self) -> int:
        return self.broker.port

    def saved_db(self) -> bytes:
        """The persistence file after asking the broker to write it now (SIGUSR1), as the shipped
        conf's autosave would within 30 s; empty while there is none. The write is the broker's
        own and may land a moment later: poll."""
        assert self.broker.proc is not None
        self.broker.proc.send_signal(signal.SIGUSR1)
        db = self.broker.workdir / "mosquitto.db"
        return db.read_bytes() if db.exists() else b""

    def reload_acl(self, text: str) -> None:
        """Write a new ACL and make Mosquitto read it again (SIGHUP), as an operator would."""
        self.acl.write_text(text)
        assert self.broker.proc is not None
        self.broker.proc.send_signal(signal.SIGHUP)


@pytest.fixture()
def secured_broker(tmp_path: Path) -> Iterator[SecuredBroker]:
    # Mosquitto started as root reads the password and ACL files as user 'mosquitto', as in
    # production: they must be readable by it (pytest's own temp dirs are private to root).
    shared = Path(tempfile.mkdtemp(prefix="gatewatch-acl-"))
    shared.chmod(0o755)
    passwd, acl = shared / "passwd", shared / "acl"
    tool = str(Path(mosquitto_binary() or "/usr/sbin/mosquitto").with_name("mosquitto_passwd"))
    tool = tool if Path(tool).exists() else "mosquitto_passwd"
    # One user per gate and the server; and whatever user names the example configs log in with,
    # as an operator following them would create.
    users = {"server", "north", "south"}
    users |= {example_mqtt(n).username or "server" for n in ("gate.yaml", "server.yaml")}
    for i, user in enumerate(sorted(users)):
        cmd = [tool, "-b", *(["-c"] if i == 0 else []), str(passwd), user, password_of(user)]
        subprocess.run(cmd, check=True)
    shutil.copyfile(CONFIGS / "mosquitto.acl", acl)
    for f in (passwd, acl):
        f.chmod(0o644)
    # Its state where the broker's user may write it too: the persistence file is real.
    state = shared / "broker"
    state.mkdir()
    state.chmod(0o777)
    b = Broker(state, extra_conf=shipped_policy(passwd, acl))
    b.start()
    yield SecuredBroker(b, acl)
    b.stop()
    shutil.rmtree(shared, ignore_errors=True)


class Peer:
    """One MQTT client with its callbacks set before it connects; records all it sees."""

    def __init__(
        self, port: int, user: str | None, client_id: str, clean: bool = True, password: str = ""
    ) -> None:
        self.connacks: list[ReasonCode] = []
        self.sessions_present: list[bool] = []
        self.disconnects: list[ReasonCode] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: set[int] = set()
        self._cond = threading.Condition()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if user:
            c.username_pw_set(user, password or password_of(user))
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.reconnect_delay_set(min_delay=0.2, max_delay=1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0 if clean else 3600
        c.connect_async("127.0.0.1", port, clean_start=clean, properties=props)
        c.loop_start()
        self.client = c
        self.wait(lambda p: p.connacks, 15, f"the CONNACK of {user} as {client_id}")

    def _record(self, fn: Callable[[], None]) -> None:
        with self._cond:
            fn()
            self._cond.notify_all()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        def add() -> None:
            self.connacks.append(reason_code)
            self.sessions_present.append(bool(flags.session_present))

        self._record(add)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self._record(lambda: self.disconnects.append(reason_code))

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        self._record(lambda: self.messages.append(msg))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        self._record(lambda: self.pubacks.__setitem__(mid, reason_code))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        self._record(lambda: self.subacks.add(mid))

    def wait(self, predicate: Callable[[Peer], object], timeout_s: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self), timeout_s):
                raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")

    @property
    def connected(self) -> bool:
        return (
            bool(self.connacks) and not self.connacks[-1].is_failure and self.client.is_connected()
        )

    def topics(self) -> list[str]:
        with self._cond:
            return [m.topic for m in self.messages]

    def subscribe(self, *topics: str) -> None:
        _, mid = self.client.subscribe([(t, 1) for t in topics])
        self.wait(lambda p: mid in p.subacks, 15, f"SUBACK for {topics}")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        """QoS 1; the broker's PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        self.wait(lambda p: info.mid in p.pubacks, 15, f"PUBACK for {topic}")
        with self._cond:
            return self.pubacks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def password_of(user: str) -> str:
    return f"pw-{user}"


def wait_until(predicate: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


def passage(gate: str, seq: int, event_id: str | None = None, camera: str | None = None) -> bytes:
    return Passage(
        event_id=event_id or uuid.uuid4().hex,
        seq=seq,
        site=SITE,
        gate=gate,
        camera=camera or f"{gate}-in",
        direction="in",
        ts=datetime.now(UTC),
        track_id=seq,
        identity=None,
        identity_kind="none",
        role="visitor",
        role_source="appearance",
        quality=0.8,
        frames_used=3,
        gallery_version=0,
        model_id="sface",
    ).to_json()


def example_mqtt(name: str) -> MqttConfig:
    """The mqtt section of an example config, through the programs' own model."""
    return MqttConfig.model_validate(yaml.safe_load((CONFIGS / name).read_text())["mqtt"])


def gate_client_id(gate: str) -> str:
    """The client id configs/gate.yaml would give the same camera at another gate."""
    cid = example_mqtt("gate.yaml").client_id
    assert cid is not None and "north" in cid
    return cid.replace("north", gate)


# -- the files ---------------------------------------------------------------------------------


def test_the_production_broker_config_keeps_the_policy() -> None:
    conf = [
        raw.split("#", 1)[0].strip()
        for raw in (CONFIGS / "mosquitto.conf").read_text().splitlines()
    ]
    for line in (
        "allow_anonymous false",
        "persistence true",
        "max_queued_messages 1000000",
    ):
        assert line in conf
    assert any(c.startswith("password_file ") for c in conf)
    assert any(c.startswith("acl_file ") for c in conf)
    # A listener setting: it must follow the listener it applies to.
    listener = next(i for i, c in enumerate(conf) if c.startswith("listener "))
    assert "use_username_as_clientid true" in conf[listener:]


@pytest.mark.parametrize("name", ["gatewatch-server.service", "gatewatch-edge@.service"])
def test_systemd_units_run_the_documented_commands(name: str) -> None:
    unit = (CONFIGS / name).read_text()
    assert "ExecStart=/opt/gatewatch/venv/bin/gatewatch " in unit and "--validate-config" in unit
    assert "Restart=always" in unit


# -- passwords and the ACL ---------------------------------------------------------------------


def test_wrong_or_no_password_is_refused(secured_broker: SecuredBroker) -> None:
    for user, pw in ((None, ""), ("north", "wrong")):
        c = Peer(secured_broker.port, user, "intruder", password=pw)
        try:
            assert c.connacks[0].is_failure, (user, c.connacks)
            assert not c.connected
        finally:
            c.close()


def test_an_edge_cannot_publish_as_another_gate(secured_broker: SecuredBroker) -> None:
    server = Peer(secured_broker.port, "server", "server")
    north = Peer(secured_broker.port, "north", gate_client_id("north"))
    try:
        server.subscribe(TOPICS.all_events(), TOPICS.all_status())
        north.subscribe(TOPICS.acks("north"), TOPICS.acks("south"))
        assert not north.publish(TOPICS.events("north"), passage("north", 1)).is_failure
        refused = north.publish(TOPICS.events("south"), passage("south", 1))
        assert refused.is_failure and refused.getName() == "Not authorized"
        # The broker delivers one publisher's messages in order: once this one is in, the
        # forgery would have been too.
        assert not north.publish(TOPICS.status("north"), b"{}").is_failure
        server.wait(lambda p: TOPICS.status("north") in p.topics(), 15, "north's status")
        assert server.topics() == [TOPICS.events("north"), TOPICS.status("north")]

        ack = Ack(event_ids=[uuid.uuid4().hex]).to_json()
        for gate in ("north", "south", "north"):
            server.publish(TOPICS.acks(gate), ack)
        north.wait(lambda p: len(p.messages) >= 2, 15, "north's two acks")
        assert north.topics() == [TOPICS.acks("north")] * 2, "north reads only its own acks"
    finally:
        for c in (server, north):
            c.close()


def test_an_edge_publishes_sighting_candidates_only_for_its_own_gate(
    secured_broker: SecuredBroker,
) -> None:
    server = Peer(secured_broker.port, "server", "server")
    north = Peer(secured_broker.port, "north", gate_client_id("north"))
    try:
        server.subscribe(TOPICS.all_sightings(), TOPICS.all_status())
        assert not north.publish(TOPICS.sightings("north"), b"{}").is_failure
        refused = north.publish(TOPICS.sightings("south"), b"{}")
        assert refused.is_failure and refused.getName() == "Not authorized"
        assert not north.publish(TOPICS.status("north"), b"{}").is_failure
        server.wait(lambda p: TOPICS.status("north") in p.topics(), 15, "north's status")
        assert server.topics() == [TOPICS.sightings("north"), TOPICS.status("north")]
    finally:
        for c in (server, north):
            c.close()


def test_only_the_server_asks_a_gate_for_a_face_and_a_gate_answers_only_its_own(
    secured_broker: SecuredBroker,
) -> None:
    """Face crops stay on the gate machine: a gate reads only its own requests, which only the
    server may write, and answers only on its own response topic (issue 18)."""
    server = Peer(secured_broker.port, "server", "server")
    north = Peer(secured_broker.port, "north", gate_client_id("north"))
    south = Peer(secured_broker.port, "south", gate_client_id("south"))
    try:
        server.subscribe(TOPICS.all_faces_res(), TOPICS.all_status())
        north.subscribe(TOPICS.faces_req("north"), TOPICS.faces_req("south"))
        ask = b'{"event_id": "00000000000000000000000000000000"}'
        # Another gate cannot ask north (nor itself), nor answer as north.
        for topic in (TOPICS.faces_req("north"), TOPICS.faces_req("south")):
            refused = south.publish(topic, ask)
            assert refused.is_failure and refused.getName() == "Not authorized"
        refused = south.publish(TOPICS.faces_res("north"), b"{}")
        assert refused.is_failure and refused.getName() == "Not authorized"
        # One publisher's messages arrive in order: south's, had north got it, came first.
        assert not server.publish(TOPICS.faces_req("south"), ask).is_failure
        assert not server.publish(TOPICS.faces_req("north"), ask).is_failure
        north.wait(lambda p: len(p.messages) >= 1, 15, "north's request")
        assert north.topics() == [TOPICS.faces_req("north")], "north reads only its own requests"
        assert not north.publish(TOPICS.faces_res("north"), b"{}").is_failure
        refused = north.publish(TOPICS.faces_res("south"), b"{}")
        assert refused.is_failure and refused.getName() == "Not authorized"
        assert not north.publish(TOPICS.status("north"), b"{}").is_failure
        server.wait(lambda p: TOPICS.status("north") in p.topics(), 15, "north's status")
        assert server.topics() == [TOPICS.faces_res("north"), TOPICS.status("north")]
    finally:
        for c in (server, north, south):
            c.close()


def test_an_edge_cannot_read_alerts(secured_broker: SecuredBroker) -> None:
    """Alerts carry person ids of sightings at every gate; no edge needs them."""
    server = Peer(secured_broker.port, "server", "server")
    north = Peer(secured_broker.port, "north", gate_client_id("north"))
    try:
        north.subscribe(TOPICS.alerts(), TOPICS.acks("north"))
        alert = b'{"alert_id": 1, "rule": "not_seen", "person_id": "p-1"}'
        assert not server.publish(TOPICS.alerts(), alert).is_failure
        server.publish(TOPICS.acks("north"), Ack(event_ids=[uuid.uuid4().hex]).to_json())
        north.wait(lambda p: TOPICS.acks("north") in p.topics(), 15, "north's ack")
        assert north.topics() == [TOPICS.acks("north")], "the alert must not reach an edge"
    finally:
        for c in (server, north):
            c.close()


# -- client ids bound to users -----------------------------------------------------------------


@pytest.mark.parametrize("clean_start", [True, False], ids=["clean-start", "resume"])
def test_a_gate_cannot_take_over_the_servers_session(
    secured_broker: SecuredBroker, clean_start: bool
) -> None:
    server_mqtt = example_mqtt("server.yaml")
    assert server_mqtt.username and server_mqtt.client_id
    store = AckingStore(
        secured_broker.port,
        SITE,
        user=server_mqtt.username,
        password=password_of(server_mqtt.username),
        client_id=server_mqtt.client_id,
    )
    kicked: list[ReasonCode] = []
    store.client.on_disconnect = lambda c, u, f, rc, p: kicked.append(rc)
    south = Peer(secured_broker.port, "south", gate_client_id("south"))
    # The server's own subscriptions are in place before the attack.
    south.publish(TOPICS.events("south"), passage("south", 1))
    store.wait_for(lambda s: len(s.events) == 1, 15, "the first passage")
    attacker = Peer(secured_broker.port, "north", server_mqtt.client_id, clean=clean_start)
    try:
        for seq in range(2, 31):  # passages keep coming while the attacker is connected
            south.publish(TOPICS.events("south"), passage("south", seq))
        store.wait_for(lambda s: len(s.events) == 30, 30, "30 passages at the server")
        assert kicked == [], "the server must never be thrown off the broker"
        assert attacker.connected, "north may connect, but only as itself"
    finally:
        for c in (attacker, south):
            c.close()
        store.close()


def test_a_gate_cannot_take_over_another_gates_session(secured_broker: SecuredBroker) -> None:
    south = Peer(secured_broker.port, "south", gate_client_id("south"), clean=False)
    server = Peer(secured_broker.port, "server", "server")
    south.subscribe(TOPICS.acks("south"))
    attacker = Peer(secured_broker.port, "north", gate_client_id("south"), clean=True)
    try:
        for _ in range(5):  # acks keep coming while the attacker is connected
            server.publish(TOPICS.acks("south"), Ack(event_ids=[uuid.uuid4().hex]).to_json())
        south.wait(lambda p: len(p.messages) == 5, 15, "south's five acks")
        assert south.disconnects == [], "south must stay connected"
        assert attacker.connected, "north may connect, but only as itself"
    finally:
        for c in (attacker, south, server):
            c.close()


@pytest.mark.parametrize(
    ("who", "config", "reads", "sender", "sent"),
    [
        ("server", "server.yaml", TOPICS.all_events(), "north", TOPICS.events("north")),
        ("north", "gate.yaml", TOPICS.acks("north"), "server", TOPICS.acks("north")),
    ],
)
def test_persistent_sessions_still_resume_with_ids_bound_to_users(
    secured_broker: SecuredBroker, who: str, config: str, reads: str, sender: str, sent: str
) -> None:
    """Clean start off + the config's fixed client id: what was published while away arrives."""
    cid = example_mqtt(config).client_id
    assert cid is not None
    away = Peer(secured_broker.port, who, cid, clean=False)
    away.subscribe(reads)
    away.close()
    publisher = Peer(secured_broker.port, sender, "sender")
    try:
        for seq in range(1, 6):
            payload = (
                passage("north", seq)
                if sent.endswith("/events")
                else Ack(event_ids=[uuid.uuid4().hex]).to_json()
            )
            assert not publisher.publish(sent, payload).is_failure
        back = Peer(secured_broker.port, who, cid, clean=False)
        back.wait(lambda p: len(p.messages) == 5, 15, "the five messages queued while away")
        assert back.sessions_present == [True]
        back.close()
    finally:
        publisher.close()


# -- the example configs together --------------------------------------------------------------


def example_edge(tmp: Path, port: int, **override: object) -> EdgeConfig:
    """configs/gate.yaml through the edge's config model; only this machine's broker and paths
    differ (no TLS on the test broker)."""
    shipped = load_edge_config(CONFIGS / "gate.yaml").model_dump(mode="json")
    shipped["mqtt"].update(host="127.0.0.1", port=port, tls=False)
    shipped["outbox"].update(path=str(tmp / "outbox.sqlite"))
    shipped["gallery_path"] = str(tmp / "gallery.npz")
    return EdgeConfig.model_validate({**shipped, **override})


def test_the_example_gate_config_publishes_with_the_shipped_acl(
    secured_broker: SecuredBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = example_edge(tmp_path, secured_broker.port)
    assert cfg.mqtt.username
    monkeypatch.setenv(cfg.mqtt.password_env, password_of(cfg.mqtt.username))
    store = AckingStore(secured_broker.port, SITE, user="server", password=password_of("server"))
    outbox = Outbox(cfg.outbox.path, cfg.outbox.max_events, [cfg.camera])
    ev = outbox.add(
        lambda seq, eid: passage(cfg.gate, seq, event_id=eid, camera=cfg.camera), cfg.camera
    )
    link = EdgeLink(
        cfg.mqtt,
        Topics(cfg.site),
        cfg.gate,
        cfg.camera,
        outbox,
        on_gallery=lambda manifest: None,
        on_search=lambda search_id, order: None,
    )
    link.start()
    try:
        store.wait_for(lambda s: ev.event_id in s.events, 30, "the passage at the server")
        wait_until(lambda: outbox.depth() == 0, 30, "the ack to empty the outbox")
        assert link.refused_publishes == 0
    finally:
        link.stop()
        store.close()
        outbox.close()


def test_a_refused_publish_is_reported_in_the_status_and_retried_until_delivered(
    secured_broker: SecuredBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ACL that refuses the edge's events: the edge says so in its retained status and keeps
    every event; once the ACL is fixed, each is delivered, in order, without a restart."""
    video = tmp_path / "gate.mp4"
    make_video(FACES, ["obama/4.jpg", "kit_harington/2.jpg"], video, pass_s=1.6, gap_s=0.6)
    cfg = example_edge(
        tmp_path,
        secured_broker.port,
        source={"kind": "file", "location": str(video), "pace": "realtime"},
        outbox={"path": str(tmp_path / "outbox.sqlite"), "drain_timeout_s": 240},
        status_interval_s=0.5,
    )
    assert cfg.mqtt.username
    shipped = (CONFIGS / "mosquitto.acl").read_text()
    events_line = "pattern write gatewatch/compound-1/gates/%u/events\n"
    assert events_line in shipped
    secured_broker.reload_acl(shipped.replace(events_line, ""))
    probe = Peer(secured_broker.port, cfg.mqtt.username, "probe")
    assert probe.publish(TOPICS.events(cfg.gate), passage(cfg.gate, 1)).is_failure
    probe.close()

    store = AckingStore(secured_broker.port, SITE, user="server", password=password_of("server"))
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    monkeypatch.setenv(cfg.mqtt.password_env, password_of(cfg.mqtt.username))
    log = tmp_path / "edge.log"
    edge = subprocess.Popen(
        [sys.executable, "-m", "gatewatch", "edge", "--config", str(config)],
        cwd=ROOT,
        stdout=open(log, "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    try:

        def refused_reported(s: AckingStore) -> bool:
            st = s.status.get(cfg.gate)
            return (
                st is not None and (st.refused_publishes or 0) >= 1 and (st.outbox_depth or 0) >= 1
            )

        store.wait_for(refused_reported, 180, "a status that reports refused publishes")
        assert store.events == {}, "nothing got past the ACL"
        secured_broker.reload_acl(shipped)
        assert edge.wait(timeout=240) == 0, log.read_text()[-3000:]
    finally:
        if edge.poll() is None:
            edge.kill()
        store.close()
    text = log.read_text()
    assert "Not authorized" in text, text[-3000:]
    outbox = Outbox(cfg.outbox.path, 10, [cfg.camera])
    last, depth = outbox.last_seq(cfg.camera), outbox.depth()
    outbox.close()
    assert last >= 1 and depth == 0
    assert [p.seq for p in store.passages()] == list(range(1, last + 1)), text[-3000:]

    reader = Peer(secured_broker.port, "server", "reader")
    try:
        reader.subscribe(TOPICS.status(cfg.gate))
        reader.wait(lambda p: p.messages, 15, "the retained status")
        assert reader.messages[0].retain
        st = EdgeStatus.model_validate_json(reader.messages[0].payload)
    finally:
        reader.close()
    assert st.state == "offline" and st.outbox_depth == 0
    assert st.refused_publishes is not None and st.refused_publishes >= 1
