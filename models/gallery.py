"""The gallery: enrolled persons' templates in a FAISS inner-product index, saved as a snapshot.

The file format is defined in ``contract.gallery``. Up to ``APPROX_ABOVE`` templates the index is
exact (flat); above that an IVF index is built (it supports removal, unlike HNSW), with recall
against flat measured in ``scripts/bench_speed.py``.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import faiss
import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from contract.gallery import (
    SNAPSHOT_MEMBERS,
    GalleryPerson,
    Population,
    SnapshotHeader,
    content_digest,
    persons_json,
)
from models.embedder import MIN_NORM, l2_normalize
from models.engine import embedding_space
from models.errors import GalleryError
from models.fileio import atomic_writer
from models.perperson import GallerySize

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
APPROX_ABOVE = 100_000
# Share of the IVF lists probed per query: 1/8 gave recall 1.0 against flat at 1M face-like
# templates in 3.4 ms (scripts/bench_speed.py; 1/32 gave 0.97).
DEFAULT_PROBE_SHARE = 0.125
# The runner-up score when the gallery holds a single person: unrelated faces score about 0.
NO_RUNNER_UP = 0.0


@dataclass(frozen=True)
class Candidate:
    """A person the gallery offers for one query, with their best template's score."""

    person_id: str
    role: str
    score: float


@dataclass(frozen=True)
class GalleryHit:
    """The top persons for one query embedding, best first."""

    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def margin(self) -> float:
        """Best score minus the runner-up person's score (0.0 stands in for a missing one)."""
        if not self.candidates:
            return 0.0
        second = self.candidates[1].score if len(self.candidates) > 1 else NO_RUNNER_UP
        return self.candidates[0].score - second


