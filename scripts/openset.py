"""Open-set identification metrics (NIST FRTE style) on cached embeddings: FNIR at a fixed FPIR.

A *mated* search is a probe whose person is enrolled; a *non-mated* search is a stranger's probe.
FPIR: share of non-mated searches whose best candidate is accepted (a stranger named).
FNIR: share of mated searches not named as the right person (below threshold or wrong person).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from contract.config import FaceConfig

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
NO_FACE = -1.0  # a photo without a detected face: its search returns this score (never accepted)


@dataclass(frozen=True)
class EmbeddingSet:
    """Embeddings of every photo of a faces folder (rows of zeros where no face was found)."""

    name: str
    paths: list[str]
    ids: list[str]
    emb: F32  # [n, d]
    flip: F32 | None  # [n, d] embedding of the mirrored aligned crop (ours only)
    quality: F64 | None
    ok: npt.NDArray[np.bool_]
    metric: str = "cosine"  # dlib: "euclidean" (similarity = minus the distance)

    def sims(self, a: F32, b: F32) -> F32:
        """[len(a), len(b)] similarities in this set's metric."""
        return similarity_matrix(a, b, self.metric)

    def by_identity(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, ident in enumerate(self.ids):
            out.setdefault(ident, []).append(i)
        return out

    def with_flip_tta(self) -> EmbeddingSet:
        """Each embedding replaced by the normalised mean of it and its mirror's."""
        assert self.flip is not None
        e = self.emb + self.flip
        n = np.linalg.norm(e, axis=1, keepdims=True)
        e = np.where(n > 1e-6, e / np.maximum(n, 1e-6), 0).astype(np.float32)
        return EmbeddingSet(self.name, self.paths, self.ids, e, None, self.quality, self.ok)


def similarity_matrix(a: F32, b: F32, metric: str) -> F32:
    if metric == "cosine":
        return (a @ b.T).astype(np.float32)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * (a @ b.T)
    return (-np.sqrt(np.maximum(d2, 0))).astype(np.float32)


def load_cached(path: Path, name: str) -> EmbeddingSet:
    z = np.load(path)
    metric = "euclidean" if path.stem.endswith("_dlib") else "cosine"
    return EmbeddingSet(
        name=name,
        paths=[str(p) for p in z["paths"]],
        ids=[str(i) for i in z["ids"]],
        emb=z["emb"].astype(np.float32),
        flip=z["flip"].astype(np.float32) if "flip" in z else None,
        quality=z.get("quality"),
        ok=z["ok"].astype(bool),
        metric=metric,
    )


def save_cached(path: Path, s: EmbeddingSet) -> None:
    extra = {} if s.flip is None else {"flip": s.flip, "quality": s.quality}
    np.savez(path, paths=s.paths, ids=s.ids, emb=s.emb, ok=s.ok, **extra)


def manifest_rows(folder: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((folder / "manifest.csv").read_text().splitlines()))


@dataclass(frozen=True)
class Searches:
    """Searches: best and runner-up person score, whether the best is right, mated or not."""

    top: F64
    second: F64
    correct: npt.NDArray[np.bool_]
    mated: npt.NDArray[np.bool_]

    def __add__(self, other: Searches) -> Searches:
        return Searches(
            np.concatenate([self.top, other.top]),
            np.concatenate([self.second, other.second]),
            np.concatenate([self.correct, other.correct]),
            np.concatenate([self.mated, other.mated]),
        )

    @property
    def n_mated(self) -> int:
        return int(self.mated.sum())

    @property
    def n_nonmated(self) -> int:
        return int((~self.mated).sum())

    def accepted(self, threshold: float, margin: float = 0.0) -> npt.NDArray[np.bool_]:
        return (self.top >= threshold) & (self.top - self.second >= margin)

    def fpir(self, threshold: float, margin: float = 0.0) -> float:
        return float(self.accepted(threshold, margin)[~self.mated].mean())

    def fnir(self, threshold: float, margin: float = 0.0) -> float:
        ok = self.accepted(threshold, margin) & self.correct
        return float(1 - ok[self.mated].mean())

    def rank1(self) -> float:
        return float(self.correct[self.mated].mean())

    def threshold_at_fpir(self, target: float, margin: float = 0.0) -> float:
        """Lowest threshold whose FPIR (with this margin rule) is at most ``target``."""
        nm = self.top[~self.mated]
        if margin > 0:
            nm = nm[(nm - self.second[~self.mated]) >= margin]
        allowed = int(np.floor(target * self.n_nonmated))
        s = np.sort(nm)[::-1]
        if allowed >= len(s):
            return float(s[-1]) if len(s) else -1.0
        return float(np.nextafter(s[allowed], np.inf))

    def fnir_at_fpir(self, target: float, margin: float = 0.0) -> float:
        return self.fnir(self.threshold_at_fpir(target, margin), margin)


def person_scores(
    probes: F32,
    templates: F32,
    owner: npt.NDArray[np.int64],
    n_persons: int,
    mean: bool = False,
    metric: str = "cosine",
) -> F32:
    """[P, n_persons] person scores: best template (or the mean template)."""
    if mean:
        sums = np.zeros((n_persons, templates.shape[1]), np.float32)
        np.add.at(sums, owner, templates)
        if metric == "cosine":
            sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-6)
        else:
            sums /= np.maximum(np.bincount(owner, minlength=n_persons), 1)[:, None]
        return similarity_matrix(probes, sums, metric)
    s = similarity_matrix(probes, templates, metric)
    out = np.full((len(probes), n_persons), -2.0, np.float32)
    for p in range(n_persons):
        cols = owner == p
        out[:, p] = s[:, cols].max(axis=1)
    return out


