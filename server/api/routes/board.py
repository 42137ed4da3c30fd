"""The wall board: today's counts, recent passages, gate status, live stream. Viewers see roles,
not identities."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from server.api.deps import Caller, Server, StoreDep, Viewer
from server.api.schemas import Board, BoardPassage, Gate
from server.api.stream import LiveItem, sse
from server.app import ServerApp
from server.localtime import local_midnight
from server.states import AlertState, AuditAction, UserRole
from server.store import Store, now_utc
from server.store.records import Event

router = APIRouter(prefix="/api", tags=["board"])
BOARD_PASSAGES = 50
SEES_IDENTITIES = (UserRole.ADMIN, UserRole.OFFICER)


def board_passage(e: Event | LiveItem, user: Caller) -> BoardPassage:
    """A passage as this user may see it on the board."""
    item = e.model_dump() if isinstance(e, Event) else e
    shown = {k: item[k] for k in ("ts", "gate", "camera", "direction", "role")}
    if user.role in SEES_IDENTITIES:
        shown["identity"] = item["identity"]
    return BoardPassage.model_validate(shown)


@router.get("/gates")
def gates(app: Server, _u: Viewer) -> list[Gate]:
    """Gate cameras heard of lately, with each gate's refused passages and problem."""
    return app.bus.gates()


@router.get("/board", response_model_exclude_unset=True)
def board(app: Server, store: StoreDep, user: Viewer) -> Board:
    if user.role in SEES_IDENTITIES:
        store.audit(user.name, AuditAction.READ_BOARD, None, None)
    return board_at(app, store, user, now_utc())


def board_at(app: ServerApp, store: Store, user: Caller, now: datetime) -> Board:
    """The board at ``now``: today's counts since the compound's local midnight."""
    midnight = local_midnight(now, app.cfg.tz)
    events = store.events(now - timedelta(hours=24), limit=BOARD_PASSAGES)
    return Board(
        counts_today=store.counts_by_role(midnight),
        passages=[board_passage(e, user) for e in events],
        gates=app.bus.gates(),
        open_alerts=len(store.alerts(AlertState.OPEN)),
    )


@router.get("/board/stream")
def board_stream(request: Request, app: Server, user: Viewer) -> StreamingResponse:
    if user.role in SEES_IDENTITIES:
        app.store.audit(user.name, AuditAction.WATCH_BOARD, None, None)

    def view(item: LiveItem) -> LiveItem | None:
        if item["topic"] == "passage":
            shown = board_passage(item, user).model_dump(mode="json", exclude_unset=True)
            return {"topic": "passage"} | shown
        if item["topic"] == "gate" or (item["topic"] == "alert" and user.role in SEES_IDENTITIES):
            return item
        return None

    return sse(request, app.hub, None, view)
