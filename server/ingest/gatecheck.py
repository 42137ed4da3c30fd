"""What one gate may do to the server, and what health says about each gate.

A gate's cameras come from its config, announced by its status: a gate may have at most
``gates.max_cameras`` of them (a status from one more is set aside as a dead letter), and a camera
not heard of for ``gates.camera_stale_days`` leaves the board and the wall.

Every passage a gate sends is stored or refused (dated ahead of the server's clock, malformed,
oversized, refused by the database). :class:`GateRefusals` counts both per gate over the last
``gates.refusal_window_s``: a gate whose passages are mostly refused is a problem health reports
(``refusing: clock skew``) and the wall's gate tile shows.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Why a passage was refused: the problem a gate has when most of its passages are.
RefusalKind = Literal["clock_skew", "malformed", "oversized", "database"]
MAX_GATES = 1000  # gates tracked at most (a topic names its gate; the ACL ties it to a login)
PER_GATE = 10_000  # refusals and stores remembered per gate within the window


class GateLimits(BaseModel):
    """``gates:`` in server.yaml: the cameras a gate may announce, and when a gate is a problem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_cameras: int = Field(
        8,
        ge=1,
        le=1000,
        description="Cameras one gate may have (one edge each); a status from one more camera is "
        "set aside as a dead letter.",
    )
    camera_stale_days: float = Field(
        7,
        gt=0,
        description="A camera not heard of (status or passage) for this long leaves the board, "
        "the wall and the gates table.",
    )
    refusal_window_s: float = Field(
        600, ge=10, description="Refused and stored passages are counted over this window."
    )
    refusal_min: int = Field(
        3,
        ge=1,
        description="A gate with at least this many refused passages in the window, and no "
        "more stored than refused, is a problem (health degraded, the wall's gate tile).",
    )


@dataclass(frozen=True)
class GateTrouble:
    """One gate's passages over the window: refused, stored, and its problem (None: fine)."""

    gate: str
    refused_recent: int
    stored_recent: int
    problem: RefusalKind | None

    def reason(self, window_s: float) -> str:
        """The line health gives (English, like every health reason)."""
        what = self.problem.replace("_", " ") if self.problem else "none"
        total = self.refused_recent + self.stored_recent
        return (
            f"gate {self.gate}: refusing: {what} ({self.refused_recent} of {total} passages "
            f"refused in the last {window_s / 60:.0f} min)"
        )


class GateRefusals:
    """Per gate, the passages refused and stored within the window (thread-safe)."""

    def __init__(self, limits: GateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._refused: dict[str, deque[tuple[float, RefusalKind]]] = {}
        self._stored: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def refused(self, gate: str | None, kind: RefusalKind) -> None:
        if gate is None:
            return
        with self._lock:
            q = self._refused.get(gate)
            if q is None:
                if len(self._refused) >= MAX_GATES:
                    return
                q = self._refused[gate] = deque(maxlen=PER_GATE)
            q.append((self.clock(), kind))

    def stored(self, gate: str, n: int = 1) -> None:
        with self._lock:
            q = self._stored.get(gate)
            if q is None:
                if len(self._stored) >= MAX_GATES:
                    return
                q = self._stored[gate] = deque(maxlen=PER_GATE)
            now = self.clock()
            q.extend([now] * min(n, PER_GATE))

    def report(self) -> dict[str, GateTrouble]:
        """Every gate that had a refused passage within the window."""
        since = self.clock() - self.limits.refusal_window_s
        out = {}
        with self._lock:
            for refused in self._refused.values():
                while refused and refused[0][0] < since:
                    refused.popleft()
            for stored in self._stored.values():
                while stored and stored[0] < since:
                    stored.popleft()
            for gate, times in self._refused.items():
                if not times:
                    continue
                n_stored = len(self._stored.get(gate, ()))
                kinds = Counter(kind for _, kind in times)
                bad = len(times) >= self.limits.refusal_min and len(times) >= n_stored
                out[gate] = GateTrouble(
                    gate, len(times), n_stored, kinds.most_common(1)[0][0] if bad else None
                )
        return out

    def problems(self) -> list[GateTrouble]:
        return [g for g in self.report().values() if g.problem is not None]
