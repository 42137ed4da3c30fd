"""MQTT connection settings shared by every program, and the one factory of paho clients."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.events import JPEG_B64_MAX

# The largest MQTT packet anyone may send or be sent: configs/mosquitto.conf ``max_packet_size``
# (the broker disconnects a client that sends a larger one, before reading it), and the Maximum
# Packet Size every client of this project asks for in its CONNECT (the broker never delivers it a
# larger one). The largest legitimate message, a sighting candidate with its two evidence pictures
# (2 x 200 kB of base64), stays well below.
MAX_PACKET_BYTES = 1_048_576

# What each kind of message may weigh, checked before it is parsed (the broker's limit above is
# for the largest of them): a bigger one is set aside as a short record, never parsed or kept.
PAYLOAD_LIMITS: dict[str, int] = {
    "events": 64 * 1024,  # a passage: ~1 kB
    "status": 64 * 1024,  # a gate's status: ~2 kB
    "acks": 512 * 1024,  # up to 10,000 event ids
    "gallery": 16 * 1024,  # a manifest: a URL, a digest, counts
    "searches": 128 * 1024,  # an order with a template of up to 4096 values
    "visitors": 96 * 1024,  # a visitor template of up to 4096 values
    "visitor-aliases": 4 * 1024,
    "sightings": MAX_PACKET_BYTES,  # a candidate with two evidence pictures
    "faces/req": 4 * 1024,  # a face request: an event id, a camera, a time
    "faces/res": JPEG_B64_MAX + 2 * 1024,  # a face answer: one crop's base64 and a few fields
}


def payload_limit(topic: str) -> int:
    """The most bytes a message on ``topic`` may carry (by the topic's kind; the broker's limit
    for a topic of no known kind)."""
    parts = topic.split("/")  # gatewatch/<site>/gates/<gate>/<kind> or gatewatch/<site>/<kind>/...
    if len(parts) < 3:
        return MAX_PACKET_BYTES
    kind = parts[2]
    if parts[2] == "gates" and len(parts) == 5:
        kind = parts[4]
    elif parts[2] == "gates" and len(parts) == 6:  # .../gates/<gate>/faces/<req|res>
        kind = f"{parts[4]}/{parts[5]}"
    return PAYLOAD_LIMITS.get(kind, MAX_PACKET_BYTES)


OVERSIZED_PREFIX_BYTES = 256  # of an oversized payload, kept to tell what it was


@dataclass(frozen=True)
class Oversized:
    """A message too large to parse, as it is kept: its topic, size, digest and first bytes."""

    topic: str
    size: int
    limit: int
    sha256: str
    prefix: bytes

    def describe(self) -> str:
        return (
            f"oversized: {self.size} bytes on {self.topic} (limit {self.limit}), "
            f"sha256 {self.sha256}; not parsed, only its first {len(self.prefix)} bytes kept"
        )


def oversized(topic: str, payload: bytes | bytearray) -> Oversized | None:
    """The short record of a payload over its topic's limit (None when it is within)."""
    limit = payload_limit(topic)
    if len(payload) <= limit:
        return None
    digest = hashlib.sha256(payload).hexdigest()
    return Oversized(topic, len(payload), limit, digest, bytes(payload[:OVERSIZED_PREFIX_BYTES]))


class MqttConfig(BaseModel):
    """Where the broker is and how to log in; the password comes from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 for TLS).")
    tls: bool = Field(False, description="Connect with TLS.")
    ca_file: Path | None = Field(None, description="CA bundle for TLS; system CAs if unset.")
    username: str | None = Field(None, description="Broker user name.")
    password_env: str = Field(
        "GATEWATCH_MQTT_PASSWORD", description="Environment variable holding the password."
    )
    client_id: str | None = Field(
        None, description="Fixed client id (a persistent session needs one); default per program."
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive, seconds.")
    session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        description="How long the broker keeps the session (and queued QoS 1 messages) offline.",
    )
    reconnect_min_s: float = Field(1.0, gt=0, description="First wait before reconnecting.")
    reconnect_max_s: float = Field(
        10.0, gt=0, description="Longest wait between reconnect attempts (the wait doubles)."
    )

    @model_validator(mode="after")
    def _backoff_ordered(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be smaller than reconnect_min_s")
        return self

    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None


@dataclass(frozen=True)
class Will:
    """The message the broker publishes for a client that vanishes without disconnecting."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class Subscription:
    """A topic filter a program adds to a client, and its handler (called on paho's thread)."""

    topic_filter: str
    handle: Callable[[mqtt.MQTTMessage], None]


def expiring(expiry_s: float) -> Properties:
    """PUBLISH properties with an MQTT 5 message expiry interval (whole seconds, at least 1)."""
    if expiry_s <= 0:
        raise ValueError(f"a message expiry must be positive, not {expiry_s}")
    props = Properties(PacketTypes.PUBLISH)
    props.MessageExpiryInterval = min(max(1, math.ceil(expiry_s)), 2**32 - 1)
    return props


def remaining_expiry_s(msg: mqtt.MQTTMessage) -> float | None:
    """The seconds a received message has left before it expires (None: it does not expire)."""
    props = msg.properties
    value = getattr(props, "MessageExpiryInterval", None) if props is not None else None
    return None if value is None else float(value)


def make_client(
    cfg: MqttConfig,
    client_id: str,
    *,
    will: Will | None = None,
    manual_ack: bool = False,
    password: str | None = None,
) -> mqtt.Client:
    """A paho MQTT v5 client with the credentials, TLS, will and reconnect backoff of ``cfg``.

    Not connected yet: set the callbacks, then call :func:`start_client`. ``password`` overrides the
    environment variable named by ``cfg.password_env``.
    """
    if not client_id:
        raise ValueError("an MQTT client needs a client id (a persistent session is keyed by it)")
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if cfg.username:
        c.username_pw_set(cfg.username, password if password is not None else cfg.password())
    if cfg.tls:
        c.tls_set(ca_certs=str(cfg.ca_file) if cfg.ca_file else None)
    if will is not None:
        c.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    # paho takes seconds as numbers; fractions work (the tests reconnect within 0.2 s).
    c.reconnect_delay_set(min_delay=cfg.reconnect_min_s, max_delay=cfg.reconnect_max_s)  # type: ignore[arg-type]
    return c


def start_client(client: mqtt.Client, cfg: MqttConfig, *, persistent: bool = True) -> None:
    """Connect in the background and keep reconnecting (paho's network thread).

    ``persistent``: clean start off and the session kept ``cfg.session_expiry_s`` by the broker,
    so QoS 1 messages sent while this client is away wait for it. Otherwise a throw-away session.
    """
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = cfg.session_expiry_s if persistent else 0
    # The broker drops what would be larger for this client, whatever its own limit.
    props.MaximumPacketSize = MAX_PACKET_BYTES
    client.connect_async(
        cfg.host,
        cfg.port,
        keepalive=cfg.keepalive_s,
        clean_start=not persistent,
        properties=props,
    )
    client.loop_start()
