"""One visitor id across the compound, over a real Mosquitto with the shipped ACL: edge processes
on gate videos of real faces, the real server, the broker's retained visitor templates.

The ACL lets only the site's edges read and write visitor templates; a visitor keeps its id from
the in-gate edge to the out-gate edge and across an edge restart; a template expires with its
message; two ids minted at once are merged (older wins) at the edges and on the server; a photo
search looks back over the live visitors; the server never stores a template.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from contract.mqtt import MqttConfig
from contract.topics import Topics
from contract.visitors import VisitorTemplate
from edge.config import load_edge_config
from edge.link import EdgeLink
from edge.outbox import Outbox
from edge.visitor_share import VisitorShare
from edge.visitors import VisitorGallery
from gatewatch.gatevideo import background, make_video
from models.imageio import read_image
from scripts.standins import AckingStore, server_config
from server.i18n import text
from tests.conftest import FACES, needs_shared
from tests.edge.conftest import start_edge
from tests.test_deployment_configs import (  # noqa: F401  (secured_broker is a fixture)
    CONFIGS,
    Peer,
    SecuredBroker,
    password_of,
    secured_broker,
    wait_until,
)

SITE = "compound-1"
TOPICS = Topics(SITE)
PROBE = "east"  # a gate user of the test's own, to look at the retained templates as an edge does


@dataclass(frozen=True)
class Compound:
    broker: SecuredBroker
    tmp: Path

    @property
    def port(self) -> int:
        return self.broker.port

    def retained_visitors(self) -> dict[str, VisitorTemplate]:
        """The visitor templates the broker holds now, read as an edge would (marker last)."""
        peer = Peer(self.port, PROBE, PROBE)
        try:
            peer.subscribe(TOPICS.all_visitors())
            marker = TOPICS.visitor(PROBE, "v-ffffffffffff")
            peer.publish(marker, b"")  # not retained: it only marks the end of the retained ones
            peer.wait(lambda p: marker in p.topics(), 15, "the marker")
            return {
                m.topic.rsplit("/", 1)[1]: VisitorTemplate.model_validate_json(m.payload)
                for m in peer.messages
                if m.retain and m.payload
            }
        finally:
            peer.close()

    def retained_topics(self) -> dict[str, bytes]:
        """Topic -> payload of every retained visitor template the broker holds now."""
        peer = Peer(self.port, PROBE, PROBE)
        try:
            peer.subscribe(TOPICS.all_visitors())
            marker = TOPICS.visitor(PROBE, "v-ffffffffffff")
            peer.publish(marker, b"")
            peer.wait(lambda p: marker in p.topics(), 15, "the marker")
            return {m.topic: bytes(m.payload) for m in peer.messages if m.retain and m.payload}
        finally:
            peer.close()


@pytest.fixture()
def compound(
    secured_broker: SecuredBroker,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Compound:
    passwd = secured_broker.acl.with_name("passwd")
    tool = "mosquitto_passwd"
    subprocess.run([tool, "-b", str(passwd), PROBE, password_of(PROBE)], check=True)
    secured_broker.reload_acl(secured_broker.acl.read_text())  # SIGHUP rereads the passwords too
    for user in ("server", "north", "south"):
        monkeypatch.setenv(f"GW_PW_{user.upper()}", password_of(user))
    wait_until(lambda: _can_login(secured_broker.port), 15, "the probe user")
    return Compound(secured_broker, tmp_path)


def _can_login(port: int) -> bool:
    peer = Peer(port, PROBE, PROBE)
    try:
        return peer.connected
    finally:
        peer.close()


def mqtt_of(port: int, user: str) -> dict[str, object]:
    return {"host": "127.0.0.1", "port": port, "tls": False, "username": user,
            "password_env": f"GW_PW_{user.upper()}", "client_id": user}  # fmt: skip


def edge_config(c: Compound, gate: str, direction: str, source: dict, **visitors: object) -> Path:
    """configs/gate.yaml for ``gate``: this machine's broker, paths and source."""
    cfg = load_edge_config(CONFIGS / "gate.yaml").model_dump(mode="json")
    d = c.tmp / gate
    d.mkdir(exist_ok=True)
    cfg.update(
        gate=gate, camera=f"{gate}-{direction}", direction=direction, source=source,
        gallery_path=str(d / "gallery.npz"), mqtt=mqtt_of(c.port, gate), status_interval_s=0.5,
        outbox={"path": str(d / "outbox.sqlite"), "drain_timeout_s": 60},
        visitors={**cfg["visitors"], **visitors},
    )  # fmt: skip
    path = d / "gate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def video(c: Compound, photo: str) -> dict:
    out = c.tmp / f"{photo.replace('/', '_')}.mp4"
    if not out.exists():
        make_video(FACES, [photo], out, pass_s=1.6, gap_s=0.6)
    return {"kind": "file", "location": str(out), "pace": "lossless"}


