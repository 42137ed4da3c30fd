"""The Notifier: alerts into the outbox, and one sender thread per channel delivering it.

Per channel: the oldest undelivered row goes first and nothing passes it (in order); a failing
receiver is retried with exponential backoff and jitter, capped at ``retry_max_s``; at most
``rate_per_min`` requests in any 60 s; a row refused for good (bad key, bad signature) is marked
failed with the reason and the next one goes. Channels never wait for each other. Time and
randomness are injectable (``clock``, ``rng``) so tests run hours of backoff in milliseconds.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine

from contract.events import Alert
from server.notify.channels import Channel, Outcome, Verdict
from server.notify.compose import Composer
from server.notify.config import NotifyConfig
from server.notify.outbox import (
    DELIVERED,
    FAILED,
    PENDING,
    SENDING,
    OutboxItem,
    OutboxStore,
    window_start,
)
from server.store.base import now_utc

log = logging.getLogger(__name__)
RATE_WINDOW_S = 60.0
REMOVED = "channel removed from the config"
IDLE_WAIT_S = 5.0  # a sender with nothing to do looks again this often (rows of other workers)


class UnknownChannel(KeyError):
    pass


class RateLimited(RuntimeError):
    def __init__(self, channel: str, wait_s: float) -> None:
        super().__init__(f"channel {channel}: rate limit reached, try again in {wait_s:.0f} s")
        self.wait_s = wait_s


class Notifier:
    def __init__(
        self,
        cfg: NotifyConfig,
        engine: Engine,
        composer: Composer,
        site: str,
        *,
        clock: Callable[[], datetime] = now_utc,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.cfg = cfg
        self.outbox = OutboxStore(engine)
        self.composer = composer
        self.clock = clock
        self.rng = rng or random.Random()
        # Secrets are read here: a missing one stops the start with a clear SecretError.
        self.channels = {name: Channel(name, c, site) for name, c in cfg.channels.items()}
        self.http = httpx.Client(transport=transport, follow_redirects=False)
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self.channels}
        self._threads: list[threading.Thread] = []
        self.attempts_made = 0  # by this object (the database holds them all)

    # -- into the outbox ------------------------------------------------------------------

    def on_alert_raised(self, alert: Alert, repeat_count: int | None = None) -> int:
        """Queue ``alert`` for every channel that wants it; returns how many rows were new.

        An alert published again as resolved is the event "resolved"; a repeat merged into an
        open alert (``repeat_count``: its count) is pushed only to channels with ``repeats``."""
        if alert.state == "resolved":
            event = "resolved"
        elif repeat_count is not None:
            event = f"repeat-{repeat_count}"
        else:
            event = "raised"
        wanted = [n for n, c in self.channels.items()
                  if c.cfg.wants(alert.rule, alert.priority, event)]  # fmt: skip
        if not wanted:
            return 0
        message = self.composer.alert(alert, event, repeat_count).model_dump(mode="json")
        now = self.clock()
        rows = [
            {"channel": n, "alert_id": alert.alert_id, "event": event,
             "delivery_id": uuid.uuid4().hex, "message": message, "created": now}
            for n in wanted
        ]  # fmt: skip
        new = self.outbox.enqueue(rows)
        for n in wanted:
            self._wake[n].set()
        return new

    def catch_up(self) -> int:
        """Queue the recent open alerts not yet queued (raised while the server stopped between
        storing an alert and queueing it); the unique (channel, alert, event) keeps it once."""
        if not self.channels or self.cfg.catch_up_min <= 0:
            return 0
        since = self.clock() - timedelta(minutes=self.cfg.catch_up_min)
        n = sum(self.on_alert_raised(a) for a in self.outbox.recent_open_alerts(since))
        if n:
            log.info("notify: %d recent alert message(s) queued at start", n)
        return n

    # -- delivery -------------------------------------------------------------------------

    def backoff_s(self, failures: int) -> float:
        """The wait after the ``failures``-th failure: base * 2^(n-1), capped, equal jitter."""
        d = min(self.cfg.retry_max_s, self.cfg.retry_base_s * 2 ** min(failures - 1, 30))
        return d / 2 + self.rng.uniform(0, d / 2)

    def _rate_wait(self, name: str, now: datetime) -> float:
        """Seconds until the channel may send again (0: now)."""
        recent = self.outbox.attempts_since(name, window_start(now))
        limit = self.channels[name].cfg.rate_per_min
        if len(recent) < limit:
            return 0.0
        oldest_that_counts = recent[len(recent) - limit]
        return max(0.01, (oldest_that_counts - window_start(now)).total_seconds())

    def pump_channel(self, name: str) -> float | None:
        """Deliver what is due on channel ``name``, in order, within its rate.

        Returns the seconds until something more may be due, or None when nothing is queued."""
        while not self._stop.is_set():
            now = self.clock()
            item = self.outbox.head(name)
            if item is None:
                return None
            if item.next_at > now:
                return (item.next_at - now).total_seconds()
            if now - item.created > timedelta(hours=self.cfg.give_up_h):
                reason = f"gave up after {item.attempts} attempts ({self.cfg.give_up_h:g} h)"
                self.outbox.give_up(item, now, reason)
                log.warning("notify %s: message %d %s", name, item.id, reason)
                continue
            if wait := self._rate_wait(name, now):
                return wait
            lease = now + timedelta(seconds=self.channels[name].cfg.timeout_s + 30)
            if not self.outbox.claim(item.id, now, lease):
                return 1.0  # another worker is sending it
            self._attempt(self.channels[name], item, now)
        return None

    def pump(self) -> int:
        """One pass over every channel (the tests' driver); returns the attempts made."""
        before = self.attempts_made
        for name in self.channels:
            self.pump_channel(name)
        return self.attempts_made - before

    def _send(self, ch: Channel, item: OutboxItem, now: datetime) -> tuple[Verdict, int]:
        from server.notify.compose import Message

        req = ch.request(Message.model_validate(item.message), item.delivery_id, now)
        t0 = time.monotonic()
        try:
            r = self.http.post(req.url, content=req.body, headers=req.headers,
                               timeout=ch.cfg.timeout_s)  # fmt: skip
            verdict = ch.judge(r.status_code, r.content, r.headers.get("Retry-After"))
        except httpx.HTTPError as e:
            error = ch.scrub(f"{type(e).__name__}: {e}")[:300]
            verdict = Verdict(Outcome.RETRY, None, None, error)
        return verdict, int((time.monotonic() - t0) * 1000)

    def _attempt(self, ch: Channel, item: OutboxItem, now: datetime) -> Verdict:
        verdict, ms = self._send(ch, item, now)
        self.attempts_made += 1
        failures = item.attempts + 1
        if verdict.outcome is Outcome.DELIVERED:
            state, next_at = DELIVERED, now
        elif verdict.outcome is Outcome.FAILED:
            state, next_at = FAILED, now
        elif verdict.outcome is Outcome.RATE_LIMITED:
            state = PENDING
            next_at = now + timedelta(seconds=max(RATE_WINDOW_S, verdict.retry_after_s or 0))
        else:
            state = PENDING
            wait = max(self.backoff_s(failures), verdict.retry_after_s or 0)
            next_at = now + timedelta(seconds=min(wait, self.cfg.retry_max_s))
        attempt = {"channel": ch.name, "ts": now, "status_code": verdict.status_code,
                   "errcode": verdict.errcode, "outcome": verdict.outcome.value,
                   "error": verdict.error, "duration_ms": ms}  # fmt: skip
        self.outbox.record(item, attempt, state, next_at, verdict.error)
        if state == FAILED:
            log.error("notify %s: message %d failed: %s", ch.name, item.id, verdict.error)
        elif state == PENDING:
            log.warning("notify %s: message %d attempt %d: %s; next in %.0f s", ch.name,
                        item.id, failures, verdict.error, (next_at - now).total_seconds())
        return verdict

    def send_test(self, channel: str) -> Verdict:
        """Send a test message to ``channel`` now (once, no retry), recorded like any other."""
        ch = self.channels.get(channel)
        if ch is None:
            raise UnknownChannel(channel)
        now = self.clock()
        if wait := self._rate_wait(channel, now):
            raise RateLimited(channel, wait)
        row = {"channel": channel, "alert_id": None, "event": "test", "state": SENDING,
               "delivery_id": uuid.uuid4().hex, "created": now,
               "message": self.composer.test(channel).model_dump(mode="json")}  # fmt: skip
        self.outbox.enqueue([row])
        item = next(i for i in self.outbox.items(channel) if i.delivery_id == row["delivery_id"])
        verdict, ms = self._send(ch, item, now)
        ok = verdict.outcome is Outcome.DELIVERED
        attempt = {"channel": channel, "ts": now, "status_code": verdict.status_code,
                   "errcode": verdict.errcode, "outcome": verdict.outcome.value,
                   "error": verdict.error, "duration_ms": ms}  # fmt: skip
        self.outbox.record(item, attempt, DELIVERED if ok else FAILED, now, verdict.error)
        return verdict

    def purge(self, now: datetime) -> int:
        """Delivered and failed messages older than ``retention_days``."""
        return self.outbox.purge(now - timedelta(days=self.cfg.retention_days))

    # -- threads --------------------------------------------------------------------------

    def retire_removed(self) -> int:
        """Give up the pending rows of channels no longer in the config (retention then
        purges them); returns how many."""
        n = self.outbox.fail_unknown(list(self.channels), self.clock(), REMOVED)
        if n:
            log.warning("notify: %d pending message(s) of removed channels given up", n)
        return n

    def start(self) -> Notifier:
        self.retire_removed()
        if not self.channels:
            return self
        self.catch_up()
        for name in self.channels:
            th = threading.Thread(target=self._run, args=(name,), name=f"notify-{name}",
                                  daemon=True)  # fmt: skip
            th.start()
            self._threads.append(th)
        return self

    def _run(self, name: str) -> None:
        wake = self._wake[name]
        while not self._stop.is_set():
            wake.clear()
            try:
                wait = self.pump_channel(name)
            except Exception:  # the database away a moment: the next round retries
                log.exception("notify %s: sender round failed", name)
                wait = IDLE_WAIT_S
            wake.wait(IDLE_WAIT_S if wait is None else min(max(wait, 0.01), IDLE_WAIT_S))

    def stop(self) -> None:
        """Stop the senders after their current request (nothing is lost: rows stay queued)."""
        self._stop.set()
        for w in self._wake.values():
            w.set()
        for th in self._threads:
            th.join(timeout=max((c.cfg.timeout_s for c in self.channels.values()), default=0) + 5)
        self._threads.clear()
        self.http.close()
