"""The wall never says 实时 when it is not, and its streams end with their credential and with
the server: a broker killed turns the wall amber (gates 未知) and back, an ended sign-in shows a
big Chinese prompt (a viewer's session renews itself until its token ends), a revoked token or a
logout ends its open streams within seconds, SIGTERM ends a server with walls open within 5 s,
and the workbench's /gates page has what the wall no longer shows (frame rate, backlog).

One server and one Chromium for the module; the broker is the module's own Mosquitto."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from contract.events import EdgeStatus
from scripts.standins import server_config
from server.states import UserRole
from tests.mqtt_helpers import connect, free_port, wait_until
from tests.server.browser import CHROMIUM, DRIVER, chrome, needs_chromium, shoot, sign_in, wait
from tests.server.conftest import start_subscribed
from tests.server.wall_fixtures import history, populate

ROOT = Path(__file__).resolve().parents[2]
SESSION_HOURS = 0.001  # 3.6 s: a kiosk must renew its session to stay signed in
HEALTH_S = 1.0


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, broker):  # noqa: ANN001, ANN201
    from server.app import ServerApp

    tmp = tmp_path_factory.mktemp("wallstate")
    site = "w" + secrets.token_hex(3)
    cfg = server_config(tmp, site, broker.port, f"sqlite:///{tmp / 'gw.db'}",
                        wall={"health_every_s": HEALTH_S, "gate_grace_s": 1})  # fmt: skip
    cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"reconnect_max_s": 1})})
    server = start_subscribed(ServerApp(cfg))
    server.tokens = {r: server.store.add_user(f"{r}1", r) for r in ("admin", "officer", "viewer")}
    yield server
    server.stop()


@pytest.fixture(scope="module")
def url(app):  # noqa: ANN001, ANN201
    """The API served by the server's own uvicorn (streams end when it stops), in a thread."""
    from server.api import create_api
    from server.api.serving import Server
    from server.cli import http_config

    api = create_api(app)
    port = free_port()
    http = Server(http_config(app.cfg.http.model_copy(update={"port": port}), api, "warning"),
                  api)  # fmt: skip
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    wait_until(lambda: http.started, 60, "uvicorn started")
    yield f"http://127.0.0.1:{port}"
    http.should_exit = True
    thread.join(10)


