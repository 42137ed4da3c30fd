"""Alerts pushed to WeCom and DingTalk group robots and a signed webhook, through the outbox.

A real HTTP receiver in a thread checks each documented request format and signature (WeCom
``msgtype`` markdown/text with ``?key=``; DingTalk ``?access_token=&timestamp=<ms>&sign=`` with
base64 HMAC-SHA256 of "<timestamp>\\n<secret>"; the webhook's ``X-Gatewatch-Signature:
sha256=<hex HMAC of "<timestamp>.<body>">``). A real SQLite database; an injectable clock runs
the minutes of backoff without waiting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from contract.events import Alert
from server.db import make_engine, migrate
from server.notify.compose import Composer
from server.notify.config import NotifyConfig, SecretError, SecretRef
from server.notify.sender import REMOVED, Notifier
from server.site.names import SiteNames
from server.states import AlertRule
from server.store import Store
from server.store.records import PersonEntry
from tests.mqtt_helpers import free_port

SH = ZoneInfo("Asia/Shanghai")
WECOM_PATH, DING_PATH, HOOK_PATH = "/cgi-bin/webhook/send", "/robot/send", "/hook"
WECOM_KEY = "wk-" + secrets.token_hex(8)
DING_TOKEN = "dt-" + secrets.token_hex(8)
DING_SECRET = "SEC" + secrets.token_hex(16)
HOOK_SECRET = "hs-" + secrets.token_hex(16)
PUBLIC_URL = "https://gw.compound-1.example"


# -- the receiver -------------------------------------------------------------------------


@dataclass
class Got:
    path: str
    valid: bool
    why: str
    body: dict[str, Any]
    alert_id: int | None
    delivery: str | None = None
    ts_ms: int | None = None


@dataclass
class Receiver:
    port: int
    got: list[Got] = field(default_factory=list)
    script: dict[str, deque[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    always: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _http: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = receiver.handle(self.path, dict(self.headers), raw)
                out = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: the port refuses connections."""
        if self._http:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def of(self, path: str) -> list[Got]:
        return [g for g in self.got if g.path == path]

    def handle(self, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict]:
        url = urllib.parse.urlsplit(target)
        q = urllib.parse.parse_qs(url.query)
        body = json.loads(raw)
        path = url.path
        got = Got(path, True, "", body, None)
        if path == WECOM_PATH:
            got.valid, got.why = _check_wecom(q, body)
            content = body.get(body.get("msgtype"), {}).get("content", "")
            got.alert_id = _alert_no(content)
        elif path == DING_PATH:
            got.valid, got.why = _check_dingtalk(q, body)
            got.ts_ms = int(q["timestamp"][0]) if "timestamp" in q else None
            md = body.get("markdown") or {}
            got.alert_id = _alert_no(md.get("text") or body.get("text", {}).get("content", ""))
        elif path == HOOK_PATH:
            got.valid, got.why = _check_webhook(headers, raw, body)
            got.delivery = body.get("delivery_id")
            got.alert_id = (body.get("alert") or {}).get("id")
        self.got.append(got)
        if self.script.get(path):
            return self.script[path].popleft()
        if path in self.always:
            return self.always[path]
        if not got.valid:  # what the robots answer to a bad key or signature
            return 200, {"errcode": 310000 if path == DING_PATH else 93000, "errmsg": got.why}
        return 200, {"errcode": 0, "errmsg": "ok"}


def _alert_no(content: str) -> int | None:
    m = re.search(r"告警编号：(\d+)", content)
    return int(m.group(1)) if m else None


def _check_wecom(q: dict[str, list[str]], body: dict) -> tuple[bool, str]:
    if q.get("key") != [WECOM_KEY]:
        return False, "invalid webhook url"
    kind = body.get("msgtype")
    if kind not in ("markdown", "text") or set(body) != {"msgtype", kind}:
        return False, f"bad msgtype {kind}"
    content = body[kind].get("content")
    limit = 4096 if kind == "markdown" else 2048
    if not isinstance(content, str) or not content or len(content.encode()) > limit:
        return False, "content missing or too long"
    return True, ""


