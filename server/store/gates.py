"""The last status each gate camera reported."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select

from contract.events import EdgeStatus
from server import tables as t
from server.store.base import Repository, now_utc
from server.store.records import Gate, as_utc

_UPDATED = ("state", "camera_state", "status", "last_status", "clock_skew_s", "state_since")


class CameraRefused(ValueError):
    """A status from one camera more than its gate may have (the message says which)."""


class GateStore(Repository):
    def record_status(
        self,
        st: EdgeStatus,
        clock_skew_s: float | None = None,
        now: datetime | None = None,
        interval_s: float = 10.0,
        grace_s: float = 5.0,
        *,
        max_cameras: int | None = None,
        stale_before: datetime | None = None,
    ) -> None:
        """Upsert the gate camera's row, with the edge's clock skew when it is known, and since
        when it has been in the state it reports: a change of state (online and camera not lost,
        or not) or a return after the previous status went overdue (its interval, else
        ``interval_s``, plus ``grace_s``: the wall's rule) starts a new one.

        Cameras last heard of before ``stale_before`` are dropped first; a camera the gate does
        not have yet is refused (CameraRefused) when the gate has ``max_cameras`` already."""
        now = now or now_utc()
        # A status without a known skew (a retained one) may be old: it arrived when it says.
        arrived = now if clock_skew_s is not None or st.ts is None else min(st.ts, now)
        up = st.state == "online" and st.camera_state != "camera_lost"
        g = t.gates.c
        with self.engine.begin() as conn:
            self._admit(conn, st, max_cameras, stale_before)
            prev = conn.execute(
                select(g.state, g.camera_state, g.status, g.last_status, g.clock_skew_s,
                       g.state_since)
                .where(g.gate == st.gate, g.camera == st.camera)
            ).first()  # fmt: skip
            since = arrived
            if prev is not None and prev.state_since is not None and prev.last_status is not None:
                was_up = prev.state == "online" and prev.camera_state != "camera_lost"
                every = (prev.status or {}).get("status_interval_s")
                gap = (float(every) if isinstance(every, int | float) else interval_s) + grace_s
                last = as_utc(prev.last_status) - timedelta(seconds=prev.clock_skew_s or 0.0)
                if was_up == up and (arrived - last).total_seconds() <= gap:
                    since = as_utc(prev.state_since)
            row = {
                "gate": st.gate,
                "camera": st.camera,
                "state": st.state,
                "camera_state": st.camera_state,
                "status": st.model_dump(mode="json"),
                "last_status": st.ts or now,
                "clock_skew_s": clock_skew_s,
                "state_since": since,
            }
            ins = self._insert(t.gates).values(row)
            ins = ins.on_conflict_do_update(
                index_elements=["gate", "camera"],
                set_={k: ins.excluded[k] for k in _UPDATED},
            )
            conn.execute(ins)

    @staticmethod
    def _admit(
        conn, st: EdgeStatus, max_cameras: int | None, stale_before: datetime | None  # noqa: ANN001
    ) -> None:
        """Drop the cameras not heard of since ``stale_before``; refuse a new camera of a gate
        that has ``max_cameras`` already."""
        c = t.gates.c
        if stale_before is not None:
            conn.execute(delete(t.gates).where(c.last_status < stale_before))
        if max_cameras is None:
            return
        others = conn.execute(
            select(func.count()).where(and_(c.gate == st.gate, c.camera != st.camera))
        ).scalar_one()
        known = conn.execute(
            select(func.count()).where(and_(c.gate == st.gate, c.camera == st.camera))
        ).scalar_one()
        if not known and others >= max_cameras:
            raise CameraRefused(
                f"gate {st.gate} has {others} cameras already (gates.max_cameras "
                f"{max_cameras}): camera {st.camera} refused"
            )

    def gates(self, fresh_since: datetime | None = None) -> list[Gate]:
        """Every gate camera's row (only those heard of since ``fresh_since``, if given)."""
        q = select(t.gates).order_by(t.gates.c.gate, t.gates.c.camera)
        if fresh_since is not None:
            q = q.where(t.gates.c.last_status >= fresh_since)
        with self.engine.connect() as conn:
            return Gate.all(conn.execute(q))