class Gallery:
    """Persons (opaque id + role) and their templates, searchable by cosine similarity."""

    def __init__(
        self,
        model_id: str,
        dim: int,
        version: int = 0,
        approx_above: int = APPROX_ABOVE,
        nprobe: int | None = None,
        threads: int = 1,
        half: bool = False,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        # One query at a time gains nothing from OpenMP, and its threads fight onnxruntime's for
        # the gate machine's two cores (measured in scripts/bench_speed.py). faiss's setting is
        # process-wide.
        faiss.omp_set_num_threads(threads)
        self.model_id = model_id
        self.dim = dim
        self.version = version
        self.approx_above = approx_above
        self.nprobe = nprobe
        # The site's population setting (whose curve sets the threshold), carried in the snapshot
        # header to the edges; None: each edge's own setting.
        self.population: Population | None = None
        self._person_ids: list[str] = []
        self._roles: list[str] = []
        self._person_index: dict[str, int] = {}
        self._templates: dict[int, list[int]] = {}  # person index -> template rows
        # half: templates kept as float16, and the flat index too (faiss's fp16 scalar quantizer,
        # queries stay float32): half the memory, for the edge, which never saves a snapshot.
        # On the shared sets' 2,390 real faces against 1,057 persons no first person changed and
        # no score moved by more than 1.3e-4 (scripts/check_fp16_gallery.py).
        self.half = half
        self._vectors = np.zeros((0, dim), np.float16 if half else np.float32)
        self._owner = np.zeros((0,), np.int64)
        self._alive = np.zeros((0,), bool)
        self._index: faiss.Index = self._new_flat()
        self._max_templates = 1
        self._size: tuple[tuple[int, int, int], GallerySize] | None = None  # size(), cached

    # -- building ---------------------------------------------------------------------------

    def _new_flat(self) -> faiss.Index:
        if self.half:
            qt = faiss.ScalarQuantizer.QT_fp16
            sq = faiss.IndexScalarQuantizer(self.dim, qt, faiss.METRIC_INNER_PRODUCT)
            return faiss.IndexIDMap2(sq)
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @property
    def is_approximate(self) -> bool:
        return not isinstance(faiss.downcast_index(self._index), faiss.IndexIDMap2)

    def __len__(self) -> int:
        return len(self._person_index)

    @property
    def template_count(self) -> int:
        return int(self._index.ntotal)

    def size(self) -> GallerySize:
        """Persons and their template counts: what the open-set threshold depends on. Kept
        until the gallery changes (every change bumps the version): counting 33,000 persons
        took 20 ms, asked for at each gate capture."""
        key = (self.version, self.template_count, len(self._person_index))
        if self._size is None or self._size[0] != key:
            counts = (len(rows) for rows in self._templates.values() if rows)
            self._size = (key, GallerySize.of_counts(counts))
        return self._size[1]

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._person_index

    def role_of(self, person_id: str) -> str:
        return self._roles[self._person_index[person_id]]

    def templates_of(self, person_id: str) -> F32:
        """The unit templates of an enrolled person ([n, dim]); KeyError if not enrolled."""
        rows = self._templates[self._person_index[person_id]]
        return self._vectors[np.asarray(rows, dtype=np.int64)].astype(np.float32)

    def persons(self) -> list[GalleryPerson]:
        """Every person in the gallery, in enrollment order."""
        return [
            GalleryPerson.model_validate({"id": self._person_ids[i], "role": self._roles[i]})
            for i in sorted(self._templates)
        ]

    def _check_embeddings(self, embeddings: npt.ArrayLike) -> F32:
        e = np.asarray(embeddings, dtype=np.float32)
        if e.ndim == 1:
            e = e[None]
        if e.ndim != 2 or e.shape[1] != self.dim:
            raise ValueError(f"embeddings must be [n, {self.dim}], got shape {e.shape}")
        if not np.isfinite(e).all():
            raise ValueError("embeddings contain NaN or infinity")
        return l2_normalize(e)

    def add_person(self, person_id: str, role: str, embeddings: npt.ArrayLike) -> None:
        """Add a person, or replace all templates of one already enrolled; bumps the version."""
        self.add_many([(person_id, role, embeddings)])

    def add_many(self, persons: Sequence[tuple[str, str, npt.ArrayLike]]) -> None:
        """Add or replace several persons at once: one version step, one index update."""
        batch: dict[str, tuple[str, F32]] = {}
        for pid, role, emb in persons:
            GalleryPerson.model_validate({"id": pid, "role": role})  # checks id and role
            e = self._check_embeddings(emb)
            if len(e) == 0:
                raise ValueError(f"person {pid!r}: at least one template is needed")
            batch[pid] = (role, e)
        if not batch:
            return
        start = first = len(self._vectors)
        new_vecs: list[F32] = []
        new_owner: list[npt.NDArray[np.int64]] = []
        for pid, (role, e) in batch.items():
            if pid in self._person_index:
                self._remove(pid)
                p = self._person_index[pid]
                self._roles[p] = role
            else:
                p = len(self._person_ids)
                self._person_ids.append(pid)
                self._roles.append(role)
                self._person_index[pid] = p
            self._templates[p] = list(range(first, first + len(e)))
            first += len(e)
            self._max_templates = max(self._max_templates, len(e))
            new_vecs.append(e)
            new_owner.append(np.full(len(e), p, np.int64))
        vecs = np.concatenate(new_vecs)
        rows = np.arange(start, start + len(vecs), dtype=np.int64)
        self._vectors = np.concatenate([self._vectors, vecs.astype(self._vectors.dtype)])
        self._owner = np.concatenate([self._owner, *new_owner])
        self._alive = np.concatenate([self._alive, np.ones(len(vecs), bool)])
        if self._needs_switch():
            self._rebuild()
        else:
            self._index.add_with_ids(vecs, rows)
        self.version += 1

    def remove_person(self, person_id: str) -> None:
        """Remove a person and their templates; bumps the version. KeyError if not enrolled."""
        if person_id not in self._person_index:
            raise KeyError(person_id)
        self._remove(person_id)
        p = self._person_index.pop(person_id)
        del self._templates[p]
        self.version += 1

    def _remove(self, person_id: str) -> None:
        p = self._person_index[person_id]
        rows = np.asarray(self._templates.get(p, []), dtype=np.int64)
        if len(rows):
            self._index.remove_ids(rows)  # type: ignore[arg-type]  # faiss takes arrays too
            self._alive[rows] = False
        self._templates[p] = []

    def _needs_switch(self) -> bool:
        return (int(self._alive.sum()) > self.approx_above) != self.is_approximate

    def _rebuild(self) -> None:
        """Build the index anew from the live templates (flat, or IVF above the threshold)."""
        rows = np.flatnonzero(self._alive).astype(np.int64)
        vecs = self._vectors[rows].astype(np.float32, copy=False)
        index: faiss.Index
        if len(rows) > self.approx_above:
            nlist = int(4 * np.sqrt(len(rows)))
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(0)
            sample = vecs[rng.choice(len(vecs), size=min(len(vecs), nlist * 40), replace=False)]
            index.train(sample)
            index.nprobe = self.nprobe or max(16, int(nlist * DEFAULT_PROBE_SHARE))
            log.info("gallery: IVF index, %d lists, nprobe %d", nlist, index.nprobe)
        else:
            index = self._new_flat()
        index.add_with_ids(vecs, rows)
        self._index = index

    # -- searching --------------------------------------------------------------------------

    def search(self, embeddings: npt.ArrayLike, k: int = 5) -> list[GalleryHit]:
        """Per query the top ``k`` persons by their best template, best first."""
        q = self._check_embeddings(embeddings)
        if self._index.ntotal == 0 or len(q) == 0:
            return [GalleryHit(()) for _ in range(len(q))]
        # Ask for enough templates that k distinct persons are among them.
        kk = int(min(self._index.ntotal, max(k + 1, (k + 1) * self._max_templates), 1024))
        scores, ids = self._index.search(q, kk)
        # Cosines: rounding (float16 templates by up to 2e-4) must not leave [-1, 1], which
        # the wire's score fields require.
        np.clip(scores, -1.0, 1.0, out=scores)
        hits = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            seen: dict[int, float] = {}
            for s, t in zip(row_scores, row_ids, strict=True):
                if t < 0:
                    continue
                p = int(self._owner[t])
                if p not in seen:
                    seen[p] = float(s)
                    if len(seen) == k:
                        break
            hits.append(
                GalleryHit(
                    tuple(
                        Candidate(self._person_ids[p], self._roles[p], s) for p, s in seen.items()
                    )
                )
            )
        return hits

    # -- snapshot files ---------------------------------------------------------------------

    def _arrays(self) -> tuple[list[GalleryPerson], F32, npt.NDArray[np.int32]]:
        persons = self.persons()
        order = {self._person_index[p.id]: i for i, p in enumerate(persons)}
        rows = [r for p in sorted(self._templates) for r in self._templates[p]]
        vecs = self._vectors[np.asarray(rows, dtype=np.int64)] if rows else self._vectors[:0]
        owner = np.asarray([order[int(self._owner[r])] for r in rows], dtype="<i4")
        return persons, np.ascontiguousarray(vecs, dtype="<f4"), owner

    def save(self, path: str | Path) -> SnapshotHeader:
        """Write the snapshot atomically (temp file, fsync, rename); returns its header."""
        path = Path(path)
        persons, vecs, owner = self._arrays()
        header = SnapshotHeader(
            version=self.version,
            model_id=self.model_id,
            dim=self.dim,
            created=datetime.now(UTC),
            persons=persons,
            template_count=len(vecs),
            content_sha256=content_digest(vecs.tobytes(), owner.tobytes(), persons_json(persons)),
            population=self.population,
        )
        header_bytes = np.frombuffer(header.model_dump_json().encode(), dtype=np.uint8)
        with atomic_writer(path) as f:
            np.savez(f, header=header_bytes, embeddings=vecs, template_person=owner)
        return header

    @classmethod
    def load(cls, path: str | Path, expected_model_id: str | None = None, **kwargs: Any) -> Gallery:
        """Read and check a snapshot; GalleryError says what is wrong and what to do."""
        path = Path(path)
        try:
            f = path.open("rb")
        except OSError as e:
            raise GalleryError(f"{path}: cannot read gallery ({e.strerror})") from e
        # Members are read from the file itself: no copy of the whole file in memory beside them.
        with f:
            return cls._parse(f, str(path), expected_model_id, **kwargs)

    @classmethod
    def from_bytes(
        cls, raw: bytes, what: str, expected_model_id: str | None = None, **kwargs: Any
    ) -> Gallery:
        """Parse and check snapshot bytes (as read from a file or an HTTP response)."""
        return cls._parse(io.BytesIO(raw), what, expected_model_id, **kwargs)

    @classmethod
    def _parse(
        cls, f: BinaryIO, what: str, expected_model_id: str | None = None, **kwargs: Any
    ) -> Gallery:
        redo = "rebuild it ('gatewatch gallery build') or fetch it again"
        try:
            with np.load(f, allow_pickle=False) as z:
                missing = [m for m in SNAPSHOT_MEMBERS if m not in z.files]
                if missing:
                    raise GalleryError(
                        f"{what}: not a gallery snapshot (missing {missing}); {redo}"
                    )
                header_raw = z["header"].tobytes()
                vecs = z["embeddings"]
                owner = z["template_person"]
        except GalleryError:
            raise
        except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
            raise GalleryError(f"{what}: corrupt or not a gallery snapshot ({e}); {redo}") from e
        try:
            header = SnapshotHeader.model_validate_json(header_raw)
        except ValidationError as e:
            raise GalleryError(
                f"{what}: bad snapshot header ({e.errors()[0]['msg']}); {redo}"
            ) from e
        if vecs.dtype != np.dtype("<f4") or owner.dtype != np.dtype("<i4"):
            raise GalleryError(f"{what}: arrays have the wrong type; {redo}")
        if vecs.shape != (header.template_count, header.dim) or owner.shape != (len(vecs),):
            raise GalleryError(
                f"{what}: arrays {vecs.shape}/{owner.shape} do not match the header "
                f"({header.template_count} templates of dim {header.dim}); {redo}"
            )
        # A byte view, not vecs.tobytes(): no third copy of the embeddings while loading.
        # (An empty gallery has no bytes to view: memoryview refuses a zero-length shape.)
        flat = cast(bytes, np.ascontiguousarray(vecs).data.cast("B")) if vecs.size else b""
        digest = content_digest(flat, owner.tobytes(), persons_json(header.persons))
        if digest != header.content_sha256:
            raise GalleryError(
                f"{what}: content hash mismatch (file damaged or tampered with); {redo}"
            )
        if expected_model_id is not None and embedding_space(header.model_id) != embedding_space(
            expected_model_id
        ):
            raise GalleryError(
                f"{what}: made with model {header.model_id}, but this engine runs "
                f"{expected_model_id}; rebuild the gallery with the current models"
            )
        if len(owner) and (owner.min() < 0 or owner.max() >= len(header.persons)):
            raise GalleryError(f"{what}: template owners out of range; {redo}")
        g = cls(header.model_id, header.dim, header.version, **kwargs)
        g.population = header.population
        g._fill(header.persons, vecs, owner.astype(np.int64))
        return g

    def _fill(
        self, persons: Sequence[GalleryPerson], vecs: F32, owner: npt.NDArray[np.int64]
    ) -> None:
        """An empty gallery filled from a snapshot's arrays in one step, as ``add_many`` would
        (persons in order of their first template, their rows together; a person without
        templates is left out), without its per-person arrays: loading 33,000 persons that way
        peaked at +171 MB and left the heap fragmented at +128 MB (scripts/bench_memory.py)."""
        if not np.isfinite(vecs).all():
            raise GalleryError("snapshot embeddings contain NaN or infinity; rebuild it")
        present, first_row = np.unique(owner, return_index=True)
        order = present[np.argsort(first_row, kind="stable")]  # old person index, new order
        new_of_old = np.full(len(persons), -1, np.int64)
        new_of_old[order] = np.arange(len(order))
        new_owner = new_of_old[owner]
        perm = np.argsort(new_owner, kind="stable")
        if not np.array_equal(perm, np.arange(len(perm))):
            vecs, new_owner = vecs[perm], new_owner[perm]
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs /= np.where(norms > MIN_NORM, norms, np.inf)  # in place; a zero row stays zero
        self._person_ids = [persons[int(p)].id for p in order]
        self._roles = [persons[int(p)].role for p in order]
        self._person_index = {pid: i for i, pid in enumerate(self._person_ids)}
        counts = np.bincount(new_owner, minlength=len(order))
        ends = np.cumsum(counts).tolist()
        starts = [0, *ends[:-1]] if ends else []  # an empty snapshot: no persons
        self._templates = {
            i: list(range(a, b)) for i, (a, b) in enumerate(zip(starts, ends, strict=True))
        }
        self._max_templates = max(1, int(counts.max(initial=1)))
        self._owner = new_owner
        self._alive = np.ones(len(vecs), bool)
        self._vectors = vecs
        if self._needs_switch():
            self._rebuild()
        else:
            self._index.add_with_ids(vecs, np.arange(len(vecs), dtype=np.int64))
        if self.half:
            self._vectors = vecs.astype(np.float16)
