"""The face ring: each passage's best-frame crop, one JPEG per passage on this machine's disk,
kept ``days`` at most and under a size cap, purged by code (oldest first). A crop past
``days`` is never served, even before the next purge (the responder purges every minute).

File names are ``<event_id>.jpg``; a file's modification time is its passage's time. Files are
written to a temporary name and renamed, so a crash leaves no half crop under a real name; what
the folder holds besides (temporary leftovers, a damaged crop) is logged and cleared at start,
and other files are left alone (logged once).
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

NAME = re.compile(r"^([0-9a-f]{32})\.jpg$")
TMP_SUFFIX = ".tmp"
JPEG_START, JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"
Missing = Literal["not_found", "expired"]


def looks_like_jpeg(data: bytes) -> bool:
    """A whole JPEG: its start-of-image marker, and its end-of-image marker last (a file cut
    short by a crash or a bad disk lacks it)."""
    return len(data) > 8 and data.startswith(JPEG_START) and data.rstrip(b"\0").endswith(JPEG_END)


@dataclass(frozen=True)
class Kept:
    ts: float  # the passage's time, seconds since the epoch
    size: int


class FaceRing:
    """Crops by event id; thread-safe (the frame loop writes, the responder reads)."""

    def __init__(
        self,
        folder: Path,
        max_age_s: float,
        max_bytes: int,
        name: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_age_s <= 0 or max_bytes <= 0:
            raise ValueError("a face ring needs a positive age and size cap")
        self.folder = folder
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.name = name
        self.clock = clock
        self.purged = 0
        self.corrupt = 0
        self._index: dict[str, Kept] = {}
        # (passage time, event id) of every crop held, sorted: the oldest first, whatever order
        # the crops were written in (a track that ends late writes an older passage).
        self._order: list[tuple[float, str]] = []
        self._total = 0
        self._size_cut = 0.0  # the newest passage time a crop was purged for size at
        self._lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)
        self._load()

    def __len__(self) -> int:
        return len(self._index)

    @property
    def total_bytes(self) -> int:
        return self._total

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._index

    def _path(self, event_id: str) -> Path:
        if not NAME.match(f"{event_id}.jpg"):
            raise ValueError(f"event id {event_id!r} is not a uuid4 hex")
        return self.folder / f"{event_id}.jpg"

    # -- start -----------------------------------------------------------------------------

    def _load(self) -> None:
        """Index the crops already on disk (oldest first); clear leftovers and damaged crops."""
        found: list[tuple[float, str, int]] = []
        strangers = 0
        for entry in os.scandir(self.folder):
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.name.startswith(".") and entry.name.endswith(TMP_SUFFIX):
                self._remove(Path(entry.path))  # a write a crash cut short
                continue
            m = NAME.match(entry.name)
            if m is None:
                strangers += 1
                continue
            st = entry.stat(follow_symlinks=False)
            if not self._readable(Path(entry.path), st.st_size):
                continue
            found.append((st.st_mtime, m.group(1), st.st_size))
        if strangers:
            log.warning("[%s] face ring %s: %d files that are not crops left alone", self.name,
                        self.folder, strangers)  # fmt: skip
        found.sort()
        for ts, event_id, size in found:
            self._index[event_id] = Kept(ts, size)
            self._order.append((ts, event_id))
            self._total += size
        n = self.purge()
        log.info("[%s] face ring %s: %d crops (%.1f MB) kept, %d past retention purged",
                 self.name, self.folder, len(self._index), self._total / 1e6, n)  # fmt: skip

    def _readable(self, path: Path, size: int) -> bool:
        """False (logged, the file deleted) for a crop that is not a whole JPEG: its first and
        last bytes are read (a start without an end is a write cut short)."""
        try:
            with path.open("rb") as f:
                head = f.read(8)
                f.seek(max(0, size - 64))
                tail = f.read(64)
        except OSError as e:
            log.error("[%s] face crop %s cannot be read (%s): skipped", self.name, path, e)
            self.corrupt += 1
            return False
        if size > 8 and head.startswith(JPEG_START) and tail.rstrip(b"\0").endswith(JPEG_END):
            return True
        self.corrupt += 1
        log.error("[%s] face crop %s is damaged (%d bytes, not a whole JPEG): skipped and "
                  "deleted", self.name, path, size)  # fmt: skip
        self._remove(path)
        return False

    # -- write, read -----------------------------------------------------------------------

    def put(self, event_id: str, jpeg: bytes, ts: float) -> None:
        """Keep ``jpeg`` as the crop of passage ``event_id`` (at ``ts``), then purge."""
        if not looks_like_jpeg(jpeg):
            raise ValueError(f"the crop of {event_id} is not a JPEG")
        path = self._path(event_id)
        tmp = path.with_name(f".{path.stem}{TMP_SUFFIX}")
        tmp.write_bytes(jpeg)
        os.utime(tmp, (ts, ts))
        os.replace(tmp, path)
        with self._lock:
            self._drop(event_id)
            self._total += len(jpeg)
            self._index[event_id] = Kept(ts, len(jpeg))
            bisect.insort(self._order, (ts, event_id))
        self.purge()

    def get(self, event_id: str) -> bytes | None:
        """The crop, or None when the ring does not hold it or it is past ``max_age_s`` (then
        deleted: ``why_missing`` says expired); a damaged one is logged and deleted."""
        path = self._path(event_id)
        with self._lock:
            kept = self._index.get(event_id)
            if kept is None:
                return None
        if kept.ts < self.clock() - self.max_age_s:
            self._forget(event_id)
            self._remove(path)
            self.purged += 1
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            log.warning("[%s] face crop %s vanished from disk", self.name, path)
            self._forget(event_id)
            return None
        if not looks_like_jpeg(data):
            self.corrupt += 1
            log.error("[%s] face crop %s is damaged (%d bytes, not a whole JPEG): skipped and "
                      "deleted", self.name, path, len(data))  # fmt: skip
            self._forget(event_id)
            self._remove(path)
            return None
        return data

    def why_missing(self, passage_ts: float) -> Missing:
        """Why a crop the ring does not hold is missing: ``expired`` when its passage is past
        the retention or older than crops the size cap purged; else ``not_found``."""
        if passage_ts < self.clock() - self.max_age_s or passage_ts <= self._size_cut:
            return "expired"
        return "not_found"

    # -- purge -----------------------------------------------------------------------------

    def purge(self) -> int:
        """Delete crops older than ``max_age_s`` and, oldest first, while over ``max_bytes``."""
        cut = self.clock() - self.max_age_s
        gone: list[str] = []
        with self._lock:
            n = 0
            while n < len(self._order):
                ts, event_id = self._order[n]
                if ts >= cut and self._total <= self.max_bytes:
                    break
                if ts >= cut:
                    self._size_cut = max(self._size_cut, ts)
                self._total -= self._index.pop(event_id).size
                gone.append(event_id)
                n += 1
            del self._order[:n]
        for event_id in gone:
            self._remove(self.folder / f"{event_id}.jpg")
        self.purged += len(gone)
        return len(gone)

    def _forget(self, event_id: str) -> None:
        with self._lock:
            self._drop(event_id)

    def _drop(self, event_id: str) -> None:
        """Out of the index (the lock held)."""
        kept = self._index.pop(event_id, None)
        if kept is None:
            return
        self._total -= kept.size
        i = bisect.bisect_left(self._order, (kept.ts, event_id))
        if i < len(self._order) and self._order[i] == (kept.ts, event_id):
            del self._order[i]

    def _remove(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            log.error("[%s] cannot delete %s: %s", self.name, path, e)
