"""Pushes to group robots and webhooks (admin): the queue's state, and a test message."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from contract.topics import ID_PATTERN
from server.api.deps import Admin, AuditEntry, Server, audited
from server.notify.sender import RateLimited
from server.states import AuditAction

router = APIRouter(prefix="/api/notify", tags=["notify"])


class TestIn(BaseModel):
    channel: str = Field(pattern=ID_PATTERN, description="A channel of notify.channels.")


class TestOut(BaseModel):
    channel: str
    delivered: bool
    outcome: str = Field(description="delivered, failed, retry or rate_limited")
    status_code: int | None
    errcode: int | None = Field(description="The robot's errcode (WeCom, DingTalk).")
    error: str | None


class ChannelOut(BaseModel):
    name: str
    kind: str
    rules: list[str]
    high_only: bool
    counts: dict[str, int] = Field(description="Messages by state: pending, delivered, failed.")


@router.get("")
def channels(app: Server, _u: Admin) -> list[ChannelOut]:
    """The configured channels and their queues (no secrets)."""
    counts = app.notify.outbox.counts()
    return [
        ChannelOut(name=n, kind=c.cfg.kind, rules=[r.value for r in c.cfg.rules],
                   high_only=c.cfg.high_only, counts=counts.get(n, {}))
        for n, c in app.notify.channels.items()
    ]  # fmt: skip


@router.post("/test", responses={404: {"description": "no such channel"},
                                 429: {"description": "the channel's rate limit"}})  # fmt: skip
def send_test(
    body: TestIn,
    app: Server,
    _u: Admin,
    audit: Annotated[AuditEntry, audited(AuditAction.NOTIFY_TEST)],
) -> TestOut:
    """Send a test message to a channel now (once, recorded); the answer says how it went."""
    if body.channel not in app.notify.channels:
        raise HTTPException(404, f"no notify channel {body.channel}")
    try:
        v = app.notify.send_test(body.channel)
    except RateLimited as e:
        raise HTTPException(429, str(e), headers={"Retry-After": f"{e.wait_s:.0f}"}) from e
    audit.target = body.channel
    audit.detail = {"outcome": v.outcome.value, "status_code": v.status_code}
    return TestOut(channel=body.channel, delivered=v.outcome == "delivered",
                   outcome=v.outcome.value, status_code=v.status_code, errcode=v.errcode,
                   error=v.error)  # fmt: skip
