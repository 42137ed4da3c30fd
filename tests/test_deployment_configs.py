"""The deployment configs work: Mosquitto with passwords and the per-gate ACL, example YAMLs."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.mqtt_helpers import (
    BROKER_ANSWER_S,
    Broker,
    connect,
    mosquitto_binary,
    subscribe,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
SITE = "gatewatch/compound-1"


@pytest.fixture()
def secured_broker(tmp_path: Path):
    # Mosquitto started as root reads the password file as user 'mosquitto', as in production:
    # the file must be readable by it (pytest's own temp dirs are private to root).
    shared = Path(tempfile.mkdtemp(prefix="gatewatch-acl-"))
    shared.chmod(0o755)
    passwd = shared / "passwd"
    tool = str(Path(mosquitto_binary() or "/usr/sbin/mosquitto").with_name("mosquitto_passwd"))
    tool = tool if Path(tool).exists() else "mosquitto_passwd"
    for i, (user, pw) in enumerate((("server", "s3rver"), ("north", "n0rth"), ("south", "s0uth"))):
        subprocess.run([tool, "-b", *(["-c"] if i == 0 else []), str(passwd), user, pw], check=True)
    passwd.chmod(0o644)
    # The same policy lines as configs/mosquitto.conf, with this test's paths and port.
    b = Broker(
        tmp_path / "broker",
        extra_conf=(
            f"allow_anonymous false\npassword_file {passwd}\nacl_file {CONFIGS / 'mosquitto.acl'}\n"
        ),
    )
    b.start()
    yield b
    b.stop()
    shutil.rmtree(shared, ignore_errors=True)


def test_the_production_broker_config_keeps_the_policy() -> None:
    conf = (CONFIGS / "mosquitto.conf").read_text()
    for line in (
        "allow_anonymous false",
        "password_file",
        "acl_file",
        "persistence true",
        "max_queued_messages 1000000",
    ):
        assert line in conf


def test_an_edge_cannot_publish_as_another_gate(secured_broker) -> None:
    got: list[str] = []
    server = connect(secured_broker.port, "server", user="server", password="s3rver")
    server.on_message = lambda c, u, m: got.append(m.topic)
    subscribe(server, f"{SITE}/gates/+/events")
    north = connect(secured_broker.port, "edge-north", user="north", password="n0rth")
    north_acks: list[str] = []
    north.on_message = lambda c, u, m: north_acks.append(m.topic)
    subscribe(north, [(f"{SITE}/gates/north/acks", 1), (f"{SITE}/gates/south/acks", 1)])
    # Each forgery goes first and the allowed message after it, from the same client: once the
    # allowed one has arrived, a forgery the broker let through would have arrived before it.
    north.publish(f"{SITE}/gates/south/events", b"{}", qos=1).wait_for_publish(BROKER_ANSWER_S)
    north.publish(f"{SITE}/gates/north/events", b"{}", qos=1).wait_for_publish(BROKER_ANSWER_S)
    server.publish(f"{SITE}/gates/south/acks", b"{}", qos=1).wait_for_publish(BROKER_ANSWER_S)
    server.publish(f"{SITE}/gates/north/acks", b"{}", qos=1).wait_for_publish(BROKER_ANSWER_S)
    wait_until(lambda: got and north_acks, what="north's event and ack")
    assert got == [f"{SITE}/gates/north/events"], "north's event passes, its forgery does not"
    assert north_acks == [f"{SITE}/gates/north/acks"], "north reads only its own acks"
    for c in (server, north):
        c.loop_stop()


def test_wrong_or_no_password_is_refused(secured_broker) -> None:
    for user, pw in ((None, ""), ("north", "wrong")):
        c = connect(secured_broker.port, "intruder", user=user, password=pw)  # waits for CONNACK
        assert not c.is_connected()
        c.loop_stop()


@pytest.mark.parametrize("name", ["gatewatch-server.service", "gatewatch-edge@.service"])
def test_systemd_units_run_the_documented_commands(name: str) -> None:
    unit = (CONFIGS / name).read_text()
    assert "ExecStart=/opt/gatewatch/venv/bin/gatewatch " in unit and "--validate-config" in unit
    assert "Restart=always" in unit
