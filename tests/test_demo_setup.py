"""The demo on a machine without Mosquitto: the exact install command and exit code 2."""

from __future__ import annotations

import pytest

from gatewatch import cli, demo
from gatewatch.broker import mosquitto_install_command


def test_the_demo_names_the_command_that_installs_mosquitto(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # noqa: ANN001
    # Mosquitto is installed here; the demo is made to look where it is not.
    monkeypatch.setattr(demo, "mosquitto_binary", lambda: None)
    assert cli.main(["demo", "--check", "--data-dir", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err
    assert mosquitto_install_command() in err
    assert "apt-get install -y mosquitto" in err
    assert not (tmp_path / "demo").exists(), "nothing is started or written before the check"
