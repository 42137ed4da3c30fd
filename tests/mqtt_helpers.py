"""Test helpers for real MQTT: a Mosquitto broker on a free port, and an acknowledging store.

They live in gatewatch/broker.py and scripts/standins.py, which the benchmarks share.
"""

from __future__ import annotations

from gatewatch.broker import Broker, free_port, mosquitto_binary  # noqa: F401  (re-exported)
from scripts.standins import (  # noqa: F401  (re-exported)
    BROKER_ANSWER_S,
    AckingStore,
    connect,
    subscribe,
    wait_until,
)
