"""The demo's cast: who plays the elder, a resident, the courier, a watchlist entry, an unknown
visitor and the newcomer, with the photos each one enrolls with and walks through the gate in.

Two sources. By default the faces that installed packages ship, read at run time: every face of
insightface's group photo ``t1.jpg`` is a person, and so are insightface's ``Tom_Hanks_54745.png``
and scikit-image's ``astronaut.png``; each person's enrollment and walk photos are differently
cropped, scaled and lit versions of the same photo. With ``--photos FOLDER`` the cast comes from
``FOLDER/<person>/*.jpg``: real different photos of each person. Either way the cast is measured
with the face engine before it is used: people whose photos do not agree with each other, or who
look too much like someone already chosen, are passed over.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from models.engine import FaceEngine
from models.imageio import BGRImage, read_image

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
# A person's walk photo must match each of their enrollment photos this far above the threshold,
# and every photo of two different people must stay this far below it: the edges decide on video
# frames, which score lower and spread more than the stills measured here.
GENUINE_MARGIN = 0.10
IMPOSTOR_MARGIN = 0.08
# A walk score this high is good enough: past it, people are taken in the order offered, so a
# folder of near-identical lab photos does not crowd out varied ones.
GOOD_WALK = 0.60
# Cut-outs of the package photos: (name, half-width of the crop in face widths, scale, gain,
# offset). Enrollment photos are tighter, larger and brighter or darker; the walk photo is wider,
# smaller and flatter, so no two files are the same picture.
VARIANTS = (
    ("enroll-1", 1.3, 1.6, 1.15, 12.0),
    ("enroll-2", 1.8, 1.2, 0.85, -8.0),
    ("walk", 1.6, 1.0, 0.9, 18.0),
)


class CastError(Exception):
    """Not enough distinct usable people for the demo; the message says what was found."""


@dataclass(frozen=True)
class Member:
    """One person of the cast: enrollment photos and the photo (under the cast folder) walked."""

    source: str
    enroll: tuple[Path, ...]
    walk: str


@dataclass(frozen=True)
class Cast:
    """The six people of the demo and how their photos were made."""

    folder: Path
    elder: Member
    resident: Member
    courier: Member
    watchlist: Member
    visitor: Member
    newcomer: Member
    note: str


@dataclass(frozen=True)
class Candidate:
    """A person offered to the cast: a name and photos of them, best first."""

    name: str
    photos: tuple[Path, ...]


@dataclass(frozen=True)
class Measured:
    """A candidate's usable photos (one face that passes the quality gate) and their embeddings."""

    candidate: Candidate
    photos: tuple[Path, ...]
    embeddings: F32
    walk_score: float  # the walk photo in gate-video frames vs the other photos (1.0 if alone)


# How many photos each part needs: enrollment photos plus one walk photo (the visitor only walks).
NEEDS = {"elder": 3, "resident": 2, "courier": 2, "watchlist": 2, "newcomer": 2, "visitor": 1}
# People measured from a folder at most (name order): enough to cast from, quick on a big folder.
MAX_CANDIDATES = 40


def _package_dir(name: str) -> Path | None:
    """Where an installed package lives, found without importing it; None if not installed."""
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def package_photos() -> dict[str, Path]:
    """The face photos installed packages ship (insightface, scikit-image), by short name; a
    package that is not installed gives paths that do not exist."""
    ins = _package_dir("insightface") or Path("/nonexistent/insightface")
    ski = _package_dir("skimage") or Path("/nonexistent/skimage")
    return {
        "t1": ins / "data" / "images" / "t1.jpg",
        "tom_hanks": ins / "data" / "images" / "Tom_Hanks_54745.png",
        "astronaut": ski / "data" / "astronaut.png",
    }


NO_PACKAGE_PHOTOS = (
    "the default cast reads the sample photos insightface ships (t1.jpg, Tom_Hanks_54745.png), "
    "and insightface is not installed (it is a dependency: reinstall with `pip install -e .`), "
    "or pass --photos FOLDER"
)


def have_package_photos() -> bool:
    """True when every package photo of the default cast is on this machine."""
    return all(p.is_file() for p in package_photos().values())