def _check_dingtalk(q: dict[str, list[str]], body: dict) -> tuple[bool, str]:
    if q.get("access_token") != [DING_TOKEN]:
        return False, "token is not exist"
    ts, sign = q.get("timestamp", [""])[0], q.get("sign", [""])[0]
    mac = hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256)
    if not ts.isdigit() or len(ts) != 13 or sign != base64.b64encode(mac.digest()).decode():
        return False, "sign not match"
    kind = body.get("msgtype")
    if kind == "markdown":
        md = body["markdown"]
        ok = isinstance(md.get("title"), str) and isinstance(md.get("text"), str)
    else:
        ok = kind == "text" and isinstance(body["text"].get("content"), str)
    return (True, "") if ok else (False, "bad message")


def _check_webhook(headers: dict[str, str], raw: bytes, body: dict) -> tuple[bool, str]:
    ts = headers.get("X-Gatewatch-Timestamp", "")
    mac = hmac.new(HOOK_SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256)
    if headers.get("X-Gatewatch-Signature") != "sha256=" + mac.hexdigest():
        return False, "bad signature"
    if headers.get("X-Gatewatch-Delivery") != body.get("delivery_id") or not body["delivery_id"]:
        return False, "delivery id header and body differ"
    return True, ""


@pytest.fixture(scope="module")
def receiver() -> Any:
    r = Receiver(free_port())
    r.start()
    yield r
    r.stop()


@pytest.fixture()
def rx(receiver: Receiver) -> Receiver:
    """The module's receiver, up and emptied."""
    if receiver._http is None:
        receiver.start()
    receiver.got.clear()
    receiver.script.clear()
    receiver.always.clear()
    return receiver


# -- the site -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Site:
    store: Store
    clock: Clock
    secret_file: Path
    port: int
    episodes: int = 0

    def config(self, **over: Any) -> NotifyConfig:
        base = f"http://127.0.0.1:{self.port}"
        per = over.pop("per_channel", {})
        channels = {
            "wecom": {"kind": "wecom", "url": base + WECOM_PATH, "key": {"env": "GWT_WECOM"}},
            "ding": {"kind": "dingtalk", "url": base + DING_PATH, "key": {"env": "GWT_DING"},
                     "secret": {"file": str(self.secret_file)}},  # fmt: skip
            "hook": {"kind": "webhook", "url": base + HOOK_PATH, "secret": {"env": "GWT_HOOK"}},
        }
        for c in channels.values():
            c.update(per)
        return NotifyConfig.model_validate({"channels": channels, **over})

    def notifier(self, cfg: NotifyConfig) -> Notifier:
        def lookup(pid: str) -> tuple[str, str | None] | None:
            p = self.store.get_person(pid)
            return None if p is None else (p.name, p.building)

        composer = Composer(cfg, "compound-1", "zh-CN", SH, PUBLIC_URL, lookup)
        return Notifier(cfg, self.store.engine, composer, "compound-1", clock=self.clock,
                        rng=random.Random(7))  # fmt: skip

    def alert(self, rule: AlertRule = AlertRule.OUT_NOT_BACK, person: str = "p-wang") -> Alert:
        """A stored alert, as the watches publish it."""
        self.episodes += 1
        ts = self.clock() - timedelta(hours=7)
        evidence = {"went_out": ts.isoformat(), "gate": "south", "hours": 7,
                    "ts": ts.isoformat(), "direction": "in"}  # fmt: skip
        alert_id = self.store.add_alert(rule, person, f"e{self.episodes}", evidence)
        assert alert_id is not None
        high = "high" if rule == AlertRule.WATCHLIST_SEEN else "normal"
        return Alert(alert_id=alert_id, rule=rule.value, person_id=person, created=self.clock(),
                     evidence=evidence, priority=high)  # fmt: skip


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rx: Receiver) -> Any:
    monkeypatch.setenv("GWT_WECOM", WECOM_KEY)
    monkeypatch.setenv("GWT_DING", DING_TOKEN)
    monkeypatch.setenv("GWT_HOOK", HOOK_SECRET)
    secret_file = tmp_path / "ding.secret"
    secret_file.write_text(DING_SECRET + "\n")
    engine = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    migrate(engine)
    store = Store(engine)
    store.repeat_window = timedelta(0)  # each alert its own row: these tests are about pushes
    store.upsert_person(PersonEntry(id="p-wang", name="王秀华", role="resident", building="7"))
    yield Site(store, Clock(), secret_file, rx.port)
    engine.dispose()


