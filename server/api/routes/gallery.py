"""Gallery snapshots: the newest manifest and the files (edges, admin), publishing (admin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from server.api.deps import MAX_INT, Admin, AuditEntry, EdgeOrAdmin, Server, StoreDep, audited
from server.api.schemas import GalleryManifest, GalleryRecord
from server.states import AuditAction

router = APIRouter(prefix="/api/gallery", tags=["gallery"])


@router.get("")
def gallery_manifest(store: StoreDep, _u: EdgeOrAdmin) -> GalleryRecord:
    g = store.gallery()
    if g is None:
        raise HTTPException(404, "no gallery published yet")
    return g


@router.get("/{version}")
def gallery_file(
    version: int,
    store: StoreDep,
    _u: EdgeOrAdmin,
    _a: Annotated[AuditEntry, audited(AuditAction.DOWNLOAD_GALLERY, "version")],
) -> FileResponse:
    g = store.gallery(version) if 1 <= version <= MAX_INT else None
    if g is None and 1 <= version < store.next_gallery_version():
        newest = store.gallery()
        raise HTTPException(
            410,
            f"gallery v{version} was deleted: only the newest snapshots are kept"
            + (f"; fetch v{newest.version} (GET /api/gallery)" if newest else ""),
        )
    if g is None or not Path(g.path).is_file():
        raise HTTPException(404, f"no gallery v{version}")
    return FileResponse(g.path, media_type="application/octet-stream")


@router.post("/publish")
def publish_gallery(
    app: Server,
    _u: Admin,
    _a: Annotated[AuditEntry, audited(AuditAction.PUBLISH_GALLERY)],
) -> GalleryManifest:
    return app.publish_gallery()