def run_edge(config: Path, timeout_s: float = 300) -> str:
    """An edge process over its whole video; its log."""
    log = config.with_suffix(".log")
    proc = start_edge(config, log)
    try:
        assert proc.wait(timeout=timeout_s) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    return log.read_text()


@pytest.fixture()
def server(compound: Compound) -> Iterator:
    from server.app import ServerApp

    cfg = server_config(compound.tmp, SITE, compound.port, mqtt=mqtt_of(compound.port, "server"))
    app = ServerApp(cfg).start()
    app.officer = app.store.add_user("officer1", "officer")
    wait_until(lambda: app.bus.connected, 15, "the server on the broker")
    yield app
    app.stop()


def visitor_passages(app, gate: str) -> list:  # noqa: ANN001
    since = datetime.now(UTC) - timedelta(hours=1)
    return [e for e in reversed(app.store.events(since, gate)) if e.identity_kind == "visitor"]


# -- the ACL -----------------------------------------------------------------------------------


def test_visitor_templates_are_for_the_sites_edges_only(compound: Compound) -> None:
    north = Peer(compound.port, "north", "north")
    south = Peer(compound.port, "south", "south")
    server = Peer(compound.port, "server", "server")
    try:
        server.subscribe(TOPICS.all_visitors(), TOPICS.all_events())
        south.subscribe(TOPICS.all_visitors())
        t = VisitorTemplate(
            visitor_id="v-0123456789ab", model_id="sface:x", template=[0.25] * 16,
            first_seen=datetime.now(UTC), last_seen=datetime.now(UTC), minted_by="north",
        )  # fmt: skip
        topic = TOPICS.visitor("north", t.visitor_id)
        assert not north.publish(topic, t.to_json(), retain=True).is_failure
        south.wait(lambda p: p.messages, 15, "the template at the other edge")
        assert south.messages[0].payload == t.to_json()
        refused = server.publish(TOPICS.visitor("server", "v-0123456789ac"), t.to_json(),
                                 retain=True)  # fmt: skip
        assert refused.is_failure and refused.getName() == "Not authorized"
        # One publisher's messages arrive in order: once this passage is in, so would be the
        # template, had the server been allowed to read it.
        north.publish(TOPICS.events("north"), b"{}")
        server.wait(lambda p: p.messages, 15, "north's passage at the server")
        assert server.topics() == [TOPICS.events("north")], "the server must not read templates"
        assert not north.publish(TOPICS.visitor_aliases("north"), b"{}").is_failure
        assert north.publish(TOPICS.visitor_aliases("south"), b"{}").is_failure
        assert not north.publish(TOPICS.sightings("north"), b"{}").is_failure
    finally:
        for p in (north, south, server):
            p.close()


# -- one id from gate to gate ------------------------------------------------------------------


def _photo_search(client: TestClient, app, photo: str) -> str:  # noqa: ANN001
    with open(FACES / photo, "rb") as f:
        r = client.post(
            "/api/searches/photo",
            data={"reason": "lost visitor"},
            files={"photo": ("p.jpg", f, "image/jpeg")},
            headers={"Authorization": f"Bearer {app.officer}"},
        )
    assert r.status_code == 201, r.text
    return r.json()["search_id"]