def run(site: Site, n: Notifier, seconds: float, step: float = 5, until: Any = None) -> float:
    """Pump every ``step`` simulated seconds for ``seconds`` (or until ``until()``); returns the
    simulated time it took."""
    spent = 0.0
    while spent < seconds:
        n.pump()
        if until is not None and until():
            break
        site.clock.advance(step)
        spent += step
    return spent


def assert_each_once_in_order(rx: Receiver, ids: list[int]) -> None:
    for path in (WECOM_PATH, DING_PATH, HOOK_PATH):
        got = rx.of(path)
        assert all(g.valid for g in got), [g.why for g in got if not g.valid]
        assert [g.alert_id for g in got] == ids, path


# -- the tests ----------------------------------------------------------------------------


def test_a_receiver_down_ten_minutes_then_back_gets_every_alert_once_in_order(
    site: Site, rx: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    n = site.notifier(site.config())
    rx.stop()  # down
    alerts = [site.alert() for _ in range(5)]
    ids = [a.alert_id for a in alerts]
    for a in alerts:
        assert n.on_alert_raised(a) == 3
        assert n.on_alert_raised(a) == 0, "queued once per channel"
    run(site, n, 600)
    attempts = n.outbox.attempts()
    per_channel = {c: [a for a in attempts if a.channel == c] for c in n.channels}
    for c, tried in per_channel.items():
        # Only the channel's first message is tried while the receiver is down, backing off.
        assert len({a.outbox_id for a in tried}) == 1, c
        assert 5 <= len(tried) <= 8, (c, len(tried))
        assert all(a.outcome == "retry" and a.status_code is None for a in tried)
        assert "ConnectError" in (tried[-1].error or "")
        gaps = [(b.ts - a.ts).total_seconds() for a, b in zip(tried, tried[1:], strict=False)]
        for i, gap in enumerate(gaps):  # base 10 s doubling, capped at 300 s, equal jitter
            d = min(300, 10 * 2**i)
            assert d / 2 <= gap <= d + 5, (i, gaps)  # +5: the test pumps every 5 s
    assert rx.got == []
    rx.start()  # back
    drained = run(site, n, 3600, until=lambda: len(rx.got) >= 15)
    assert_each_once_in_order(rx, ids)
    assert {i.state for i in n.outbox.items()} == {"delivered"}
    assert len({g.delivery for g in rx.of(HOOK_PATH)}) == 5
    assert drained <= 300 + 5, "back in service within one capped backoff"
    # The message: masked name, building, local time, the link; no person id, no full name.
    md = rx.of(WECOM_PATH)[0].body["markdown"]["content"]
    assert "王*华" in md and "7 号楼" in md and "王秀华" not in md and "p-wang" not in md
    assert f"({PUBLIC_URL}/alerts?id={ids[0]})" in md and "外出未归" in md
    assert "12月7日 周一 13:00" in md  # went out 05:00 UTC = 13:00 Shanghai
    hook = rx.of(HOOK_PATH)[0].body
    assert hook["alert"]["person"] == "王*华" and "person_id" not in hook["alert"]
    assert hook["alert"]["link"] == f"{PUBLIC_URL}/alerts?id={ids[0]}"
    logged = caplog.text + json.dumps([a.model_dump(mode="json") for a in n.outbox.attempts()])
    for secret in (WECOM_KEY, DING_TOKEN, DING_SECRET, HOOK_SECRET):
        assert secret not in logged
    print(f"\nnotify: down 600 s: attempts per channel "
          f"{ {c: len(v) for c, v in per_channel.items()} }, gaps {gaps}; "
          f"all 15 delivered {drained:.0f} s after the receiver came back")  # fmt: skip
    n.stop()


def test_a_receiver_answering_500_does_not_stall_the_other_channels(
    site: Site, rx: Receiver
) -> None:
    n = site.notifier(site.config(per_channel={"format": "text"}))  # the robots' text type
    rx.always[WECOM_PATH] = (500, {"error": "down for maintenance"})
    ids = [site.alert().alert_id for _ in range(3)]
    for i in ids:
        n.on_alert_raised(_alert_of(site, i))
    n.pump()
    assert [g.alert_id for g in rx.of(DING_PATH)] == ids
    assert [g.alert_id for g in rx.of(HOOK_PATH)] == ids
    run(site, n, 120)
    wecom = n.outbox.attempts("wecom")
    assert len(wecom) >= 3 and {(a.status_code, a.outcome) for a in wecom} == {(500, "retry")}
    assert [i.state for i in n.outbox.items("wecom")] == ["pending"] * 3
    del rx.always[WECOM_PATH]
    run(site, n, 600, until=lambda: len(rx.of(WECOM_PATH)) >= len(wecom) + 3)
    assert [g.alert_id for g in rx.of(WECOM_PATH) if g.alert_id][-3:] == ids
    assert {i.state for i in n.outbox.items()} == {"delivered"}
    assert rx.of(WECOM_PATH)[-1].body["msgtype"] == rx.of(DING_PATH)[-1].body["msgtype"] == "text"
    n.stop()


def _alert_of(site: Site, alert_id: int) -> Alert:
    rec = next(r for r in site.store.alerts() if r.id == alert_id)
    high = "high" if rec.rule == AlertRule.WATCHLIST_SEEN else "normal"
    return Alert(alert_id=rec.id, rule=rec.rule.value, person_id=rec.person_id,
                 created=site.clock(), evidence=rec.evidence, priority=high)  # fmt: skip


def test_the_rate_limit_holds_and_a_robots_rate_errcode_waits_its_minute(
    site: Site, rx: Receiver
) -> None:
    n = site.notifier(site.config())
    ids = [site.alert().alert_id for _ in range(30)]
    for i in ids:
        n.on_alert_raised(_alert_of(site, i))
    n.pump()
    assert len(rx.of(DING_PATH)) == 20 and len(rx.of(HOOK_PATH)) == 20
    site.clock.advance(30)
    n.pump()
    assert len(rx.of(DING_PATH)) == 20, "no more than 20 in any minute"
    run(site, n, 120, step=1, until=lambda: len(rx.of(DING_PATH)) == 30)
    assert_each_once_in_order(rx, ids)
    stamps = sorted(g.ts_ms or 0 for g in rx.of(DING_PATH))  # the signed timestamps
    assert max(sum(1 for s in stamps if t <= s < t + 60_000) for t in stamps) <= 20
    # The robot says "too fast" (another sender shares it): that message waits 60 s, then goes.
    rx.got.clear()
    rx.script[DING_PATH] = deque([(200, {"errcode": 130101, "errmsg": "send too fast"})])
    site.clock.advance(120)
    n.on_alert_raised(_alert_of(site, site.alert().alert_id))
    n.pump()
    last = n.outbox.attempts("ding")[-1]
    assert (last.outcome, last.errcode) == ("rate_limited", 130101)
    site.clock.advance(59)
    n.pump()
    assert len(rx.of(DING_PATH)) == 1
    site.clock.advance(2)
    n.pump()
    assert len(rx.of(DING_PATH)) == 2 and rx.of(DING_PATH)[-1].valid
    n.stop()


def test_bad_configuration_errcodes_fail_with_a_reason_and_the_queue_moves_on(
    site: Site, rx: Receiver, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.secret"
    wrong.write_text("SEC" + "0" * 32)
    cfg = site.config()
    bad = cfg.channels["ding"].model_copy(update={"secret": SecretRef(file=wrong)})
    cfg = cfg.model_copy(update={"channels": {"wecom": cfg.channels["wecom"], "ding": bad}})
    n = site.notifier(cfg)
    rx.script[WECOM_PATH] = deque([(200, {"errcode": 93000, "errmsg": "invalid webhook url"})])
    ids = [site.alert().alert_id for _ in range(2)]
    for i in ids:
        n.on_alert_raised(_alert_of(site, i))
    n.pump()
    first, second = n.outbox.items("wecom")
    assert first.state == "failed" and "check the robot key" in (first.last_error or "")
    assert second.state == "delivered", "a refused message does not block the next"
    dings = n.outbox.items("ding")
    assert [d.state for d in dings] == ["failed", "failed"]
    assert "check the secret" in (dings[0].last_error or "")
    assert [a.errcode for a in n.outbox.attempts("ding")] == [310000, 310000]


def test_a_restarted_sender_resumes_without_duplicates(site: Site, rx: Receiver) -> None:
    cfg = site.config(per_channel={"rate_per_min": 3})
    first = site.notifier(cfg)
    ids = [site.alert().alert_id for _ in range(6)]
    for i in ids:
        first.on_alert_raised(_alert_of(site, i))
    first.pump()
    assert [len(rx.of(p)) for p in (WECOM_PATH, DING_PATH, HOOK_PATH)] == [3, 3, 3]
    # The webhook's 4th message is sent, and the sender dies before recording it.
    item = first.outbox.head("hook")
    lease = site.clock() + timedelta(seconds=40)
    assert item is not None and first.outbox.claim(item.id, site.clock(), lease)
    first._send(first.channels["hook"], item, site.clock())
    first.stop()
    second = site.notifier(cfg)  # a new process object on the same database
    site.clock.advance(61)
    run(site, second, 180, until=lambda: len(rx.of(WECOM_PATH)) == 6)
    assert [g.alert_id for g in rx.of(WECOM_PATH)] == ids
    assert [g.alert_id for g in rx.of(DING_PATH)] == ids
    hook = rx.of(HOOK_PATH)
    assert len(hook) == 7, "at least once: the unrecorded send went again..."
    assert hook[3].delivery == hook[4].delivery, "...with the same delivery id"
    dedup = list(dict.fromkeys((g.delivery, g.alert_id) for g in hook))
    assert [a for _, a in dedup] == ids and all(g.valid for g in hook)
    assert {i.state for i in second.outbox.items()} == {"delivered"}
    second.stop()


def test_routing_catch_up_and_retention(site: Site, rx: Receiver) -> None:
    cfg = site.config()
    hook = cfg.channels["hook"].model_copy(update={"rules": [AlertRule.WATCHLIST_SEEN],
                                                   "high_only": True})  # fmt: skip
    ding = cfg.channels["ding"].model_copy(update={"resolved": True, "repeats": True})
    cfg = cfg.model_copy(update={"channels": {"hook": hook, "ding": ding}, "person_id": True})
    n = site.notifier(cfg)
    normal, high = site.alert(), site.alert(AlertRule.WATCHLIST_SEEN)
    assert n.on_alert_raised(normal) == 1  # ding only
    assert n.on_alert_raised(normal, repeat_count=2) == 1  # ding takes repeats
    assert n.on_alert_raised(normal.model_copy(update={"state": "resolved"})) == 1
    # Stored but never queued (a stop in between): the start's catch-up queues it, once.
    missed = site.alert(AlertRule.WATCHLIST_SEEN)
    assert n.catch_up() == 4  # high and missed, each to ding and hook; normal already queued
    assert n.catch_up() == 0
    n.pump()
    assert [g.alert_id for g in rx.of(HOOK_PATH)] == [high.alert_id, missed.alert_id]
    assert rx.of(HOOK_PATH)[0].body["alert"]["person_id"] == "p-wang"
    titles = [g.body["markdown"]["title"] for g in rx.of(DING_PATH)]
    assert titles[:3] == [
        "门禁告警：外出未归", "再次告警（第 2 次）：外出未归", "告警已解除：外出未归"
    ]  # fmt: skip
    assert "【紧急】" in titles[3]
    assert all("告警" in t for t in titles), "a DingTalk robot's keyword 告警 lets them through"
    plain = site.notifier(site.config(names="none"))
    text = plain.composer.alert(normal, "raised").plain()
    assert "王" not in text and f"查看：{PUBLIC_URL}/alerts?id={normal.alert_id}" in text
    assert plain.on_alert_raised(normal) == 2, "wecom and hook take it (ding already has it)"
    plain.stop()
    # Retention: delivered messages and their attempts go after retention_days.
    site.clock.advance(8 * 86_400)
    assert n.purge(site.clock()) == len(rx.got)
    assert len(n.outbox.items()) == 2 and n.outbox.attempts() == []  # the 2 still pending
    n.stop()


def test_messages_name_gates_by_their_display_names(site: Site) -> None:
    names = SiteNames.model_validate({"gates": {"south": {"name": "南门"}}})
    composer = Composer(site.config(), "compound-1", "zh-CN", SH, PUBLIC_URL,
                        lambda _pid: None, names)  # fmt: skip
    text = composer.alert(site.alert(), "raised").plain()
    assert "南门" in text and "south" not in text, text


def test_rows_of_a_channel_removed_from_the_config_are_given_up_and_purged(
    site: Site, rx: Receiver
) -> None:
    cfg = site.config()
    n = site.notifier(cfg)
    n.on_alert_raised(site.alert())
    n.stop()
    only_wecom = cfg.model_copy(update={"channels": {"wecom": cfg.channels["wecom"]}})
    later = site.notifier(only_wecom)
    assert later.retire_removed() == 2
    states = {i.channel: (i.state, i.last_error) for i in later.outbox.items()}
    assert states == {"wecom": ("pending", None), "ding": ("failed", REMOVED),
                      "hook": ("failed", REMOVED)}  # fmt: skip
    site.clock.advance(8 * 86_400)
    assert later.purge(site.clock()) == 2
    assert [i.channel for i in later.outbox.items()] == ["wecom"]
    later.stop()


def test_settings_are_checked_and_a_missing_secret_is_named_not_shown(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="needs an HMAC secret"):
        NotifyConfig.model_validate({"channels": {"x": {"kind": "webhook", "url": "http://h/"}}})
    with pytest.raises(ValidationError, match="needs its robot key"):
        NotifyConfig.model_validate({"channels": {"x": {"kind": "dingtalk", "url": "http://h"}}})
    with pytest.raises(ValidationError, match="the url carries no query"):
        NotifyConfig.model_validate({"channels": {"x": {
            "kind": "wecom", "url": "http://h/send?key=abc", "key": {"env": "X"}}}})  # fmt: skip
    monkeypatch.delenv("GWT_HOOK")
    with pytest.raises(SecretError, match="GWT_HOOK is not set"):
        site.notifier(site.config())


def test_the_outbox_on_both_databases(
    db_url: str, rx: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var, value in ("GWT_WECOM", WECOM_KEY), ("GWT_DING", DING_TOKEN), ("GWT_HOOK", HOOK_SECRET):
        monkeypatch.setenv(var, value)
    (tmp_path / "ding.secret").write_text(DING_SECRET)
    engine = make_engine(db_url)
    migrate(engine)
    store = Store(engine)
    store.repeat_window = timedelta(0)
    site = Site(store, Clock(), tmp_path / "ding.secret", rx.port)
    site.store.upsert_person(PersonEntry(id="p-wang", name="王秀华", role="resident"))
    n = site.notifier(site.config())
    alerts = [site.alert() for _ in range(3)]
    assert [n.on_alert_raised(a) for a in alerts + alerts] == [3, 3, 3, 0, 0, 0]
    head = n.outbox.head("hook")
    assert head is not None and head.alert_id == alerts[0].alert_id
    now = site.clock()
    assert n.outbox.claim(head.id, now, now + timedelta(seconds=30))
    assert not n.outbox.claim(head.id, now, now + timedelta(seconds=30)), "held by the first"
    assert n.pump() == 6  # wecom and ding: 3 each; hook waits for its lease
    site.clock.advance(31)
    assert n.pump() == 3
    assert_each_once_in_order(rx, [a.alert_id for a in alerts])
    site.clock.advance(8 * 86_400)
    assert n.purge(site.clock()) == 9 and n.outbox.items() == [] and n.outbox.attempts() == []
    n.stop()
    engine.dispose()


def test_an_admin_sends_a_test_message_and_it_is_audited(
    site: Site, rx: Receiver, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from server.api import create_api
    from server.app import ServerApp
    from tests.server.conftest import server_config

    cfg = server_config(tmp_path, "s-notify", free_port(), f"sqlite:///{tmp_path / 'api.db'}")
    app = ServerApp(cfg.model_copy(update={"notify": site.config()}))  # no broker needed
    try:
        # Stored while the server was down before queueing it: the start's catch-up sends it;
        # then one raised while running goes through the hook. Real threads, real time.
        missed = app.store.add_alert(AlertRule.OUT_NOT_BACK, "p-x", "e1", {"gate": "south"})
        t0 = time.monotonic()
        app.notify.start()
        new = app.store.add_alert(AlertRule.WATCHLIST_SEEN, "p-y", "e2", {"gate": "east"})
        assert missed and new
        rec = next(r for r in app.store.alerts() if r.id == new)
        app.on_alert_raised(Alert(alert_id=new, rule=rec.rule.value, person_id="p-y",
                                  created=rec.created, evidence=rec.evidence, priority="high"))
        deadline = time.monotonic() + 30
        while len(rx.got) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert_each_once_in_order(rx, [missed, new])
        print(f"\nnotify: two alerts through the running senders in {time.monotonic() - t0:.2f} s")
        tokens = {r: app.store.add_user(f"{r}1", r) for r in ("admin", "officer")}
        hdr = {r: {"Authorization": f"Bearer {t}"} for r, t in tokens.items()}
        with TestClient(create_api(app)) as c:
            r = c.post("/api/notify/test", json={"channel": "ding"}, headers=hdr["admin"])
            assert r.status_code == 200, r.text
            assert r.json() == {"channel": "ding", "delivered": True, "outcome": "delivered",
                                "status_code": 200, "errcode": 0, "error": None}  # fmt: skip
            got = rx.of(DING_PATH)[-1]
            assert got.valid and got.body["markdown"]["title"] == "告警推送测试（gatewatch）"
            rx.script[WECOM_PATH] = deque([(200, {"errcode": 93000, "errmsg": "invalid url"})])
            r = c.post("/api/notify/test", json={"channel": "wecom"}, headers=hdr["admin"])
            assert r.status_code == 200 and r.json()["delivered"] is False
            assert r.json()["errcode"] == 93000 and "check the robot key" in r.json()["error"]
            assert c.post("/api/notify/test", json={"channel": "nope"},
                          headers=hdr["admin"]).status_code == 404  # fmt: skip
            assert c.post("/api/notify/test", json={"channel": "ding"},
                          headers=hdr["officer"]).status_code == 403  # fmt: skip
            listed = c.get("/api/notify", headers=hdr["admin"]).json()
            assert {ch["name"]: ch["counts"] for ch in listed} == {
                "wecom": {"delivered": 2, "failed": 1}, "ding": {"delivered": 3},
                "hook": {"delivered": 2}}
            assert WECOM_KEY not in json.dumps(listed)
        since = datetime.now(UTC) - timedelta(hours=1)
        tests = [a for a in app.store.audit_log(since) if a.action == "notify_test"]
        assert sorted(a.target or "" for a in tests) == ["ding", "wecom"]
    finally:
        app.notify.stop()
        app.engine.dispose()


def test_the_commented_example_in_the_shipped_server_config_is_valid() -> None:
    import yaml

    text = (Path(__file__).resolve().parents[2] / "configs/server.yaml").read_text()
    block = text[text.index("# notify:"):].splitlines()
    uncommented = "\n".join(ln[2:] for ln in block if ln.startswith("# "))
    cfg = NotifyConfig.model_validate(yaml.safe_load(uncommented)["notify"])
    assert {c.kind for c in cfg.channels.values()} == {"wecom", "dingtalk", "webhook"}
