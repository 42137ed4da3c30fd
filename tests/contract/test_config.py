"""One config loader for every program: ConfigError names each bad key with its path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contract.config import ConfigError, FaceConfig, load_config
from contract.mqtt import MqttConfig

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_a_good_file_and_an_empty_one(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "host: broker.local\nport: 8883\ntls: true\n"), MqttConfig)
    assert (cfg.host, cfg.port, cfg.tls) == ("broker.local", 8883, True)
    assert load_config(write(tmp_path, ""), MqttConfig) == MqttConfig()


def test_every_bad_key_is_named_with_its_path(tmp_path: Path) -> None:
    p = write(tmp_path, "face: {threads: 0, quality: {max_yaw_deg: 200, colour: red}}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, FaceConfig, section="face")
    lines = str(e.value).splitlines()
    assert [line.split(": ")[2] for line in lines] == [
        "threads",
        "quality.max_yaw_deg",
        "quality.colour",
    ]
    assert all(line.startswith(f"{p}: face: ") for line in lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: [1\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping of keys at the top level"),
        ("face: 3\n", "face: expected a mapping of keys"),
    ],
)
def test_a_file_that_is_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), FaceConfig, section="face" if "face" in text else None)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml", MqttConfig)


def test_the_server_validate_config_names_every_bad_key(tmp_path: Path) -> None:
    p = write(tmp_path, "site: s1\nmqtt: {port: 0, colour: red}\nface: {pack: nope}\n")
    r = subprocess.run(
        [sys.executable, "-m", "gatewatch", "server", "--config", str(p), "--validate-config"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    for key in ("mqtt.port:", "mqtt.colour:", "face.pack:"):
        assert f"{p}: {key}" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
