"""The server's MQTT side: ingest of passages and status, acks to edges, orders and alerts out.

Ingest uses a persistent session (fixed client id, clean start off, session expiry) and manual
acknowledgement: a passage is acknowledged to the broker, and its id sent back to the edge on the
acks topic, only after the transaction that stores it has committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from contract.events import Ack, EdgeStatus, Passage
from contract.mqtt import Subscription, make_client, start_client
from contract.topics import Topics
from server.config import ServerConfig
from server.store import Ingested, Store

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    malformed: int = 0
    batches: int = 0
    db_errors: int = 0
    commit_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _Pending:
    mid: int
    passage: Passage


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
        self.stats = IngestStats()
        self.connected = False
        self._buf: list[_Pending] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        cid = client_id or cfg.mqtt.client_id or f"gatewatch-server-{cfg.site}"
        c = make_client(cfg.mqtt, cid, manual_ack=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c
        self._flusher = threading.Thread(target=self._flush_loop, name="ingest-flush", daemon=True)

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

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)

    # -- in --------------------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("broker refused the server: %s", reason_code)
            return
        self.connected = True
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
        self.connected = False
        if not self._stop.is_set():
            log.warning("ingest lost the broker (%s); the session keeps what arrives", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        handler = next(
            (s.handle for s in self.extra if mqtt.topic_matches_sub(s.topic_filter, msg.topic)),
            None,
        )
        if handler is not None:
            self._handle_extra(client, msg, handler)
            return
        if msg.topic.endswith("/status"):
            try:
                if msg.payload:
                    st = EdgeStatus.model_validate_json(msg.payload)
                    self.store.record_status(st)
                    self.on_status(st)
            except ValidationError as e:
                self.stats.malformed += 1
                log.warning("malformed status on %s refused: %s", msg.topic, _first(e))
            finally:
                client.ack(msg.mid, msg.qos)
            return
        self.stats.received += 1
        try:
            p = Passage.model_validate_json(msg.payload)
            if self.topics.gate_of(msg.topic) != p.gate or p.site != self.cfg.site:
                raise ValueError(f"passage of {p.site}/{p.gate} on topic {msg.topic}")
        except (ValidationError, ValueError) as e:
            self.stats.malformed += 1
            log.warning("malformed passage on %s refused: %s", msg.topic, _first(e))
            client.ack(msg.mid, msg.qos)  # it will never parse: do not have it delivered again
            return
        with self._lock:
            self._buf.append(_Pending(msg.mid, p))
            full = len(self._buf) >= self.cfg.ingest.batch_max
        if full:
            self.flush()

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
            log.exception("message on %s could not be handled", msg.topic)
        finally:
            client.ack(msg.mid, msg.qos)

    def _flush_loop(self) -> None:
        wait = self.cfg.ingest.batch_wait_ms / 1000
        while not self._stop.wait(wait or 0.01):
            self.flush()

    def flush(self) -> None:
        """Commit the buffered passages, then acknowledge them to the broker and the edges."""
        with self._flush_lock:
            with self._lock:
                batch, self._buf = self._buf, []
            if not batch:
                return
            t0 = time.perf_counter()
            while True:
                try:
                    ingested = self.store.insert_events([b.passage for b in batch])
                    break
                except Exception:  # the database is away: keep the batch, unacknowledged
                    self.stats.db_errors += 1
                    log.exception("cannot store %d passages; retrying in 1 s", len(batch))
                    if self._stop.wait(1.0):
                        return
            new = ingested.new
            self.stats.commit_ms.append((time.perf_counter() - t0) * 1000)
            del self.stats.commit_ms[:-1000]
            self.stats.batches += 1
            self.stats.inserted += len(new)
            self.stats.duplicates += len(batch) - len(new)
            by_gate: dict[str, list[str]] = defaultdict(list)
            for b in batch:
                self.client.ack(b.mid, 1)
                by_gate[b.passage.gate].append(b.passage.event_id)
            for gate, ids in by_gate.items():
                self.publish(self.topics.acks(gate), Ack(event_ids=ids).to_json())
            if new:
                self.on_new(ingested)


def _first(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        return f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
    return str(e)