class Reader:
    """An SSE stream read in a thread: its data items, and when it ended."""

    def __init__(self, url: str, **kw) -> None:  # noqa: ANN003
        self.items: list[dict] = []
        self.opened = threading.Event()
        self.ended_at: float | None = None
        self.status: int | None = None
        self._thread = threading.Thread(target=self._read, args=(url, kw), daemon=True)
        self._thread.start()

    def _read(self, url: str, kw: dict) -> None:
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=60), **kw) as r:
                self.status = r.status_code
                self.opened.set()
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        self.items.append(json.loads(line[6:]))
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended_at = time.monotonic()

    def alive(self) -> bool:
        return self.ended_at is None and self.status == 200

    def topics(self) -> list[str]:
        return [i.get("topic", "") for i in self.items]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_streams_end_when_their_credential_ends(app, url: str) -> None:  # noqa: ANN001
    admin = _bearer(app.tokens["admin"])
    officer = app.store.add_user("officer-s", UserRole.OFFICER)
    rotated = app.store.add_user("viewer-r", UserRole.VIEWER)
    login = httpx.post(f"{url}/api/login", headers=_bearer(app.tokens["viewer"]))
    assert login.status_code == 204, login.text
    cookie = {"Cookie": f"gw_session={login.cookies['gw_session']}"}
    renewed = httpx.post(f"{url}/api/session/renew", headers=cookie)
    assert renewed.status_code == 200 and renewed.json()["renew_in_s"] == 6 * 3600, renewed.text
    no_session = httpx.post(f"{url}/api/session/renew", headers=_bearer(officer))
    assert no_session.status_code == 403, "a token is no session: nothing to renew"
    streams = {
        "board (token)": Reader(f"{url}/api/board/stream", headers=_bearer(officer)),
        "wall (token)": Reader(f"{url}/api/wall/stream", headers=_bearer(officer)),
        "wall (rotated token)": Reader(f"{url}/api/wall/stream", headers=_bearer(rotated)),
        "wall (cookie)": Reader(f"{url}/api/wall/stream", headers=cookie),
    }
    for s in streams.values():
        assert s.opened.wait(30) and s.status == 200
    # Open and delivering: the wall's streams carry the health every second.
    wait_until(lambda: all("health" in streams[k].topics() for k in streams if "wall" in k), 30,
               "health items on the wall streams")  # fmt: skip
    time.sleep(0.5)
    assert all(s.alive() for s in streams.values()), "the streams end only when told"
    t0 = time.monotonic()
    assert httpx.delete(f"{url}/api/users/officer-s", headers=admin).status_code == 200
    assert httpx.post(f"{url}/api/users/viewer-r/token", headers=admin).status_code == 200
    out = httpx.post(f"{url}/api/logout", headers=cookie)
    assert out.status_code == 204, out.text
    wait_until(lambda: not any(s.alive() for s in streams.values()), 30, "the streams ended")
    took = {k: round(s.ended_at - t0, 1) for k, s in streams.items() if s.ended_at}
    print(f"streams ended after: {took}")
    assert all(v < 5 for v in took.values()), f"streams outlived their credential: {took}"
    assert streams["wall (cookie)"].items[-1] == {"topic": "ended", "reason": "credential"}
    # And they cannot be opened again.
    again = httpx.get(f"{url}/api/wall/stream", headers=_bearer(officer))
    assert again.status_code == 401


def test_the_wall_stream_outlives_a_database_error(app, url: str) -> None:  # noqa: ANN001
    from server.store.records import PersonEntry

    app.store.upsert_person(PersonEntry(id="p-db", name="赵丽", role="resident", building="4"))
    token = app.store.add_user("viewer-db", UserRole.VIEWER)
    wall = Reader(f"{url}/api/wall/stream", headers=_bearer(token))
    assert wall.opened.wait(30) and wall.status == 200
    wait_until(lambda: "health" in wall.topics(), 30, "the stream delivers")

    def passage(n: int) -> None:
        app.hub.publish("passage", {"ts": datetime.now(UTC).isoformat(), "gate": "north",
                                    "camera": "c1", "direction": "in", "role": "resident",
                                    "identity": "p-db", "identity_kind": "person",
                                    "n": n})  # fmt: skip

    def passages() -> list[dict]:
        return [i for i in wall.items if i.get("topic") == "passage"]

    with app.engine.begin() as c:  # the names cannot be read
        c.exec_driver_sql("ALTER TABLE persons RENAME TO persons_away")
    try:
        passage(1)
        wait_until(lambda: len(passages()) == 1, 30, "a passage with the database away")
    finally:
        with app.engine.begin() as c:
            c.exec_driver_sql("ALTER TABLE persons_away RENAME TO persons")
    assert wall.alive(), "a database error does not end the stream"
    assert "赵" not in json.dumps(passages()[0], ensure_ascii=False), "roles only"
    passage(2)
    wait_until(lambda: len(passages()) == 2, 30, "the next passage, named again")
    assert "赵" in json.dumps(passages()[1], ensure_ascii=False)
    assert httpx.delete(f"{url}/api/users/viewer-db",
                        headers=_bearer(app.tokens["admin"])).status_code == 200
    wait_until(lambda: not wall.alive(), 30, "the stream ended with its token")


