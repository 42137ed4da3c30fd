"""The last status each gate camera reported."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from contract.events import EdgeStatus
from server import tables as t
from server.store.base import Repository, now_utc
from server.store.records import Gate, as_utc

_UPDATED = ("state", "camera_state", "status", "last_status", "clock_skew_s", "state_since")


class GateStore(Repository):
    def record_status(
        self,
        st: EdgeStatus,
        clock_skew_s: float | None = None,
        now: datetime | None = None,
        interval_s: float = 10.0,
        grace_s: float = 5.0,
    ) -> None:
        """Upsert the gate camera's row, with the edge's clock skew when it is known, and since
        when it has been in the state it reports: a change of state (online and camera not lost,
        or not) or a return after the previous status went overdue (its interval, else
        ``interval_s``, plus ``grace_s``: the wall's rule) starts a new one."""
        now = now or now_utc()
        # A status without a known skew (a retained one) may be old: it arrived when it says.
        arrived = now if clock_skew_s is not None or st.ts is None else min(st.ts, now)
        up = st.state == "online" and st.camera_state != "camera_lost"
        g = t.gates.c
        with self.engine.begin() as conn:
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

    def gates(self) -> list[Gate]:
        with self.engine.connect() as conn:
            return Gate.all(
                conn.execute(select(t.gates).order_by(t.gates.c.gate, t.gates.c.camera))
            )
