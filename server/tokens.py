"""What a token must be to be accepted as the bootstrap admin's."""

from __future__ import annotations

import math
from collections import Counter

from server.errors import ServerError

MIN_LENGTH = 24
MIN_BITS = 100  # Shannon estimate over the token's own characters, times its length


class WeakToken(ServerError):
    """A token too short or too repetitive to guard the admin role."""


def entropy_bits(token: str) -> float:
    """Shannon entropy of the token's characters times its length (an upper-bound estimate)."""
    n = len(token)
    counts = Counter(token).values()
    return -n * sum(c / n * math.log2(c / n) for c in counts) if n else 0.0


def check_token_strength(token: str, env: str) -> None:
    """Raise WeakToken unless ``token`` is long and varied enough."""
    if len(token) < MIN_LENGTH or entropy_bits(token) < MIN_BITS:
        raise WeakToken(
            f"${env} is too weak ({len(token)} characters, ~{entropy_bits(token):.0f} bits): use "
            f"at least {MIN_LENGTH} random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
