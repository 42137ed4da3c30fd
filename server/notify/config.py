"""The ``notify`` settings: channels (WeCom, DingTalk, signed webhook), routing, retries."""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract.topics import ID_PATTERN
from server.states import AlertRule

ChannelKind = Literal["wecom", "dingtalk", "webhook"]
# The robots' documented per-robot limit (DingTalk: 20 messages a minute; WeCom the same).
ROBOT_RATE_PER_MIN = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretError(ValueError):
    """A configured secret cannot be read (its env variable unset, its file missing)."""


class SecretRef(_Strict):
    """Where a secret lives: an environment variable or a file (never the YAML itself)."""

    env: str | None = Field(None, description="Environment variable holding the secret.")
    file: Path | None = Field(None, description="File holding the secret (surrounding blanks cut).")

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret is either {env: NAME} or {file: PATH}, exactly one")
        return self

    def read(self, what: str) -> str:
        """The value; SecretError names the missing variable or file (never the value)."""
        if self.env is not None:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise SecretError(f"{what}: environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SecretError(f"{what}: cannot read {self.file}: {e.strerror}") from e
        if not value:
            raise SecretError(f"{what}: {self.file} is empty")
        return value


class ChannelConfig(_Strict):
    """One place alerts are pushed to, and which alerts go there."""

    kind: ChannelKind = Field(
        description="wecom: 企业微信 group robot; dingtalk: 钉钉 group robot (signed when a "
        "secret is given); webhook: a JSON POST signed with HMAC-SHA256."
    )
    url: str = Field(
        description="Endpoint without its secret part, e.g. "
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send or https://oapi.dingtalk.com/robot/send.",
    )
    key: SecretRef | None = Field(
        None,
        description="The robot's key (WeCom ?key=) or access token (DingTalk ?access_token=).",
    )
    secret: SecretRef | None = Field(
        None,
        description="DingTalk 加签 secret (SEC...), or the webhook's HMAC secret (required).",
    )
    format: Literal["markdown", "text"] = Field(
        "markdown", description="Robot message type (webhook: both texts are in the JSON)."
    )
    rules: list[AlertRule] = Field(
        default_factory=list, description="Alert rules pushed here; empty: every rule."
    )
    high_only: bool = Field(False, description="Only high-priority alerts (the watchlist).")
    resolved: bool = Field(False, description="Also push when an alert ends by itself.")
    repeats: bool = Field(False, description="Also push a repeat merged into an open alert.")
    rate_per_min: int = Field(
        ROBOT_RATE_PER_MIN, ge=1, le=600, description="Requests in any 60 s (the robots allow 20)."
    )
    timeout_s: float = Field(10, gt=0, le=120, description="One request's time limit.")

    @field_validator("url")
    @classmethod
    def _plain_url(cls, v: str) -> str:
        u = urllib.parse.urlsplit(v)
        if u.scheme not in ("http", "https") or not u.netloc or any(c.isspace() for c in v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        if u.query or u.fragment:
            raise ValueError(
                "the url carries no query: the robot's key or access_token goes in "
                "key: {env: NAME} (or {file: PATH}), never in the YAML"
            )
        return v

    @model_validator(mode="after")
    def _secrets(self) -> ChannelConfig:
        if self.kind in ("wecom", "dingtalk") and self.key is None:
            raise ValueError(f"a {self.kind} channel needs its robot key: key: {{env: NAME}}")
        if self.kind == "webhook" and self.secret is None:
            raise ValueError("a webhook channel needs an HMAC secret: secret: {env: NAME}")
        if self.kind == "wecom" and self.secret is not None:
            raise ValueError("a wecom robot is not signed: drop secret (the key is the secret)")
        return self

    def wants(self, rule: str, priority: str, event: str) -> bool:
        """Whether an alert of ``rule``/``priority`` (event raised, resolved, repeat) goes here."""
        if self.rules and rule not in self.rules:
            return False
        if self.high_only and priority != "high":
            return False
        if event == "resolved":
            return self.resolved
        if event.startswith("repeat"):
            return self.repeats
        return True


class NotifyConfig(_Strict):
    """Pushing alerts to group robots and webhooks (server/notify/); no channel: nothing sent."""

    channels: dict[str, ChannelConfig] = Field(
        default_factory=dict, description="Channels by name (letters, digits, . - _)."
    )
    names: Literal["masked", "none", "full"] = Field(
        "masked", description="The person in a message: masked (王*华), none, or full name."
    )
    person_id: bool = Field(False, description="Put the person's id in the message.")
    link: bool = Field(True, description="A link to the alert: http.public_url/alerts?id=N.")
    retry_base_s: float = Field(10, gt=0, le=3600, description="First retry after about this.")
    retry_max_s: float = Field(
        300, gt=0, le=86_400, description="Retries back off exponentially up to this (jittered)."
    )
    give_up_h: float = Field(
        24, gt=0, description="A message still undelivered this long after its alert is failed."
    )
    retention_days: float = Field(
        7, gt=0, description="Delivered and failed messages (and their attempts) kept this long."
    )
    catch_up_min: float = Field(
        60, ge=0, description="At start, alerts this recent not yet queued are queued."
    )

    @model_validator(mode="after")
    def _names(self) -> NotifyConfig:
        for name in self.channels:
            if not re.fullmatch(ID_PATTERN, name):
                raise ValueError(f"notify.channels: {name!r} is not a valid channel name")
        if self.retry_max_s < self.retry_base_s:
            raise ValueError("notify.retry_max_s cannot be below retry_base_s")
        return self
