"""Who is calling: a bearer token or a dashboard session cookie, with a brake on guessing."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from server.states import AuditAction, UserRole
from server.store import Store
from server.store.records import User

SESSION_COOKIE = "gw_session"
ANONYMOUS = "-"


class Caller(BaseModel):
    """The user a request's credential belongs to."""

    name: str
    role: UserRole


@dataclass(frozen=True)
class Credential:
    """What a request presented: a bearer token or a session id (or neither)."""

    token: str | None = None
    session: str | None = None

    @property
    def present(self) -> bool:
        return bool(self.token or self.session)


@dataclass(frozen=True)
class Denied(Exception):
    """An authentication refused: the status, the message and when to come back (429)."""

    status: int
    detail: str
    retry_after_s: int | None = None


@dataclass
class FailureLimiter:
    """At most ``limit`` failed authentications per client in ``window_s``; then a ban as long.

    Checking and counting are one step: a credential is evaluated only in a slot the client's
    remaining allowance covers (failures so far plus evaluations under way below ``limit``), so
    200 wrong tokens sent at once evaluate at most ``limit`` of them. Right credentials free their
    slot; a request past the allowance waits for a slot (or the ban) instead of racing.
    """

    limit: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    wait_s: float = 10.0  # longest wait for a slot before a 429
    _fails: dict[str, deque[float]] = field(default_factory=dict)
    _busy: dict[str, int] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None if it may now."""
        with self._cond:
            return self._banned(client, self.clock())

    def admit(self, client: str) -> int | None:
        """Take an evaluation slot for ``client`` (give it back with ``done``), or the seconds of
        its ban (no slot taken)."""
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            while True:
                now = self.clock()
                wait = self._banned(client, now)
                if wait is not None:
                    return wait
                q = self._fails.get(client)
                if (len(q) if q else 0) + self._busy.get(client, 0) < self.limit:
                    self._busy[client] = self._busy.get(client, 0) + 1
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return 1
                self._cond.wait(min(left, 0.5))

    def done(self, client: str, failed: bool) -> bool:
        """Give back the slot of ``admit``, counting a failure; True if it starts a ban."""
        with self._cond:
            n = self._busy.get(client, 1) - 1
            if n > 0:
                self._busy[client] = n
            else:
                self._busy.pop(client, None)
            starts = self._count(client) if failed else False
            self._cond.notify_all()
        return starts

    def fail(self, client: str) -> bool:
        """Count a failure outside a slot; True if it is the one that starts a ban."""
        with self._cond:
            return self._count(client)

    def _count(self, client: str) -> bool:
        now = self.clock()
        q = self._recent(client, now)
        if q is None:
            q = self._fails[client] = deque()
        q.append(now)
        if len(self._fails) > 10_000:  # bound the memory an address sweep can take
            for c in [c for c, d in self._fails.items() if d[-1] < now - self.window_s]:
                del self._fails[c]
        return len(q) == self.limit

    def _banned(self, client: str, now: float) -> int | None:
        q = self._recent(client, now)
        if q is None or len(q) < self.limit:
            return None
        return max(1, int(q[-1] + self.window_s - now) + 1)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        q = self._fails.get(client)
        while q and q[0] < now - self.window_s:
            q.popleft()
        return q


class Authenticator:
    """Turns a credential into a Caller, or a Denied that is counted and audited."""

    def __init__(self, store: Store, limiter: FailureLimiter) -> None:
        self.store = store
        self.limiter = limiter

    def authenticate(self, cred: Credential, client: str, path: str) -> Caller:
        if not cred.present:
            wait = self.limiter.retry_after(client)
            if wait is not None:
                raise _banned(client, wait)
            raise Denied(401, "missing token: send 'Authorization: Bearer <token>' or log in")
        wait = self.limiter.admit(client)
        if wait is not None:
            raise _banned(client, wait)
        try:
            user = self._user(cred)
        except BaseException:  # the database failed, not the caller: no failure counted
            self.limiter.done(client, failed=False)
            raise
        starts_ban = self.limiter.done(client, failed=user is None)
        if user is None:
            detail: dict = {"client": client, "path": path, "ban_started": starts_ban}
            self.store.audit(ANONYMOUS, AuditAction.AUTH_DENIED, path, None, detail)
            what = "token" if cred.token else "session"
            raise Denied(401, f"unknown or disabled {what} (revoked or expired)")
        return Caller(name=user.name, role=user.role)

    def _user(self, cred: Credential) -> User | None:
        if cred.token:
            return self.store.user_by_token(cred.token)
        assert cred.session is not None
        return self.store.user_by_session(cred.session)


def _banned(client: str, wait: int) -> Denied:
    return Denied(429, f"too many failed logins from {client}; retry in {wait} s", wait)
