"""Server fixtures: a real broker, SQLite in a temp dir and PostgreSQL where reachable."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.standins import passage, server_config  # noqa: F401  (re-exported)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_available() -> str | None:
    try:
        import sqlalchemy as sa

        eng = sa.create_engine(PG_ADMIN, connect_args={"connect_timeout": 2})
        with eng.connect():
            pass
        eng.dispose()
        return None
    except Exception as e:  # any failure means: no PostgreSQL here
        return f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(e).__name__})"


PG_SKIP = _pg_available()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gw.db'}"
        return
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    import sqlalchemy as sa

    name = "gw_test_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture()
def store(db_url: str) -> Iterator:
    """A Store on a fresh, migrated database of each kind."""
    from server.db import make_engine, migrate
    from server.store import Store

    engine = make_engine(db_url)
    migrate(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture()
def pub(broker) -> Iterator:  # noqa: ANN001
    """A plain MQTT client on the test broker, to publish what a gate would."""
    from tests.mqtt_helpers import connect

    c = connect(broker.port, "pub-" + secrets.token_hex(3))
    yield c
    c.loop_stop()
    c.disconnect()


def start_subscribed(app):  # noqa: ANN001, ANN201
    """Start a ServerApp and return once the broker has acknowledged its ingest subscriptions:
    start() connects in the background, and a passage published before the SUBACK reaches no one."""
    import threading

    from tests.mqtt_helpers import BROKER_ANSWER_S

    subscribed = threading.Event()
    app.bus.client.on_subscribe = lambda client, userdata, mid, rcs, props: subscribed.set()
    app.start()
    if not subscribed.wait(BROKER_ANSWER_S):
        raise AssertionError(f"the server did not subscribe within {BROKER_ANSWER_S:g} s")
    return app


@pytest.fixture()
def server(tmp_path: Path, broker, db_url: str):
    """A running ServerApp (ingest on the real broker) on each database, with users."""
    from server.app import ServerApp

    site = "s" + secrets.token_hex(3)
    app = start_subscribed(ServerApp(server_config(tmp_path, site, broker.port, db_url)))
    app.tokens = {r: app.store.add_user(f"{r}1", r) for r in ("admin", "officer", "viewer", "edge")}
    yield app
    app.stop()


@pytest.fixture()
def client(server):
    from fastapi.testclient import TestClient

    from server.api import create_api

    with TestClient(create_api(server)) as c:
        yield c


@contextlib.contextmanager
def served(app, settings: dict | None = None) -> Iterator[str]:  # noqa: ANN001
    """The API of ``app`` (a ServerApp) served by uvicorn on a free port, in a thread."""
    import threading
    import time

    import uvicorn

    from server.api import create_api
    from server.api.serving import http_config
    from tests.mqtt_helpers import free_port

    port = free_port()
    # the shipped settings (timeouts, connection limit, trusted proxies) on a free port
    cfg = app.cfg.http.model_copy(update={"host": "127.0.0.1", "port": port, **(settings or {})})
    http = uvicorn.Server(http_config(cfg, create_api(app), "warning"))
    threading.Thread(target=http.run, daemon=True).start()
    deadline = time.monotonic() + 60
    while not http.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        http.should_exit = True


@pytest.fixture()
def http_url(server):
    """The API served by uvicorn on a free port, in a thread."""
    with served(server) as url:
        yield url


def auth(server, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.tokens[role]}"}
