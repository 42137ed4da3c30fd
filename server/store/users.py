"""API users (hashed tokens) and the audit log of what they did."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from pydantic import JsonValue
from sqlalchemy import insert, select

from server import tables as t
from server.states import AuditAction, UserRole
from server.store.base import Repository, now_utc
from server.store.records import AuditRecord, User


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore(Repository):
    def add_user(self, name: str, role: UserRole, token: str | None = None) -> str:
        """A new user; returns their token (only its digest is stored)."""
        token = token or secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.users).values(
                    name=name,
                    role=role,
                    token_sha256=token_digest(token),
                    created=now_utc(),
                    disabled=False,
                )
            )
        return token

    def user_by_token(self, token: str) -> User | None:
        q = select(t.users).where(
            t.users.c.token_sha256 == token_digest(token), t.users.c.disabled.is_(False)
        )
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return User.of(r) if r else None

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

    def audit_log(self, since: datetime, limit: int = 500) -> list[AuditRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.audit)
                .where(t.audit.c.ts >= since)
                .order_by(t.audit.c.id.desc())
                .limit(limit)
            )
            return AuditRecord.all(rows)