def top2(scores: F32) -> tuple[npt.NDArray[np.int64], F64, F64]:
    """Index of the best column, best and runner-up value, per row."""
    if scores.shape[1] == 1:
        return (
            np.zeros(len(scores), np.int64),
            scores[:, 0].astype(np.float64),
            np.zeros(len(scores)),
        )
    part = np.argpartition(-scores, 1, axis=1)[:, :2]
    rows = np.arange(len(scores))
    a, b = scores[rows, part[:, 0]], scores[rows, part[:, 1]]
    swap = b > a
    best = np.where(swap, part[:, 1], part[:, 0])
    return best, np.maximum(a, b).astype(np.float64), np.minimum(a, b).astype(np.float64)


def search(
    probes: F32,
    probe_person: npt.NDArray[np.int64],
    templates: F32,
    owner: npt.NDArray[np.int64],
    n_persons: int,
    probe_ok: npt.NDArray[np.bool_],
    mean: bool = False,
    metric: str = "cosine",
) -> Searches:
    """Search each probe (person -1: a stranger) against the enrolled persons."""
    s = person_scores(probes, templates, owner, n_persons, mean, metric)
    best, top, second = top2(s)
    top = np.where(probe_ok, top, NO_FACE)
    correct = (best == probe_person) & probe_ok
    return Searches(top, second, correct, probe_person >= 0)


def impostor_scores(s: EmbeddingSet) -> F64:
    """Cosine of every pair of photos of different people (both with a face)."""
    idx = np.flatnonzero(s.ok)
    e = s.emb[idx]
    who = np.asarray(s.ids)[idx]
    sims = s.sims(e, e)
    iu = np.triu_indices(len(idx), 1)
    diff = who[iu[0]] != who[iu[1]]
    return sims[iu][diff].astype(np.float64)


def genuine_scores(s: EmbeddingSet) -> F64:
    idx = np.flatnonzero(s.ok)
    e = s.emb[idx]
    who = np.asarray(s.ids)[idx]
    sims = s.sims(e, e)
    iu = np.triu_indices(len(idx), 1)
    same = who[iu[0]] == who[iu[1]]
    return sims[iu][same].astype(np.float64)


def embed_ours(
    folder: Path, cache: Path | None, threads: int = 2, face: FaceConfig | None = None
) -> EmbeddingSet:
    """Our pipeline (default YuNet + norm_crop + SFace) on the largest face of each photo, plus
    its mirrored crop."""
    from models.engine import FaceEngine
    from models.imageio import read_image

    cfg = face or FaceConfig(threads=threads)
    hit = cache / f"{folder.name}_{cfg.pack}.npz" if cache else None
    if hit and hit.is_file():
        return load_cached(hit, folder.name)
    engine = FaceEngine(cfg)
    rows = manifest_rows(folder)
    emb = np.zeros((len(rows), engine.dim), np.float32)
    flip = np.zeros_like(emb)
    quality = np.zeros(len(rows))
    ok = np.zeros(len(rows), bool)
    for i, row in enumerate(rows):
        faces = engine.analyze(read_image(folder / row["path"]), embed="none")
        if not faces:
            continue
        best = max(faces, key=lambda f: f.area)
        pair = engine.embedder.embed([best.aligned, np.ascontiguousarray(best.aligned[:, ::-1])])
        emb[i], flip[i], quality[i], ok[i] = pair[0], pair[1], best.quality.score, True
    s = EmbeddingSet(
        folder.name, [r["path"] for r in rows], [r["identity"] for r in rows], emb, flip,
        quality, ok,
    )  # fmt: skip
    if hit:
        save_cached(hit, s)
    return s


