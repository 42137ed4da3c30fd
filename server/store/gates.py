"""The last status each gate camera reported."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, func, select

from contract.events import EdgeStatus
from server import tables as t
from server.store.base import Repository, now_utc
from server.store.records import Gate

_UPDATED = ("state", "camera_state", "status", "last_status", "clock_skew_s")


class CameraRefused(ValueError):
    """A status from one camera more than its gate may have (the message says which)."""


class GateStore(Repository):
    def record_status(
        self,
        st: EdgeStatus,
        clock_skew_s: float | None = None,
        *,
        max_cameras: int | None = None,
        stale_before: datetime | None = None,
    ) -> None:
        """Upsert the gate camera's row, with the edge's clock skew when it is known.

        Cameras last heard of before ``stale_before`` are dropped first; a camera the gate does
        not have yet is refused (CameraRefused) when the gate has ``max_cameras`` already."""
        row = {
            "gate": st.gate,
            "camera": st.camera,
            "state": st.state,
            "camera_state": st.camera_state,
            "status": st.model_dump(mode="json"),
            "last_status": st.ts or now_utc(),
            "clock_skew_s": clock_skew_s,
        }
        ins = self._insert(t.gates).values(row)
        ins = ins.on_conflict_do_update(
            index_elements=["gate", "camera"],
            set_={k: ins.excluded[k] for k in _UPDATED},
        )
        c = t.gates.c
        with self.engine.begin() as conn:
            if stale_before is not None:
                conn.execute(delete(t.gates).where(c.last_status < stale_before))
            if max_cameras is not None:
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
            conn.execute(ins)

    def gates(self, fresh_since: datetime | None = None) -> list[Gate]:
        """Every gate camera's row (only those heard of since ``fresh_since``, if given)."""
        q = select(t.gates).order_by(t.gates.c.gate, t.gates.c.camera)
        if fresh_since is not None:
            q = q.where(t.gates.c.last_status >= fresh_since)
        with self.engine.connect() as conn:
            return Gate.all(conn.execute(q))