def _cutout(
    img: BGRImage, box: F32, half: float, scale: float, gain: float, bias: float
) -> BGRImage:
    """A square around the face ``half`` face widths each way, scaled and relit."""
    x1, y1, x2, y2 = (float(v) for v in box)
    s = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.1 * s
    # Pad by repeating the edge so a face near a photo's border stays in the middle of its square.
    pad = int(half * s) + 1
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    a, b = int(cx - half * s) + pad, int(cy - half * s) + pad
    crop = padded[b : b + int(2 * half * s), a : a + int(2 * half * s)]
    interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    scaled = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interp)
    return np.asarray(cv2.convertScaleAbs(scaled, alpha=gain, beta=bias), np.uint8)


def _alone(img: BGRImage, boxes: list[F32], keep: int) -> BGRImage:
    """The photo with every face but one blurred beyond recognition (a group photo's neighbours)."""
    out = img.copy()
    h, w = img.shape[:2]
    for i, box in enumerate(boxes):
        if i == keep:
            continue
        x1, y1, x2, y2 = box
        pad = 0.25 * (x2 - x1)
        a, b = int(max(0, x1 - pad)), int(max(0, y1 - pad))
        c, d = int(min(w, x2 + pad)), int(min(h, y2 + pad))
        out[b:d, a:c] = cv2.GaussianBlur(out[b:d, a:c], (0, 0), max(4.0, (x2 - x1) / 4))
    return out


def package_candidates(engine: FaceEngine, folder: Path) -> list[Candidate]:
    """Each face of the package photos as a person with three variants, best face first."""
    faces: list[tuple[float, str, BGRImage, F32]] = []
    for short, path in package_photos().items():
        img = read_image(path)
        found = engine.analyze(img, embed="none")
        for i, f in enumerate(found):
            name = f"{short}-face-{i + 1}" if len(found) > 1 else short
            alone = _alone(img, [g.box for g in found], i) if len(found) > 1 else img
            faces.append((f.quality.score, name, alone, f.box))
    out = []
    for _, name, img, box in sorted(faces, key=lambda t: -t[0]):
        (folder / name).mkdir(parents=True, exist_ok=True)
        photos = []
        for variant, half, scale, gain, bias in VARIANTS:
            p = folder / name / f"{variant}.jpg"
            cv2.imwrite(str(p), _cutout(img, box, half, scale, gain, bias))
            photos.append(p)
        out.append(Candidate(name, tuple(photos)))
    return out