def embed_dlib(folder: Path, cache: Path | None) -> EmbeddingSet | None:
    """face_recognition (dlib ResNet, 128-d) on the largest face; None if it is not installed."""
    hit = cache / f"{folder.name}_dlib.npz" if cache else None
    if hit and hit.is_file():
        return load_cached(hit, folder.name)
    try:
        import face_recognition
    except ImportError:
        return None
    import cv2

    rows = manifest_rows(folder)
    emb = np.zeros((len(rows), 128), np.float32)
    ok = np.zeros(len(rows), bool)
    for i, row in enumerate(rows):
        img = face_recognition.load_image_file(str(folder / row["path"]))
        h, w = img.shape[:2]
        if max(h, w) > 1024:  # the rule the data sets' face counts were made with
            s = 1024 / max(h, w)
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        locs = face_recognition.face_locations(img)
        if not locs:
            continue
        big = max(locs, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        emb[i], ok[i] = face_recognition.face_encodings(img, [big])[0], True
    s = EmbeddingSet(
        folder.name, [r["path"] for r in rows], [r["identity"] for r in rows], emb, None, None, ok,
        "euclidean",
    )  # fmt: skip
    if hit:
        save_cached(hit, s)
    return s


# starface portraits in distractors_dev that show a person of faces_east_asian_dev (judged by the
# celebrity's name, e.g. star_00177 宋慧乔 = song_hye_kyo, among the distractor-person pairs scoring
# >= 0.37): not strangers to that set. Left out of every East-Asian impostor pair and of every
# gallery padded with distractors_dev beside faces_east_asian_dev.
SAME_AS_EAST_ASIAN_DEV = frozenset(
    f"star_{n:05d}"
    for n in (
        11, 32, 51, 52, 65, 111, 123, 143, 149, 156, 159, 164, 172, 176, 177, 209, 285, 289, 297,
        330, 331, 333, 334, 338, 343, 360, 377, 378, 381, 391, 438, 439, 440, 441, 445, 465, 477,
        483, 526, 546, 552, 581,
    )
)


# UTKFace crops in distractors_dev that show a person of faces_wide_dev (several of the person's
# photos score >= 0.42 against the crop, and name, age and a look agree: Warren Buffett, Meryl
# Streep, Nicolas Cage, Rita Wilson, Michael Keaton, Liam Neeson (3), Cate Blanchett, Michael
# Douglas, Patti LaBelle, Candice Bergen, Nicole Kidman, Catherine Deneuve, Blythe Danner).
SAME_AS_WIDE_DEV = frozenset(
    f"utk_{n:05d}"
    for n in (
        2640, 1178, 4503, 2097, 4128, 3737, 734, 2291, 2178, 2571, 1807, 3480, 608, 2950, 724,
    )
)
NOT_DISTRACTORS = SAME_AS_EAST_ASIAN_DEV | SAME_AS_WIDE_DEV


@dataclass(frozen=True)
class Distractor:
    """One row of a distractor set's manifest: a person of their own."""

    index: int
    identity: str
    east_asian: bool
    age: int | None  # None: not known (starface adults)

    @property
    def adult(self) -> bool:
        return self.age is None or self.age >= 18


def distractors(folder: Path) -> list[Distractor]:
    """The rows of a distractors folder (distractors_dev's manifest: ethnicity, age)."""
    out = []
    for i, r in enumerate(manifest_rows(folder)):
        eth = r.get("ethnicity", "")
        age = r.get("age", "")
        out.append(
            Distractor(
                i,
                r["identity"],
                eth == "Asian" or eth.startswith("East Asian"),
                int(age) if age.isdigit() else None,
            )
        )
    return out


def template_count_effect(
    s: EmbeddingSet,
    strangers: F32,
    ks: list[int],
    far_levels: list[float],
    subsets: int = 10,
    seed: int = 0,
) -> tuple[list[int], list[list[float]], list[list[int]]]:
    """How a person's k templates add to a stranger's chance of being named.

    For every person of ``s`` with at least k photos (up to ``subsets`` random k-subsets each)
    and every stranger (the photos of ``s``'s other people, then the ``strangers`` rows), the
    best of the k template scores against the mean single-template rate, at the thresholds where
    the single-template rate is each of ``far_levels``. Returns persons per k, the ratio per level
    and k, and the hits of the best of k per level and k."""
    rng = np.random.default_rng(seed)
    ids = np.asarray(s.ids)
    ok = s.ok
    by = {p: [i for i in rows if ok[i]] for p, rows in s.by_identity().items()}
    own = s.sims(s.emb, s.emb)
    ext = s.sims(s.emb, strangers) if len(strangers) else np.zeros((len(ids), 0), np.float32)
    persons: list[int] = []
    ratio = [[0.0] * len(ks) for _ in far_levels]
    hits = [[0] * len(ks) for _ in far_levels]
    for j, k in enumerate(ks):
        best, single = [], []
        chosen = [p for p, rows in by.items() if len(rows) >= k]
        persons.append(len(chosen))
        for p in chosen:
            rows = by[p]
            others = np.flatnonzero((ids != p) & ok)
            for _ in range(subsets if len(rows) > k else 1):
                sub = rng.choice(rows, size=k, replace=False)
                m = np.concatenate([own[np.ix_(sub, others)], ext[sub]], axis=1)
                best.append(m.max(axis=0))
                single.append(m.ravel())
        b, sg = np.concatenate(best), np.sort(np.concatenate(single))
        for li, level in enumerate(far_levels):
            t = sg[int(np.floor((1 - level) * len(sg)))]
            f1 = float((sg >= t).mean())
            hits[li][j] = int((b >= t).sum())
            ratio[li][j] = float((b >= t).mean()) / f1
    return persons, ratio, hits