def _faceless_folder(c: Compound) -> dict:
    d = c.tmp / "empty-gate"
    d.mkdir(exist_ok=True)
    cv2.imwrite(str(d / "0.jpg"), background(1280, 720, 3))
    return {"kind": "folder", "location": str(d), "loop": True, "frames_per_image": 1}


def _inside(client: TestClient, app) -> list[dict]:  # noqa: ANN001
    r = client.get(
        "/api/visitors/inside?reason=test", headers={"Authorization": f"Bearer {app.officer}"}
    )
    assert r.status_code == 200, r.text
    return r.json()


@needs_shared
def test_a_visitor_keeps_one_id_from_gate_to_gate_and_across_a_restart(
    compound: Compound, server
) -> None:
    from server.api import create_api

    client = TestClient(create_api(server))
    north = edge_config(compound, "north", "in", video(compound, "bbt_sheldon/1.jpg"))
    run_edge(north)
    first = visitor_passages(server, "north")
    assert len(first) == 1 and first[0].direction == "in", first
    vid = first[0].identity
    shared = compound.retained_visitors()
    assert list(shared) == [vid] and shared[vid].minted_by == "north"
    assert [(v["visitor_id"], v["gate"]) for v in _inside(client, server)] == [(vid, "north")]

    log = run_edge(north)  # the same edge again: it knows the visitor from the broker
    again = visitor_passages(server, "north")
    assert [p.identity for p in again] == [vid, vid], log[-3000:]

    # Look back: a photo search, answered by a live edge from its visitor gallery.
    live = subprocess_edge(edge_config(compound, "south", "out", _faceless_folder(compound)))
    try:
        wait_until(lambda: any(g.gate == "south" and g.state == "online" for g in
                               server.store.gates()), 120, "the south edge online")  # fmt: skip
        sid = _photo_search(client, server, "bbt_sheldon/2.jpg")

        def answer() -> list[dict]:
            r = client.get(
                f"/api/searches/{sid}", headers={"Authorization": f"Bearer {server.officer}"}
            )
            return r.json().get("visitors") or []

        wait_until(answer, 60, "the look-back answer")
    finally:
        live.send_signal(signal.SIGTERM)
        live.wait(timeout=120)
    got = answer()[0]
    entered = again[-1].ts.astimezone(server.tz).strftime("%H:%M")
    assert got["visitor_id"] == vid and got["inside"] and got["gates"] == ["south"]
    # The site's language (zh-CN by default) and local time, from the catalogue.
    assert got["summary"] == text("zh-CN", "lookback.inside", time=entered, gate="north")
    assert got["score"] >= 0.30 and got["confidence"] in ("high", "possible")
    assert [p["direction"] for p in got["passages"]] == ["in", "in"]
    client.post(f"/api/searches/{sid}/close", headers={"Authorization": f"Bearer {server.officer}"})

    log = run_edge(edge_config(compound, "south", "out", video(compound, "bbt_sheldon/2.jpg")))
    out = visitor_passages(server, "south")
    assert [(p.identity, p.direction) for p in out] == [(vid, "out")], log[-3000:]
    assert _inside(client, server) == []
    server.stop()
    _server_never_stored_a_template(compound, shared[vid])


def subprocess_edge(config: Path) -> subprocess.Popen:
    return start_edge(config, config.with_suffix(".log"))


def _server_never_stored_a_template(c: Compound, t: VisitorTemplate) -> None:
    """Neither the template's numbers (as text or float32) nor its topic is in the database."""
    files = [p for p in (c.tmp / "data").glob("gatewatch.db*") if p.is_file()]
    assert files
    raw = b"".join(p.read_bytes() for p in files)
    assert b"v-" in raw, "the visitor's passages are there"
    values = np.asarray(t.template, "<f4")
    assert values[:4].tobytes() not in raw
    assert values[:4].astype("<f8").tobytes() not in raw
    assert json.dumps(t.template[:3])[1:-1].encode() not in raw
    assert not re.search(rb"visitors/v-", raw)


