"""The edge's gallery: the last good snapshot at start, then updates fetched, verified, swapped."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import queue
import urllib.request
from pathlib import Path

from contract.gallery import GalleryManifest
from edge.worker import Worker
from models.engine import embedding_space
from models.errors import GalleryError
from models.fileio import write_atomic
from models.gallery import Gallery

log = logging.getLogger(__name__)


def fetch_snapshot(m: GalleryManifest, token: str | None = None, timeout_s: float = 30) -> bytes:
    """The snapshot a manifest points at (file path or http(s) URL), checked against it."""
    if m.path and (Path(m.path).is_file() or not m.url):
        raw = Path(m.path).read_bytes()  # an edge on the server's machine reads the file
    elif m.url:
        if m.url.scheme not in ("http", "https"):
            raise ValueError(f"gallery URL scheme {m.url.scheme!r} is not http(s)")
        req = urllib.request.Request(str(m.url))
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            raw = resp.read(m.size + 1)
    else:
        raise ValueError("manifest has neither path nor url")
    if len(raw) != m.size or hashlib.sha256(raw).hexdigest() != m.sha256:
        raise GalleryError("snapshot size or SHA-256 differs from the manifest")
    return raw


def return_freed_heap() -> None:
    """Hand the heap freed by a dropped gallery back to the system. glibc keeps it otherwise:
    resident memory stayed 45-60 MB higher after each swap of a 33,000-person gallery
    (scripts/bench_memory.py). Elsewhere than glibc this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class GallerySync(Worker):
    """Holds the gallery in use; manifests queue up and a worker thread applies them in turn.

    The frame loop reads ``gallery`` once per frame; a swap is one reference assignment. The
    gallery is kept in float16 (``Gallery(half=True)``): half the memory, same first person on
    the shared sets (README "Memory").
    """

    def __init__(self, path: Path, model_id: str, dim: int, token: str | None, name: str) -> None:
        super().__init__("gallery")
        self.path = path
        self.model_id = model_id
        self.token = token
        self.name = name
        self.refused = 0
        self.gallery = self._load_last_good(dim)
        return_freed_heap()  # the snapshot's bytes
        self._jobs: queue.Queue[GalleryManifest] = queue.Queue()

    def _load_last_good(self, dim: int) -> Gallery:
        if self.path.is_file():
            try:
                g = Gallery.load(self.path, expected_model_id=self.model_id, half=True)
                log.info("[%s] gallery v%d: %d persons", self.name, g.version, len(g))
                return g
            except GalleryError as e:
                log.error("[%s] %s; starting with an empty gallery until a good one arrives",
                          self.name, e)  # fmt: skip
        else:
            log.warning("[%s] no gallery at %s yet: everyone is a visitor until one arrives",
                        self.name, self.path)  # fmt: skip
        return Gallery(self.model_id, dim, half=True)

    def submit(self, manifest: GalleryManifest) -> None:
        """A manifest arrived (paho's thread): apply it in the worker, never in the caller."""
        self._jobs.put(manifest)

    def apply(self, m: GalleryManifest) -> None:
        """Fetch, verify and swap in a gallery; anything wrong raises and the old one stays."""
        if m.version == self.gallery.version and m.model_id == self.gallery.model_id:
            return
        if embedding_space(m.model_id) != embedding_space(self.model_id):
            raise GalleryError(
                f"manifest is for model {m.model_id}, this edge runs {self.model_id}"
            )
        return_freed_heap()  # what the last swap's old gallery left, now surely unused
        # Written beside the last good one and loaded from there: the snapshot's bytes are gone
        # before its gallery is built (18 MB less at the swap's peak with 33,000 persons).
        fresh = self.path.with_name(self.path.name + ".new")
        write_atomic(fresh, fetch_snapshot(m, self.token))
        try:
            g = Gallery.load(fresh, self.model_id, half=True)
        except GalleryError:
            fresh.unlink(missing_ok=True)
            raise
        os.replace(fresh, self.path)
        # The frame loop reads ``gallery`` once per frame: the old one is dropped by the next.
        self.gallery = g
        return_freed_heap()
        log.info("[%s] gallery v%d in use: %d persons", self.name, g.version, len(g))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                manifest = self._jobs.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.apply(manifest)
            except (GalleryError, OSError, ValueError) as e:  # URLError is an OSError
                self.refused += 1
                log.error("[%s] gallery v%d refused, keeping v%d: %s",
                          self.name, manifest.version, self.gallery.version, e)  # fmt: skip
