"""API users (hashed tokens) and the audit log of what they did."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from pydantic import JsonValue
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from server import tables as t
from server.states import AuditAction, UserRole
from server.store.base import Repository, now_utc
from server.store.records import AuditRecord, User, as_utc


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserExists(ValueError):
    """A user of this name exists already."""


class UserStore(Repository):
    def add_user(
        self,
        name: str,
        role: UserRole,
        token: str | None = None,
        expires: datetime | None = None,
    ) -> str:
        """A new user; returns their token (only its digest is stored)."""
        token = token or secrets.token_urlsafe(24)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t.users).values(
                        name=name,
                        role=role,
                        token_sha256=token_digest(token),
                        created=now_utc(),
                        disabled=False,
                        expires=expires,
                    )
                )
        except IntegrityError as e:
            raise UserExists(f"user {name} exists already") from e
        return token

    def user_by_token(self, token: str) -> User | None:
        """The enabled, unexpired user of this token."""
        q = select(t.users).where(
            t.users.c.token_sha256 == token_digest(token), *self._valid_user()
        )
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return User.of(r) if r else None

    @staticmethod
    def _valid_user() -> tuple:
        return (
            t.users.c.disabled.is_(False),
            or_(t.users.c.expires.is_(None), t.users.c.expires > now_utc()),
        )

    def users(self) -> list[User]:
        with self.engine.connect() as conn:
            return User.all(conn.execute(select(t.users).order_by(t.users.c.name)))

    def revoke_user(self, name: str) -> bool:
        """Disable a user's token and end their sessions; False if there is no such user."""
        with self.engine.begin() as conn:
            n = conn.execute(update(t.users).where(t.users.c.name == name).values(disabled=True))
            conn.execute(delete(t.sessions).where(t.sessions.c.user == name))
        return n.rowcount > 0

    def rotate_token(self, name: str, expires: datetime | None) -> str | None:
        """A new token for this user (enabled again), the old one and its sessions end."""
        token = secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            n = conn.execute(
                update(t.users)
                .where(t.users.c.name == name)
                .values(token_sha256=token_digest(token), disabled=False, expires=expires)
            )
            conn.execute(delete(t.sessions).where(t.sessions.c.user == name))
        return token if n.rowcount > 0 else None

    def open_session(self, user: str, lifetime: timedelta) -> str:
        """A browser session for ``user``; returns its id (only its digest is stored)."""
        sid, now = secrets.token_urlsafe(32), now_utc()
        with self.engine.begin() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.expires <= now))
            conn.execute(
                insert(t.sessions).values(
                    id_sha256=token_digest(sid), user=user, created=now, expires=now + lifetime
                )
            )
        return sid

    def user_by_session(self, sid: str) -> User | None:
        """The enabled, unexpired user of this unexpired session."""
        q = (
            select(t.users)
            .join(t.sessions, t.sessions.c.user == t.users.c.name)
            .where(
                t.sessions.c.id_sha256 == token_digest(sid),
                t.sessions.c.expires > now_utc(),
                *self._valid_user(),
            )
        )
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return User.of(r) if r else None

    def renew_session(
        self,
        sid: str,
        lifetime: timedelta,
        max_age: timedelta | None = None,
        now: datetime | None = None,
    ) -> datetime | None:
        """Extend this unexpired session to ``lifetime`` from now, but never past ``max_age``
        after it was opened nor past its user's token; returns its new end (unchanged at its
        cap), None if it has ended."""
        now = now or now_utc()
        s, u = t.sessions.c, t.users.c
        q = (
            select(s.created, s.expires, u.expires.label("token_expires"))
            .join(t.users, u.name == s.user)
            .where(s.id_sha256 == token_digest(sid), s.expires > now)
        )
        with self.engine.begin() as conn:
            row = conn.execute(q).first()
            if row is None:
                return None
            ends = [now + lifetime]
            if max_age is not None:
                ends.append(as_utc(row.created) + max_age)
            if row.token_expires is not None:
                ends.append(as_utc(row.token_expires))
            expires = max(as_utc(row.expires), min(ends))
            conn.execute(
                update(t.sessions).where(s.id_sha256 == token_digest(sid)).values(expires=expires)
            )
        return expires

    def close_session(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.id_sha256 == token_digest(sid)))

    def has_users(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(t.users.c.name).limit(1)).first() is not None

    def audit(
        self,
        user: str,
        action: AuditAction,
        target: str | None,
        reason: str | None,
        detail: dict[str, JsonValue] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.audit).values(
                    ts=now_utc(),
                    user=user,
                    action=AuditAction(action).value,
                    target=target,
                    reason=reason,
                    detail=detail,
                )
            )

    def audit_log(
        self,
        since: datetime,
        limit: int = 500,
        *,
        user: str | None = None,
        action: str | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
    ) -> list[AuditRecord]:
        """Audit rows newest first; ``before_id`` pages back (rows older than that id)."""
        a = t.audit
        q = select(a).where(a.c.ts >= since).order_by(a.c.id.desc()).limit(limit)
        if user:
            q = q.where(a.c.user == user)
        if action:
            q = q.where(a.c.action == action)
        if until:
            q = q.where(a.c.ts < until)
        if before_id:
            q = q.where(a.c.id < before_id)
        with self.engine.connect() as conn:
            return AuditRecord.all(conn.execute(q))
