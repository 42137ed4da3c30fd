"""A passage's face crop (officer): from the gate machine on demand, or the pushed crop of a
watchlist passage; every view is audited, whatever its answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse

from server.api.deps import AuditEntry, Officer, Server, audited
from server.states import AuditAction

router = APIRouter(prefix="/api/passages", tags=["faces"])
JPEG = "image/jpeg"
EventId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="a passage's event id")]
# What the page shows in place of the picture: HTTP status, catalogue key, message.
NO_PICTURE = {
    "not_found": (404, "faces.none", "the gate holds no face crop of this passage"),
    "expired": (410, "faces.expired", "the face crop is past the gate's retention"),
    "offline": (504, "faces.offline", "the gate is offline or did not answer in time"),
    "busy": (503, "faces.busy", "too many face requests are waiting; try again shortly"),
}


@router.get(
    "/{event_id}/face",
    response_class=Response,
    responses={
        200: {"content": {JPEG: {}}, "description": "the face crop (JPEG)"},
        404: {"description": "no such passage, or no crop of it (reason faces.none)"},
        410: {"description": "past the gate's retention (reason faces.expired)"},
        503: {"description": "too many asks waiting for gates (reason faces.busy)"},
        504: {"description": "the gate is offline or did not answer (reason faces.offline)"},
    },
)
def passage_face(
    event_id: EventId,
    app: Server,
    _u: Officer,
    audit: Annotated[AuditEntry, audited(AuditAction.VIEW_PASSAGE_FACE, "event_id")],
) -> Response:
    """The passage's best-frame face crop, asked of its gate (cached in memory for a few
    minutes, never stored), or a JSON ``detail: {reason, message}`` saying why there is none."""
    view = app.faces.face(event_id)  # NotFound (404) for a passage the server does not hold
    w, r = view.where, view.result
    audit.detail = {"gate": w.gate, "camera": w.camera, "identity": w.identity,
                    "answer": r.status, "source": r.source}  # fmt: skip
    if r.status == "ok" and r.jpeg is not None:
        return Response(r.jpeg, media_type=JPEG, headers={"Cache-Control": "no-store"})
    code, reason, message = NO_PICTURE[r.status]
    return JSONResponse({"detail": {"reason": reason, "message": message}}, status_code=code,
                        headers={"Cache-Control": "no-store"})  # fmt: skip
