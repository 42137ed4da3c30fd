"""The three formats: a WeCom group robot, a DingTalk group robot (signed), a signed webhook.

Each channel turns a Message into one HTTP request (signed at send time) and judges the answer:
delivered, retry later, rate-limited (retry after the robot's minute) or failed for good (a
configuration the robot refuses; the reason says which). Secrets are read once at start and
never appear in a log line or a recorded error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from server.notify.compose import Message
from server.notify.config import ChannelConfig

# The robots answer HTTP 200 with an errcode in the body.
RATE_ERRCODES = frozenset({45009, 130101, 90030})  # WeCom freq limit; DingTalk too fast / quota
BUSY_ERRCODES = frozenset({-1})  # "system busy": try again
HINTS = {
    93000: "invalid webhook url: check the robot key",
    40058: "message refused as malformed or too long",
    44004: "empty message",
    300001: "access token does not exist: check the robot key",
    310000: "signature, keyword or IP refused: check the secret and the robot's security settings",
    400101: "access token does not exist: check the robot key",
    400102: "the robot is stopped",
}
WECOM_MAX_BYTES = {"markdown": 4096, "text": 2048}  # the WeCom group robot's content limits
RETRY_STATUS = frozenset({408, 425, 429})
SIGNATURE_HEADER = "X-Gatewatch-Signature"
TIMESTAMP_HEADER = "X-Gatewatch-Timestamp"
DELIVERY_HEADER = "X-Gatewatch-Delivery"


_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")


class RedactQuery(logging.Filter):
    """httpx logs each request's URL at INFO: the robots' keys ride in the query, so every
    query string in httpx's log lines is replaced by ``?***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "?" in text:
            record.msg, record.args = _QUERY.sub(r"\1?***", text), None
        return True


for _name in ("httpx", "httpcore"):
    if not any(isinstance(f, RedactQuery) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(RedactQuery())


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # network error, 5xx, a busy robot: back off and try again
    RATE_LIMITED = "rate_limited"  # the robot's limit: wait for its minute, then again
    FAILED = "failed"  # the receiver refuses this for good (bad key, bad signature, 4xx)


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    status_code: int | None = None
    errcode: int | None = None
    error: str | None = None
    retry_after_s: float | None = None


def _cut_utf8(s: str, limit: int) -> str:
    """``s`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    b = s.encode()
    return s if len(b) <= limit else b[: limit - 3].decode(errors="ignore") + "…"


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """DingTalk's 加签: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), URL-encoded."""
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return urllib.parse.quote_plus(base64.b64encode(mac.digest()).decode())


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook's signature header: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Channel:
    """A configured channel with its secrets read (SecretError when one is missing)."""

    def __init__(self, name: str, cfg: ChannelConfig, site: str) -> None:
        self.name, self.cfg, self.site = name, cfg, site
        self._key = cfg.key.read(f"notify.channels.{name}.key") if cfg.key else None
        self._secret = cfg.secret.read(f"notify.channels.{name}.secret") if cfg.secret else None

    def __repr__(self) -> str:  # never the secrets
        return f"Channel({self.name!r}, {self.cfg.kind})"

    def scrub(self, s: str) -> str:
        """``s`` without the channel's secrets (an error text may quote the URL)."""
        for secret in (self._key, self._secret):
            if secret:
                s = s.replace(secret, "***").replace(urllib.parse.quote_plus(secret), "***")
        return s

    # -- the request ----------------------------------------------------------------------

    def request(self, message: Message, delivery_id: str, now: datetime) -> Request:
        kind = self.cfg.kind
        if kind == "wecom":
            return self._wecom(message)
        if kind == "dingtalk":
            return self._dingtalk(message, now)
        return self._webhook(message, delivery_id, now)

    @staticmethod
    def _json(obj: object) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json; charset=utf-8", "User-Agent": "gatewatch"}

    def _wecom(self, m: Message) -> Request:
        fmt = self.cfg.format
        content = _cut_utf8(m.markdown() if fmt == "markdown" else m.plain(), WECOM_MAX_BYTES[fmt])
        url = f"{self.cfg.url}?key={urllib.parse.quote_plus(self._key or '')}"
        body = {"msgtype": fmt, fmt: {"content": content}}
        return Request(url, self._headers(), self._json(body))

    def _dingtalk(self, m: Message, now: datetime) -> Request:
        url = f"{self.cfg.url}?access_token={urllib.parse.quote_plus(self._key or '')}"
        if self._secret:
            ts = str(int(now.timestamp() * 1000))
            url += f"&timestamp={ts}&sign={dingtalk_sign(self._secret, ts)}"
        if self.cfg.format == "markdown":
            body = {"msgtype": "markdown",
                    "markdown": {"title": m.title, "text": m.markdown("\n\n")}}  # fmt: skip
        else:
            body = {"msgtype": "text", "text": {"content": m.plain()}}
        return Request(url, self._headers(), self._json(body))

    def _webhook(self, m: Message, delivery_id: str, now: datetime) -> Request:
        body = self._json(
            {
                "delivery_id": delivery_id,
                "site": self.site,
                "channel": self.name,
                "sent": now.isoformat(),
                "title": m.title,
                "text": m.plain(),
                "markdown": m.markdown(),
                "alert": m.alert,
                "test": m.alert is None,
            }
        )
        ts = str(int(now.timestamp()))
        headers = self._headers() | {
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: webhook_signature(self._secret or "", ts, body),
            DELIVERY_HEADER: delivery_id,
            "Idempotency-Key": delivery_id,
        }
        return Request(self.cfg.url, headers, body)

    # -- the answer -----------------------------------------------------------------------

    def judge(self, status: int, body: bytes, retry_after: str | None = None) -> Verdict:
        """What an HTTP answer means for this channel."""
        after = _seconds(retry_after)
        if status == 429:
            return Verdict(Outcome.RATE_LIMITED, status, None, "HTTP 429", after)
        if status in RETRY_STATUS or status >= 500:
            return Verdict(Outcome.RETRY, status, None, f"HTTP {status}", after)
        if not 200 <= status < 300:
            return Verdict(Outcome.FAILED, status, None, f"HTTP {status}: refused")
        if self.cfg.kind == "webhook":
            return Verdict(Outcome.DELIVERED, status)
        try:
            answer = json.loads(body)
            code = int(answer.get("errcode"))
        except (ValueError, TypeError, AttributeError):
            return Verdict(Outcome.RETRY, status, None, "answer without errcode (not the robot?)")
        if code == 0:
            return Verdict(Outcome.DELIVERED, status, 0)
        msg = self.scrub(str(answer.get("errmsg", "")))[:300]
        if code in RATE_ERRCODES:
            return Verdict(Outcome.RATE_LIMITED, status, code, f"errcode {code}: {msg}")
        if code in BUSY_ERRCODES:
            return Verdict(Outcome.RETRY, status, code, f"errcode {code}: {msg}")
        hint = HINTS.get(code, "refused by the robot")
        return Verdict(Outcome.FAILED, status, code, f"errcode {code} ({hint}): {msg}")


def _seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (its HTTP-date form is ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
