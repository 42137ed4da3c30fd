"""Issue 9 item 12: the server speaks HTTPS with the configured certificate and key."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.mqtt_helpers import free_port
from tests.server.conftest import auth

OPENSSL = shutil.which("openssl")


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "server.crt", tmp / "server.key"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_https_with_a_self_signed_certificate(server, tmp_path: Path) -> None:
    import uvicorn

    from server.api import create_api
    from server.cli import http_config
    from server.config import HttpConfig

    cert, key = _self_signed(tmp_path)
    http = HttpConfig(host="127.0.0.1", port=free_port(), tls_cert=cert, tls_key=key)
    srv = uvicorn.Server(http_config(http, create_api(server), log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=f"https://127.0.0.1:{http.port}", verify=ctx) as c:
            assert c.get("/api/health").json()["ok"] is True
            r = c.post("/api/login", headers=auth(server, "viewer"))
            assert r.status_code == 204 and "Secure" in r.headers["set-cookie"]
            assert c.get("/api/me").json()["name"] == "viewer1"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{http.port}/api/health", timeout=5)
    finally:
        srv.should_exit = True


def test_tls_needs_both_certificate_and_key(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from server.config import HttpConfig

    with pytest.raises(ValidationError, match="tls_cert and http.tls_key go together"):
        HttpConfig(tls_cert=tmp_path / "c.pem")


def test_example_config_binds_localhost_or_uses_tls() -> None:
    from server.config import load_server_config

    cfg = load_server_config(Path(__file__).resolve().parents[2] / "configs/server.yaml")
    assert cfg.http.host in ("127.0.0.1", "::1", "localhost") or cfg.http.tls
