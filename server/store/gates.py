"""The last status each gate camera reported."""

from __future__ import annotations

from sqlalchemy import select

from contract.events import EdgeStatus
from server import tables as t
from server.store.base import Repository, now_utc
from server.store.records import Gate

_UPDATED = ("state", "camera_state", "status", "last_status", "clock_skew_s")


class GateStore(Repository):
    def record_status(self, st: EdgeStatus, clock_skew_s: float | None = None) -> None:
        """Upsert the gate camera's row, with the edge's clock skew when it is known."""
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
        with self.engine.begin() as conn:
            conn.execute(ins)

    def gates(self) -> list[Gate]:
        with self.engine.connect() as conn:
            return Gate.all(
                conn.execute(select(t.gates).order_by(t.gates.c.gate, t.gates.c.camera))
            )