def test_the_server_exits_within_5_s_of_sigterm_with_two_walls_open(
    tmp_path: Path, broker  # noqa: ANN001
) -> None:
    site = "term" + secrets.token_hex(2)
    port = free_port()
    cfg = tmp_path / "server.yaml"
    cfg.write_text(yaml.safe_dump({
        "site": site, "data_dir": str(tmp_path / "data"),
        "mqtt": {"port": broker.port, "client_id": f"server-{site}"},
        "http": {"port": port},
    }))  # fmt: skip
    token = secrets.token_urlsafe(32)
    env = {**os.environ, "GATEWATCH_ADMIN_TOKEN": token, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "server.log"
    srv = subprocess.Popen(
        [sys.executable, "-m", "gatewatch", "server", "--config", str(cfg)],
        cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/api/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return srv.poll() is not None

        t_start = time.monotonic()
        wait_until(up, 120, "the server answering")
        print(f"server up after {time.monotonic() - t_start:.2f} s")
        assert srv.poll() is None, log.read_text()[-3000:]
        walls = [Reader(f"{base}/api/wall/stream", headers=_bearer(token)) for _ in range(2)]
        for w in walls:
            assert w.opened.wait(30) and w.status == 200
        wait_until(lambda: all("health" in w.topics() for w in walls), 30, "two walls open")
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server still runs 30 s after SIGTERM: {log.read_text()[-2000:]}")
        took = time.monotonic() - t0
        print(f"exit after SIGTERM: {took:.2f} s")
        assert took < 5, f"the server took {took:.1f} s to exit after SIGTERM"
        assert srv.returncode == 0, log.read_text()[-3000:]
        wait_until(lambda: all(w.ended_at for w in walls), 10, "the walls' streams ended")
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


# -- in Chromium: the broker killed and back, an ended sign-in, the /gates page ----------------


class Statuses:
    """Edges reporting every second (status_interval_s 1), as long as the broker is there."""

    def __init__(self, app, port: int) -> None:  # noqa: ANN001
        self.app = app
        self.pub = connect(port, "status-" + secrets.token_hex(3))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def send(self, gate: str, camera: str, online: bool, **kw) -> None:  # noqa: ANN003
        st = EdgeStatus(site=self.app.cfg.site, gate=gate, camera=camera,
                        state="online" if online else "offline", ts=datetime.now(UTC),
                        status_interval_s=1, **kw)  # fmt: skip
        self.pub.publish(self.app.topics.status(gate), st.to_json(), qos=1, retain=True)

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            self.send("north", "c1", True, camera_state="ok", fps=14.8, outbox_depth=0,
                      gallery_version=12, gallery_templates=3120, match_threshold=0.412,
                      calibration="sface-2023 · 33000 人 · dev 2024-10",
                      software="gatewatch 0.1.0")  # fmt: skip
            self.send("hall", "lobby", True, camera_state="ok", fps=9.6, outbox_depth=3,
                      software="gatewatch 0.1.0")  # fmt: skip

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.pub.loop_stop()
        self.pub.disconnect()


@pytest.fixture(scope="module")
def driver():  # noqa: ANN201
    if not (CHROMIUM and DRIVER):
        pytest.skip(needs_chromium.kwargs["reason"])
    d = chrome("1080p")
    yield d
    d.quit()


@pytest.fixture(scope="module")
def compound(app, broker):  # noqa: ANN001, ANN201
    """Today's passages, a dead camera and edges that keep reporting."""
    edge = populate(app, broker)
    history(app)
    statuses = Statuses(app, broker.port)
    statuses.send("south", "c1", False)
    wait_until(lambda: len(app.store.gates()) >= 3, 60, "gate statuses stored")
    yield statuses
    statuses.close()
    edge.close()


def _state(d) -> str:  # noqa: ANN001
    return d.execute_script("return document.body.dataset.state || ''")


def _gate_states(d) -> list[str]:  # noqa: ANN001
    return d.execute_script(
        "return [...document.querySelectorAll('#gates li[data-state]')].map(e => e.dataset.state)"
    )


def _ready(d) -> bool:  # noqa: ANN001
    return d.execute_script("return document.body.dataset.ready === '1'") and _state(d) == "live"


def test_the_wall_follows_the_broker(app, broker, url: str, compound, driver) -> None:  # noqa: ANN001
    driver.delete_all_cookies()
    sign_in(driver, url, app.tokens["viewer"])
    wait(driver, _ready, 60)
    wait(driver, lambda d: "on" in _gate_states(d), 60)
    assert driver.find_element("id", "live").text == "实时"
    text = driver.find_element("id", "gates").text
    assert "帧/秒" not in text and "积压" not in text, "the public wall shows no fps or backlog"
    assert sorted(_gate_states(driver)) == ["off", "on", "on"]
    shoot(driver, "wall-live", ready=_ready)

    broker.proc.kill()  # the broker dies
    broker.proc.wait()
    t0 = time.monotonic()
    wait(driver, lambda d: _state(d) != "live", 60)
    went = time.monotonic() - t0
    wait(driver, lambda d: set(_gate_states(d)) == {"unknown"}, 60)
    print(f"wall not live {went:.1f} s after the broker died")
    assert went < 15, f"the wall said 实时 for {went:.1f} s after the broker died"
    assert _state(driver) == "gates"
    assert not driver.find_element("id", "live").is_displayed()
    banner = driver.find_element("id", "stale")
    assert banner.is_displayed() and "数据未更新" in banner.text and "最后更新" in banner.text
    assert "未知" in driver.find_element("id", "gates").text
    assert "实时" not in driver.find_element("id", "wallbar").text.replace("实时大屏", "")
    shoot(driver, "wall-gates-lost")
    driver.get(url + "/wall?lang=en")
    wait(driver, lambda d: _state(d) == "gates" and "unknown" in d.find_element("id", "gates").text)
    assert "Gates lost" in driver.find_element("id", "stale").text
    shoot(driver, "wall-gates-lost-en")
    driver.get(url + "/wall?lang=zh-CN")
    wait(driver, lambda d: _state(d) == "gates", 60)

    broker.start()  # back on the same port
    t1 = time.monotonic()
    wait(driver, lambda d: _state(d) == "live", 60)
    back = time.monotonic() - t1
    print(f"wall live again {back:.1f} s after the broker returned")
    assert back < 15, f"the wall took {back:.1f} s to say 实时 again"
    wait(driver, lambda d: "on" in _gate_states(d), 60)
    assert driver.find_element("id", "live").is_displayed()


def test_an_ended_sign_in_asks_in_chinese_and_a_kiosk_renews(app, url: str, compound, driver) -> None:  # noqa: ANN001, E501
    valid_s = 9.0
    token = app.store.add_user("kiosk", UserRole.VIEWER,
                               expires=datetime.now(UTC) + timedelta(seconds=valid_s))  # fmt: skip
    cfg = app.cfg
    app.cfg = cfg.model_copy(update={"http": cfg.http.model_copy(update={"session_hours": SESSION_HOURS})})  # noqa: E501
    try:
        _relogin(app, url, driver, token)
    finally:
        app.cfg = cfg


def _relogin(app, url: str, driver, token: str) -> None:  # noqa: ANN001
    driver.delete_all_cookies()
    t0 = time.monotonic()
    sign_in(driver, url, token)
    wait(driver, _ready, 60)
    relogin = driver.find_element("id", "relogin")
    wait(driver, lambda d: relogin.is_displayed(), 60)
    lasted = time.monotonic() - t0
    print(f"re-login prompt {lasted:.1f} s after sign-in (token valid 9 s, session 3.6 s)")
    assert lasted > SESSION_HOURS * 3600 + 1, f"the session was not renewed ({lasted:.1f} s)"
    assert _state(driver) == "expired"
    assert "大屏登录已过期" in relogin.text and "重新登录" in relogin.text
    assert not driver.find_element("id", "live").is_displayed()
    assert not driver.find_element("id", "error").is_displayed(), "no English error banner"
    body = driver.find_element("tag name", "body").text
    assert "expired" not in body and "revoked" not in body
    shoot(driver, "wall-relogin")
    driver.find_element("id", "relogin-token").send_keys(app.tokens["viewer"])
    driver.find_element("id", "relogin-submit").click()
    wait(driver, lambda d: not relogin.is_displayed() and _ready(d), 60)


def test_the_gates_page_has_rate_backlog_and_since(app, url: str, compound, driver) -> None:  # noqa: ANN001
    viewer = httpx.get(f"{url}/api/gates/health", headers=_bearer(app.tokens["viewer"]))
    assert viewer.status_code == 403
    driver.delete_all_cookies()
    sign_in(driver, url, app.tokens["officer"], path="/gates")

    def rows(d) -> dict[str, str]:  # noqa: ANN001
        return {r.get_attribute("data-gate") + "/" + r.get_attribute("data-camera"):
                r.get_attribute("data-state")
                for r in d.find_elements("css selector", "#rows tr[data-gate]")}  # fmt: skip

    wait(driver, lambda d: rows(d).get("north/c1") == "online", 60)
    assert rows(driver)["south/c1"] == "offline"
    north = driver.find_element("css selector", '#rows tr[data-gate="north"][data-camera="c1"]')
    text = north.text
    assert "在线" in text and "14.8" in text and "gatewatch 0.1.0" in text and "v12" in text
    assert "每 1 秒上报" in text and "0.412" in text
    assert driver.find_element("css selector", '[data-nav="gates"]').is_displayed()
    assert "服务器与门岗连接正常" in driver.find_element("id", "link").text
    shoot(driver, "gates", ready=lambda d: rows(d).get("north/c1") == "online")
    driver.get(url + "/gates?lang=en")
    wait(driver, lambda d: rows(d).get("north/c1") == "online", 60)
    assert "every 1 s" in driver.find_element("id", "rows").text
    shoot(driver, "gates-en", ready=lambda d: rows(d).get("north/c1") == "online")
    driver.get(url + "/gates?lang=zh-CN")


def test_a_gate_is_online_while_its_status_is_not_overdue_and_since_when(app) -> None:  # noqa: ANN001
    from server.wall import gates as g

    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    s = timedelta(seconds=1)

    def report(at: datetime, online: bool = True, camera: str = "ok") -> None:
        st = EdgeStatus(site=app.cfg.site, gate="t-gate", camera="c9", ts=at,
                        state="online" if online else "offline", camera_state=camera,
                        status_interval_s=10)  # fmt: skip
        app.store.record_status(st, 0.0, now=at, grace_s=5)

    def row():  # noqa: ANN202
        return next(x for x in app.store.gates() if x.gate == "t-gate")

    def seen(at: datetime) -> tuple[bool, datetime | None]:
        return g.online(row(), at, 10, 5), g.since(row(), at, 10, 5)

    report(t0)
    report(t0 + 10 * s)
    assert seen(t0 + 12 * s) == (True, t0)
    assert seen(t0 + 25 * s) == (True, t0), "due at 10 s + 5 s grace after the last status"
    assert seen(t0 + 26 * s) == (False, t0 + 25 * s), "overdue: offline since it was due"
    report(t0 + 26 * s)  # back after it went overdue: a new online period
    assert seen(t0 + 27 * s) == (True, t0 + 26 * s)
    report(t0 + 40 * s)  # the next status, 14 s later: not overdue, the same period
    assert seen(t0 + 41 * s) == (True, t0 + 26 * s)
    report(t0 + 50 * s, camera="camera_lost")
    assert seen(t0 + 51 * s) == (False, t0 + 50 * s)
    report(t0 + 60 * s, online=False)  # the last will: still not online, since the camera loss
    assert seen(t0 + 61 * s) == (False, t0 + 50 * s)
    report(t0 + 70 * s)
    assert seen(t0 + 71 * s) == (True, t0 + 70 * s)
    assert g.age_s(row(), t0 + 73 * s) == 3.0
