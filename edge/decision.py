"""What a passage says about a person: the value the tracker holds and the decision step makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from contract.events import IdentityKind, RoleSource
from contract.roles import ROLES, Role


@dataclass(frozen=True, kw_only=True)
class Decision:
    """Who a track is, with the evidence a passage event carries."""

    identity: str | None
    identity_kind: IdentityKind
    role: Role
    role_source: RoleSource
    score: float | None
    margin: float | None
    frames_used: int
    search_id: str | None = None


def as_role(value: str) -> Role:
    """A gallery's role string as the contract's ``Role``; ValueError for anything else."""
    if value not in ROLES:
        raise ValueError(f"role {value!r} is not one of {', '.join(ROLES)}")
    return cast(Role, value)