@needs_shared
def test_a_shared_visitor_expires_with_its_message(compound: Compound) -> None:
    store = AckingStore(compound.port, SITE, user="server", password=password_of("server"),
                        client_id="server")  # fmt: skip
    try:
        north = edge_config(compound, "north", "in", video(compound, "bbt_sheldon/1.jpg"),
                            expiry_s=20)  # fmt: skip
        run_edge(north)
        minted = [p.identity for p in store.passages() if p.gate == "north"]
        assert len(minted) == 1 and minted[0] in compound.retained_visitors()
        wait_until(lambda: not compound.retained_visitors(), 60, "the template to expire")
        south = edge_config(compound, "south", "out", video(compound, "bbt_sheldon/2.jpg"),
                            expiry_s=20)  # fmt: skip
        run_edge(south)
        later = [p.identity for p in store.passages() if p.gate == "south"]
        assert len(later) == 1 and later[0] not in minted, "an expired visitor is a new one"
    finally:
        store.close()


# -- two ids at once ---------------------------------------------------------------------------


def _edge_share(c: Compound, engine, gate: str) -> tuple[VisitorShare, EdgeLink]:  # noqa: ANN001
    g = VisitorGallery(engine.dim, engine.threshold, 3600, 100, gate=gate)
    share = VisitorShare(g, TOPICS, gate, engine.model_id, 0.30, gate)
    share.start()
    cfg = MqttConfig.model_validate(mqtt_of(c.port, gate))
    outbox = Outbox(c.tmp / f"{gate}-outbox.sqlite", 100, ["cam"])
    link = EdgeLink(cfg, TOPICS, gate, "cam", outbox, on_gallery=lambda m: None,
                    on_search=lambda s, o: None, extra=share.subscriptions())  # fmt: skip
    share.publish = link.publish
    return share, link


@needs_shared
def test_two_ids_minted_at_once_become_the_older_one_everywhere(
    compound: Compound, server, engine
) -> None:
    emb = {n: engine.analyze(read_image(FACES / f"bbt_sheldon/{n}.jpg"))[0].embedding
           for n in (1, 2)}  # fmt: skip
    a, link_a = _edge_share(compound, engine, "north")
    b, link_b = _edge_share(compound, engine, "south")
    link_a.start()
    try:
        wait_until(lambda: link_a.connected, 15, "north on the broker")
        va, _ = a.gallery.match_or_add(emb[1], now=0.0)
        vb, _ = b.gallery.match_or_add(emb[2], now=0.0)  # south is offline: it cannot know
        assert va != vb
        wait_until(lambda: va in compound.retained_visitors(), 15, "north's template")
        link_b.start()
        wait_until(
            lambda: vb not in b.gallery and va in b.gallery, 30, "south to adopt the older id"
        )
        wait_until(lambda: server.store.visitor_aliases().get(vb) == va, 30, "the alias stored")
        wait_until(lambda: list(compound.retained_visitors()) == [va], 30, "vb withdrawn")
        assert va in a.gallery and vb not in a.gallery and len(a.gallery) == 1
        assert b.gallery.match_or_add(emb[2], now=1.0)[0] == va
    finally:
        link_b.stop()
        link_a.stop()
        a.stop()
        b.stop()
    now = datetime.now(UTC)
    from scripts.standins import passage

    server.store.insert_events([
        passage(SITE, 1, vb, "in", now - timedelta(minutes=5), gate="south"),
        passage(SITE, 2, va, "none", now - timedelta(minutes=1), gate="lobby"),
    ])  # fmt: skip
    assert [v.visitor_id for v in server.visitors_inside()] == [va]
    assert [p.identity for p in server.trajectory(va, now - timedelta(hours=1)).passages] == [
        vb,
        va,
    ]
