"""Roles a face can carry; role is separate from identity (see DESIGN.md)."""

from typing import Literal, get_args

Role = Literal["resident", "courier", "visitor", "watchlist", "staff"]
EnrolledRole = Literal["resident", "courier", "watchlist", "staff"]

ROLES: tuple[str, ...] = get_args(Role)
ENROLLED_ROLES: tuple[str, ...] = get_args(EnrolledRole)
