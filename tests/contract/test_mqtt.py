"""The one MQTT client factory, against a real Mosquitto: persistent sessions, will, credentials."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from contract.mqtt import MqttConfig, Will, make_client, start_client
from tests.mqtt_helpers import BROKER_ANSWER_S, Broker, connect, mosquitto_binary, subscribe


def _wait(pred, timeout_s: float = 60.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


class Inbox:
    """Collects payloads of one topic; subscribes on every connect."""

    def __init__(self, client: mqtt.Client, topic: str) -> None:
        self.got: list[bytes] = []
        self.session_present: list[bool] = []
        self.lock = threading.Lock()
        self.topic = topic
        self.subscribed = threading.Event()  # the broker's SUBACK
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = lambda client, userdata, mid, rcs, props: self.subscribed.set()

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        self.session_present.append(bool(flags.session_present))
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        with self.lock:
            self.got.append(msg.payload)


def _offline_messages_reach(broker: Broker, persistent: bool) -> tuple[list[bytes], list[bool]]:
    """Subscribe, go away, have 3 messages published, come back: what arrives."""
    cfg = MqttConfig(port=broker.port, session_expiry_s=600, reconnect_min_s=0.2, reconnect_max_s=1)
    cid, topic = "sub-" + secrets.token_hex(3), "t/" + secrets.token_hex(3)
    c = make_client(cfg, cid)
    inbox = Inbox(c, topic)
    start_client(c, cfg, persistent=persistent)
    assert _wait(lambda: c.is_connected() and inbox.session_present)
    # The subscription must be in the session before the client goes away.
    assert inbox.subscribed.wait(BROKER_ANSWER_S), "no SUBACK"
    c.disconnect()
    c.loop_stop()
    pub = connect(broker.port, "pub-" + secrets.token_hex(3))
    for i in range(3):
        pub.publish(topic, f"m{i}".encode(), qos=1).wait_for_publish(BROKER_ANSWER_S)
    pub.disconnect()
    c2 = make_client(cfg, cid)
    inbox2 = Inbox(c2, topic)
    start_client(c2, cfg, persistent=persistent)
    try:
        assert _wait(lambda: bool(inbox2.session_present))
        # A throw-away session must get nothing: 2 s to show that nothing comes.
        _wait(lambda: len(inbox2.got) >= 3, 60 if persistent else 2)
        return inbox2.got, inbox2.session_present
    finally:
        c2.disconnect()
        c2.loop_stop()


def test_a_persistent_session_keeps_what_arrived_while_away(broker: Broker) -> None:
    got, present = _offline_messages_reach(broker, persistent=True)
    assert present[0] is True
    assert got == [b"m0", b"m1", b"m2"]


def test_a_throw_away_session_does_not(broker: Broker) -> None:
    got, present = _offline_messages_reach(broker, persistent=False)
    assert present[0] is False
    assert got == []


def test_the_will_is_published_when_the_client_dies(broker: Broker) -> None:
    topic = "status/" + secrets.token_hex(3)
    watcher = connect(broker.port, "watch-" + secrets.token_hex(3))
    seen: list[bytes] = []
    watcher.on_message = lambda c, u, m: seen.append(m.payload)
    subscribe(watcher, topic)
    code = (
        "import sys, time\n"
        "from contract.mqtt import MqttConfig, Will, make_client, start_client\n"
        f"cfg = MqttConfig(port={broker.port})\n"
        f"c = make_client(cfg, 'doomed', will=Will({topic!r}, b'offline'))\n"
        "start_client(c, cfg)\n"
        "while not c.is_connected(): time.sleep(0.05)\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        assert seen == []
        proc.kill()  # no DISCONNECT packet: the broker must speak for it
        assert _wait(lambda: seen == [b"offline"]), seen
    finally:
        proc.kill()
        proc.wait()
        watcher.disconnect()
        watcher.loop_stop()


@pytest.fixture()
def password_broker(tmp_path: Path):
    shared = Path(tempfile.mkdtemp(prefix="gatewatch-pw-"))
    shared.chmod(0o755)  # Mosquitto started as root reads the file as user 'mosquitto'
    passwd = shared / "passwd"
    tool = str(Path(mosquitto_binary() or "/usr/sbin/mosquitto").with_name("mosquitto_passwd"))
    tool = tool if Path(tool).exists() else "mosquitto_passwd"
    subprocess.run([tool, "-b", "-c", str(passwd), "gate", "g4te"], check=True)
    passwd.chmod(0o644)
    b = Broker(tmp_path / "broker", extra_conf=f"allow_anonymous false\npassword_file {passwd}\n")
    yield b.start()
    b.stop()


@pytest.mark.parametrize(("password", "connects"), [("g4te", True), ("wrong", False)])
def test_the_password_comes_from_the_named_environment_variable(
    password_broker: Broker, monkeypatch: pytest.MonkeyPatch, password: str, connects: bool
) -> None:
    monkeypatch.setenv("GW_TEST_MQTT_PW", password)
    cfg = MqttConfig(port=password_broker.port, username="gate", password_env="GW_TEST_MQTT_PW")
    refused: list[str] = []
    c = make_client(cfg, "gate-" + secrets.token_hex(3))
    c.on_connect = lambda cl, u, f, rc, p: refused.append(str(rc)) if rc.is_failure else None
    start_client(c, cfg, persistent=False)
    try:
        assert _wait(lambda: c.is_connected() or bool(refused))
        assert c.is_connected() is connects
        assert bool(refused) is not connects
    finally:
        c.disconnect()
        c.loop_stop()


def test_a_client_without_an_id_is_a_caller_mistake() -> None:
    with pytest.raises(ValueError, match="client id"):
        make_client(MqttConfig(), "")


def test_backoff_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="reconnect_max_s"):
        MqttConfig(reconnect_min_s=5, reconnect_max_s=1)
    assert Will("t", b"x").retain is True


@pytest.fixture()
def tls_broker(tmp_path: Path):
    """Mosquitto with a TLS listener, its certificate signed by a CA made for the test."""
    d = Path(tempfile.mkdtemp(prefix="gatewatch-tls-"))
    d.chmod(0o755)  # Mosquitto started as root reads the key as user 'mosquitto'

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
        "-out", "server.csr")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")  # fmt: skip
    for f in d.iterdir():
        f.chmod(0o644)
    b = Broker(
        tmp_path / "broker",
        extra_conf=(
            f"allow_anonymous true\ncafile {d / 'ca.pem'}\ncertfile {d / 'server.pem'}\n"
            f"keyfile {d / 'server.key'}\n"
        ),
    )
    yield b.start(), d / "ca.pem"
    b.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("trusted", [True, False])
def test_tls_with_the_configured_ca(tls_broker, trusted: bool) -> None:  # noqa: ANN001
    broker, ca = tls_broker
    cfg = MqttConfig(port=broker.port, tls=True, ca_file=ca if trusted else None)
    c = make_client(cfg, "tls-" + secrets.token_hex(3))
    start_client(c, cfg, persistent=False)
    try:
        # Without our CA (system CAs only) the handshake fails and paho keeps retrying.
        assert _wait(c.is_connected, 60 if trusted else 3) is trusted
    finally:
        c.disconnect()
        c.loop_stop()
