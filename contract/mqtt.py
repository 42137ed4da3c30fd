"""MQTT connection settings shared by every program."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


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

    def password(self) -> str | None:
        return os.environ.get(self.password_env) or None
