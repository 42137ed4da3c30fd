"""The server's MQTT side: ingest of passages and status, acks to edges, orders and alerts out.

Ingest uses a persistent session (fixed client id, clean start off, session expiry) and manual
acknowledgement: a passage is acknowledged to the broker, and its id sent back to the edge on the
acks topic, only after the transaction that stores it has committed. No exception leaves an
MQTT callback: what cannot be parsed, is dated too far ahead, or names another gate than its topic
is counted and set aside (dead letters, see server/ingest/batches.py), then acknowledged. A
message larger than its topic's limit (contract/mqtt.py) is never parsed: only a short record of it
(topic, size, SHA-256, its first bytes) is set aside. Refused passages are counted per gate
(server/ingest/gatecheck.py): a gate whose passages are mostly refused makes health degraded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from contract.events import Ack, EdgeStatus, Passage
from contract.mqtt import Oversized, Subscription, make_client, oversized, start_client
from contract.topics import Topics
from server.config import ServerConfig
from server.ingest.batches import (
    Committer,
    IngestHealth,
    IngestState,
    IngestStats,
    Pending,
    Rejected,
    Stopping,
)
from server.ingest.gatecheck import GateRefusals
from server.store import Ingested, Refused, Store, now_utc
from server.store.gates import CameraRefused
from server.store.records import Gate

log = logging.getLogger(__name__)

__all__ = ["IngestStats", "ServerBus"]


class Refusal(ValueError):
    """A message this server will not store (the reason is the message)."""


class ServerBus:
    def __init__(
        self,
        cfg: ServerConfig,
        store: Store,
        on_new: Callable[[Ingested], None] = lambda ingested: None,
        on_status: Callable[[EdgeStatus], None] = lambda st: None,
        client_id: str | None = None,
        extra: Sequence[Subscription] = (),
    ) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.site)
        self.store = store
        self.on_new, self.on_status = on_new, on_status
        self.extra = list(extra)  # further topics and their handlers (the visitor reports)
        self.state = IngestState(cfg.ingest.stuck_after_s)
        self.refusals = GateRefusals(cfg.gates)
        self._buf: list[Pending] = []
        self._rejected: list[Rejected] = []
        self._in_flight = 0  # taken by flush(), not yet stored and acknowledged
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._committer = Committer(store, self.state, self._stop, cfg.ingest.retry_max_s)
        cid = client_id or cfg.mqtt.client_id or f"gatewatch-server-{cfg.site}"
        c = make_client(cfg.mqtt, cid, manual_ack=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c
        self._flusher = threading.Thread(target=self._flush_loop, name="ingest-flush", daemon=True)

    @property
    def stats(self) -> IngestStats:
        return self.state.stats

    @property
    def connected(self) -> bool:
        return self.state.connected

    def health(self) -> IngestHealth:
        """Connected, last message handled, backlog and failures of the subscriber."""
        with self._lock:
            pending = len(self._buf) + len(self._rejected) + self._in_flight
        window = self.cfg.gates.refusal_window_s
        gates = tuple(g.reason(window) for g in self.refusals.problems())
        return self.state.health(pending, gates)

    def gates(self) -> list[Gate]:
        """The gate cameras heard of within gates.camera_stale_days, with each gate's refused
        passages and problem over the last gates.refusal_window_s."""
        fresh = now_utc() - timedelta(days=self.cfg.gates.camera_stale_days)
        troubles = self.refusals.report()
        out = []
        for g in self.store.gates(fresh_since=fresh):
            tr = troubles.get(g.gate)
            if tr is not None:
                g = g.model_copy(update={"refused_recent": tr.refused_recent,
                                         "problem": tr.problem})  # fmt: skip
            out.append(g)
        return out

    @property
    def events_filter(self) -> str:
        group = self.cfg.ingest.shared_group
        base = self.topics.all_events()
        return f"$share/{group}/{base}" if group else base

    def start(self) -> None:
        start_client(self.client, self.cfg.mqtt)
        self._flusher.start()

    def stop(self) -> None:
        self._stop.set()
        self._flusher.join(timeout=5)
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()

    # -- out -------------------------------------------------------------------------------

    def publish(
        self, topic: str, payload: bytes, retain: bool = False, properties: Properties | None = None
    ) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain, properties=properties)

    # -- in --------------------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("broker refused the server: %s", reason_code)
            return
        self.state.connected = True
        log.info("ingest connected (session present: %s), subscribing %s", flags.session_present,
                 self.events_filter)  # fmt: skip
        client.subscribe(
            [
                (self.events_filter, 1),
                (self.topics.all_status(), 1),
                *((s.topic_filter, 1) for s in self.extra),
            ]
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.state.connected = False
        if not self._stop.is_set():
            log.warning("ingest lost the broker (%s); the session keeps what arrives", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        """Never raises: paho's network thread would die with it and ingest stop for good."""
        try:
            big = oversized(msg.topic, msg.payload)
            if big is not None:
                self._set_aside_oversized(msg, big)
                return
            handler = next(
                (s.handle for s in self.extra if mqtt.topic_matches_sub(s.topic_filter, msg.topic)),
                None,
            )
            if handler is not None:
                self._handle_extra(client, msg, handler)
            elif msg.topic.endswith("/status"):
                self._on_status_message(msg)
            else:
                self._on_passage(msg)
        except Exception:  # left unacknowledged: the broker delivers it again after a reconnect
            self.stats.callback_errors += 1
            log.exception("handling a message on %s failed", msg.topic)
        finally:
            self.state.last_message_at = now_utc()

    def _on_status_message(self, msg: mqtt.MQTTMessage) -> None:
        if not msg.payload:  # a retained status cleared
            self._ack(msg.mid, msg.qos)
            return
        try:
            st = EdgeStatus.model_validate_json(msg.payload)
            if self.topics.gate_of(msg.topic) != st.gate or st.site != self.cfg.site:
                raise Refusal(f"status of {st.site}/{st.gate} on topic {msg.topic}")
        except (ValidationError, Refusal) as e:
            self.stats.malformed += 1
            self._reject(msg, "status", f"malformed status: {_first(e)}")
            return
        try:
            skew = None
            if st.ts is not None and not msg.retain:  # a retained status may be old: no clock
                skew = round((st.ts - now_utc()).total_seconds(), 1)
            w, lim = self.cfg.wall, self.cfg.gates
            stale = now_utc() - timedelta(days=lim.camera_stale_days)
            self.store.record_status(
                st, skew, interval_s=w.gate_interval_s, grace_s=w.gate_grace_s,
                max_cameras=lim.max_cameras, stale_before=stale,
            )  # fmt: skip
        except CameraRefused as e:  # set aside, and acknowledged then
            self.stats.malformed += 1
            self._reject(msg, "status", str(e))
            return
        except Exception:  # the next status replaces this one; ingest of passages goes on
            self.state.status_failed()
            log.exception("cannot store the status of %s/%s", st.gate, st.camera)
            self._ack(msg.mid, msg.qos)
            return
        try:
            self.state.status_stored()
            self.on_status(st)
        finally:
            self._ack(msg.mid, msg.qos)

    def _on_passage(self, msg: mqtt.MQTTMessage) -> None:
        self.stats.received += 1
        gate = self.topics.gate_of(msg.topic)
        try:
            p = Passage.model_validate_json(msg.payload)
            if gate != p.gate or p.site != self.cfg.site:
                raise Refusal(f"passage of {p.site}/{p.gate} on topic {msg.topic}")
        except (ValidationError, Refusal) as e:
            self.stats.malformed += 1
            self.refusals.refused(gate, "malformed")
            self._reject(msg, "passage", f"malformed passage: {_first(e)}")
            return
        skew = timedelta(seconds=self.cfg.ingest.max_future_skew_s)
        if p.ts > now_utc() + skew:
            self.stats.future += 1
            self.refusals.refused(gate, "clock_skew")
            self._reject(msg, "passage", f"dated {p.ts.isoformat()}, more than {skew} ahead")
            return
        with self._lock:
            self._buf.append(Pending(msg.mid, msg.topic, bytes(msg.payload), p))
            full = len(self._buf) >= self.cfg.ingest.batch_max
        if full:
            self.flush()

    def _reject(
        self,
        msg: mqtt.MQTTMessage,
        kind: Literal["passage", "status", "message"],
        why: str,
        payload: bytes | None = None,
    ) -> None:
        """Queue the message for the dead-letter table; it is acknowledged once set aside."""
        log.warning("%s on %s refused: %s", kind, msg.topic, why)
        raw = bytes(msg.payload) if payload is None else payload
        refused = Refused(now_utc(), kind, msg.topic, why, raw)
        with self._lock:
            self._rejected.append(Rejected(msg.mid, refused))

    def _set_aside_oversized(self, msg: mqtt.MQTTMessage, big: Oversized) -> None:
        """Too large to parse: a short record (size, digest, first bytes) is all that is kept."""
        self.stats.oversized += 1
        kind: Literal["passage", "status", "message"]
        if msg.topic.endswith("/events"):
            kind = "passage"
            self.stats.received += 1
            self.refusals.refused(self.topics.gate_of(msg.topic), "oversized")
        else:
            kind = "status" if msg.topic.endswith("/status") else "message"
        self._reject(msg, kind, big.describe(), payload=big.prefix)

    def _ack(self, mid: int, qos: int) -> None:
        if qos:
            self.client.ack(mid, qos)

    def _handle_extra(
        self, client: mqtt.Client, msg: mqtt.MQTTMessage, handle: Callable[[mqtt.MQTTMessage], None]
    ) -> None:
        """A message of an added subscription; acknowledged either way (a bad one never parses)."""
        try:
            handle(msg)
        except (ValidationError, ValueError) as e:
            self.stats.malformed += 1
            log.warning("malformed message on %s refused: %s", msg.topic, _first(e))
        except Exception:  # the store is away or a handler bug: logged, paho's thread lives on
            self.stats.callback_errors += 1
            log.exception("message on %s could not be handled", msg.topic)
        finally:
            client.ack(msg.mid, msg.qos)

    def _flush_loop(self) -> None:
        wait = self.cfg.ingest.batch_wait_ms / 1000
        while not self._stop.wait(wait or 0.01):
            try:
                self.flush()
            except Exception:  # a bug must not end the flusher: the messages stay unacknowledged
                self.stats.callback_errors += 1
                log.exception("flush failed")

    def flush(self) -> None:
        """Commit the buffered passages and dead letters, then acknowledge them."""
        with self._flush_lock:
            with self._lock:
                batch, self._buf = self._buf, []
                rejected, self._rejected = self._rejected, []
                self._in_flight = len(batch) + len(rejected)
            try:
                self._set_aside(rejected)
                self._commit(batch)
            except Stopping:  # unacknowledged: the broker delivers them again after a restart
                log.warning("stopping with %d messages not stored", len(batch) + len(rejected))
            finally:
                with self._lock:
                    self._in_flight = 0

    def _set_aside(self, rejected: list[Rejected]) -> None:
        if not rejected:
            return
        self._committer.set_aside([r.refused for r in rejected])
        for r in rejected:
            self._ack(r.mid, 1)

    def _commit(self, batch: list[Pending]) -> None:
        if not batch:
            return
        t0 = time.perf_counter()
        done = self._committer.commit(batch)
        ingested, new = done.ingested, done.ingested.new
        self.stats.commit_ms.append((time.perf_counter() - t0) * 1000)
        del self.stats.commit_ms[:-1000]
        self.stats.batches += 1
        self.stats.inserted += len(new)
        self.stats.duplicates += len(batch) - len(new) - done.set_aside
        by_gate: dict[str, list[str]] = defaultdict(list)
        for b in batch:  # dead-lettered ones too: the server keeps them, the edge may drop them
            self._ack(b.mid, 1)
            by_gate[b.passage.gate].append(b.passage.event_id)
        for gate, ids in by_gate.items():
            self.publish(self.topics.acks(gate), Ack(event_ids=ids).to_json())
        for b in batch:
            if b.passage.event_id in done.refused_ids:
                self.refusals.refused(b.passage.gate, "database")
            else:
                self.refusals.stored(b.passage.gate)
        if new:
            self.on_new(ingested)


def _first(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        return f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
    return str(e)
