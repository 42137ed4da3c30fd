"""Gallery snapshots built from the registry and announced to every edge."""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from pathlib import Path

from contract.gallery import GalleryManifest, Population
from models.engine import embedding_space
from models.gallery import Gallery
from server.store import Store

log = logging.getLogger(__name__)
KEEP = 2  # snapshots kept: the current one and the one before it (an edge may be fetching it)


def build_snapshot(
    store: Store,
    model_id: str,
    dim: int,
    out_dir: Path,
    base_url: str,
    today: date,
    population: Population | None = None,
    keep: int = KEEP,
) -> GalleryManifest:
    """Write the next snapshot (valid, not removed persons with templates of this model), with
    the site's population setting in its header: the curve every edge's threshold follows."""
    rows = store.gallery_rows(embedding_space(model_id), today)
    version = store.next_gallery_version()
    g = Gallery(model_id, dim)
    g.population = population
    if rows:
        g.add_many(rows)
    g.version = version
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"gallery-v{version}.npz"
    g.save(path)
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    log.info("gallery v%d: %d persons, %d templates, population %s", version, len(g),
             g.template_count, population)  # fmt: skip
    manifest = GalleryManifest(
        version=version,
        model_id=model_id,
        sha256=sha,
        size=len(raw),
        url=f"{base_url.rstrip('/')}/api/gallery/{version}",
        path=str(path),
        persons=len(g),
        templates=g.template_count,
        population=population,
    )
    store.record_gallery(manifest)
    prune(store, keep)
    return manifest


def prune(store: Store, keep: int = KEEP) -> int:
    """Delete the snapshots older than the newest ``keep``, rows and files; the number of files
    deleted. Removing a person (DELETE /api/persons/{id}) builds a snapshot without them and
    keeps only that one: an edge still fetching the one before gets 410 and takes the newest."""
    paths = store.prune_galleries(keep)
    for p in paths:
        Path(p).unlink(missing_ok=True)
    if paths:
        log.info("gallery: %d older snapshots deleted (the newest %d kept)", len(paths), keep)
    return len(paths)
