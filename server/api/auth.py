"""Who is calling: a bearer token or a dashboard session cookie, with a brake on guessing."""

from __future__ import annotations

import threading
import time
from collections import deque
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
    """At most ``limit`` failed authentications per client in ``window_s``; then a ban as long."""

    limit: int
    window_s: float
    _fails: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None if it may now."""
        with self._lock:
            q = self._recent(client, time.monotonic())
            if q is None or len(q) < self.limit:
                return None
            return max(1, int(q[-1] + self.window_s - time.monotonic()) + 1)

    def fail(self, client: str) -> bool:
        """Count a failure; True if it is the one that starts a ban."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(client, now)
            if q is None:
                q = self._fails[client] = deque()
            q.append(now)
            if len(self._fails) > 10_000:  # bound the memory an address sweep can take
                for c in [c for c, d in self._fails.items() if d[-1] < now - self.window_s]:
                    del self._fails[c]
            return len(q) == self.limit

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
        wait = self.limiter.retry_after(client)
        if wait is not None:
            raise Denied(429, f"too many failed logins from {client}; retry in {wait} s", wait)
        if not cred.present:
            raise Denied(401, "missing token: send 'Authorization: Bearer <token>' or log in")
        user = self._user(cred)
        if user is None:
            starts_ban = self.limiter.fail(client)
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