def folder_candidates(folder: Path) -> list[Candidate]:
    """``FOLDER/<person>/*.jpg``: each sub-folder a person, photos in name order."""
    out = []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        photos = sorted(p for p in d.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        if photos:
            out.append(Candidate(d.name, tuple(photos)))
    return out


def measure(engine: FaceEngine, cand: Candidate, limit: int) -> Measured | None:
    """Up to ``limit`` photos with exactly one face that passes the quality gate, and how well the
    last of them, walked through a gate video, matches the others; None if nothing is usable."""
    photos, embs = [], []
    for p in cand.photos:
        faces = engine.analyze(read_image(p))
        if len(faces) == 1 and faces[0].quality.ok and faces[0].embedding is not None:
            photos.append(p)
            embs.append(faces[0].embedding)
        if len(photos) == limit:
            break
    if not photos:
        return None
    walked = as_walked(engine, photos[-1])
    if len(walked) == 0:
        return None
    arr = np.stack(embs).astype(np.float32)
    # Median over the frames, worst over the enrollment photos.
    score = float(np.median(arr[:-1] @ walked.T, axis=1).min()) if len(photos) > 1 else 1.0
    return Measured(cand, tuple(photos), arr, score)


def as_walked(engine: FaceEngine, photo: Path) -> F32:
    """Embeddings of ``photo`` as the gate video shows it: its head cut out and pasted, small to
    large, into a 720p gate scene (the frames an edge decides on)."""
    from gatewatch.gatevideo import background, head_cutout, paste

    try:
        cut = head_cutout(photo, engine)
    except SystemExit:  # the video maker's way of saying "no usable face"
        return np.zeros((0, engine.dim), np.float32)
    w, h = 1280, 720
    bg = background(w, h, seed=0)
    embs = []
    for t in (0.3, 0.5, 0.7):
        frame = bg.copy()
        paste(frame, cut, w * 0.5, h * (0.30 + 0.62 * t), w * (0.07 + 0.16 * t))
        faces = engine.analyze(frame)
        if faces and faces[0].quality.ok and faces[0].embedding is not None:
            embs.append(faces[0].embedding)
    return np.stack(embs) if embs else np.zeros((0, engine.dim), np.float32)


def _assign(chosen: list[Measured]) -> dict[str, Measured] | None:
    """Parts to people, the most demanding part first; None while someone is missing."""
    free = list(chosen)
    parts: dict[str, Measured] = {}
    for part, need in sorted(NEEDS.items(), key=lambda kv: -kv[1]):
        pick = next((m for m in free if len(m.photos) >= need), None)
        if pick is None:
            return None
        parts[part] = pick
        free.remove(pick)
    return parts


def _member(m: Measured, need: int, folder: Path) -> Member:
    walk = m.photos[-1]
    enroll = m.photos[:-1][: need - 1]
    return Member(m.candidate.name, enroll, walk.relative_to(folder).as_posix())


def choose(engine: FaceEngine, candidates: list[Candidate], folder: Path, note: str) -> Cast:
    """Measure up to MAX_CANDIDATES people; take them, those whose walk photo matches their other
    photos best first, while they look like nobody taken yet, until every part is cast."""
    ranked: list[Measured] = []
    passed: list[str] = []
    for cand in candidates[:MAX_CANDIDATES]:
        m = measure(engine, cand, limit=max(NEEDS.values()))
        if m is None:
            passed.append(f"{cand.name} (no photo with one good face that walks)")
        elif m.walk_score < engine.threshold + GENUINE_MARGIN:
            passed.append(f"{cand.name} (walk photo matches the others at {m.walk_score:.2f})")
        else:
            ranked.append(m)
    # People with enrollment photos first, the one-photo people can only visit; good walkers
    # (GOOD_WALK and up) in the order offered, weaker ones after them, best first.
    ranked.sort(key=lambda m: (len(m.photos) > 1, min(m.walk_score, GOOD_WALK)), reverse=True)
    chosen: list[Measured] = []
    for m in ranked:
        if chosen:
            cross = float((np.concatenate([c.embeddings for c in chosen]) @ m.embeddings.T).max())
            if cross >= engine.threshold - IMPOSTOR_MARGIN:
                passed.append(f"{m.candidate.name} (looks like someone chosen: {cross:.2f})")
                continue
        chosen.append(m)
        parts = _assign(chosen)
        if parts is not None:
            for reason in passed:
                log.info("cast: passed over %s", reason)
            members = {part: _member(parts[part], NEEDS[part], folder) for part in NEEDS}
            return Cast(folder=folder, note=note, **members)
    raise CastError(
        f"{folder}: not enough distinct people for the demo (it needs one person with 3 usable "
        f"photos, four with 2 and one more with 1; a usable photo has exactly one face that passes "
        f"the quality gate); found {len(chosen)} ({', '.join(c.candidate.name for c in chosen)})"
        + (f"; passed over {'; '.join(passed)}" if passed else "")
    )


def default_cast(engine: FaceEngine, work: Path) -> Cast:
    """The cast from the faces installed packages ship, written as variants under ``work``."""
    if not have_package_photos():
        raise CastError(NO_PACKAGE_PHOTOS)
    folder = work / "cast"
    note = (
        "cast: faces shipped with installed packages (each face of insightface's t1.jpg is a "
        "person; insightface's Tom_Hanks_54745.png; scikit-image's astronaut.png). Enrollment "
        "and gate-walk photos are differently cropped, scaled and lit versions of the SAME photo, "
        f"written to {folder}; for real different photos of each person use --photos FOLDER."
    )
    return choose(engine, package_candidates(engine, folder), folder, note)


def folder_cast(engine: FaceEngine, folder: Path) -> Cast:
    """The cast from ``FOLDER/<person>/*.jpg``: enrollment and walk are different photos."""
    if not folder.is_dir():
        raise CastError(f"{folder}: no such folder (expected FOLDER/<person>/*.jpg)")
    note = f"cast: photos from {folder}; each person enrolls with one photo and walks in another"
    return choose(engine, folder_candidates(folder), folder, note)


def members(cast: Cast) -> Iterator[tuple[str, Member]]:
    """(part, member) in the order the demo introduces them."""
    for part in ("elder", "resident", "courier", "watchlist", "visitor", "newcomer"):
        yield part, getattr(cast, part)
