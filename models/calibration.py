"""Open-set operating point: the match threshold that keeps strangers from being named.

A stranger is named when their best gallery score passes the threshold. With a per-comparison
false-accept rate FAR(t) measured on impostor pairs of a development set, the share of strangers
named by a gallery is FPIR(N, t) = 1 - (1 - FAR(t))^N, where N counts the chances to match. So for
a target FPIR the threshold is the t where FAR(t) = 1 - (1 - FPIR)^(1/N): a gallery that grows needs
a higher threshold.

N is counted per person: a stranger is named when any template of any person passes, and the k
templates of one person are correlated chances, so a person with k templates counts k^a
(``PerPersonCount``), a measured on the development set's people with several photos at several
depths of the tail: about 0.87 where one template in a thousand passes, rising to 1 near 1e-5 (deep
in the tail a stranger who passes one template of a person almost never passes another). So a
person's templates count almost fully at the thresholds of large galleries; counting persons only
(a = 0) would understate the risk about k-fold.

A curve belongs to the population the gates serve (``population``): East-Asian faces score higher
against each other than the mostly Western news photos of faces_wide_dev, so a Chinese compound
uses the east_asian curve (faces_east_asian_dev with East-Asian adult distractors).

FAR(t) is the empirical rate down to the top ``tail_share`` of impostor scores; beyond it (where a
33,000-person gallery needs rates near 1e-7, far below what any development set can count) it is
extrapolated with an exponential tail, FAR(t) = q * exp(-(t - u) / beta), fitted to the scores above
u (the generalised Pareto tail with shape 0; the fitted shape on faces_wide_dev was +0.016, i.e.
exponential; on the East-Asian set it is negative, about -0.1: a lighter tail, which the exponential
overstates, on the safe side). ``scripts/bench_accuracy.py`` checks the formula against real
galleries of other people and the tail against held-out pairs, ``scripts/bench_openset_scale.py``
against galleries padded with thousands of distractors; the README states the numbers.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contract.gallery import Population
from models.errors import ModelLoadError
from models.perperson import GallerySize, PerPersonCount

__all__ = ["GallerySize", "PerPersonCount"]  # re-exported: a curve's callers build sizes

log = logging.getLogger(__name__)

CURVE_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_TAIL_SHARE = 1e-3
# The share of strangers a gate may name as someone (NIST FRTE's usual operating point).
DEFAULT_TARGET_FPIR = 0.003
GRID_STEP = 0.01
# The gates of a Chinese compound serve East-Asian faces (a site setting may say otherwise).
DEFAULT_POPULATION: Population = "east_asian"
POPULATIONS: tuple[Population, ...] = get_args(Population)
Tta = Literal["none", "flip"]
PointSource = Literal["calibration", "configured", "fixed"]


class ExponentialTail(BaseModel):
    """FAR(t) = share * exp(-(t - start) / scale) for t above ``start``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: float = Field(description="Threshold u where the tail begins (a score quantile).")
    share: float = Field(gt=0, lt=1, description="q: share of impostor scores above start.")
    scale: float = Field(gt=0, description="beta: mean excess of the scores above start.")
    gpd_shape: float | None = Field(
        None,
        description="Shape of a generalised Pareto fitted to the same excesses (reported, not "
        "used: below 0 the true tail is lighter than the exponential assumed here).",
    )

    def far(self, t: float) -> float:
        return self.share * math.exp(-(t - self.start) / self.scale)

    def inverse(self, far: float) -> float:
        return self.start + self.scale * math.log(self.share / far)


Size = int | float | GallerySize


class CalibrationCurve(BaseModel):
    """False-accept rate per comparison as a function of threshold, for one pack, TTA mode and
    population."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: str
    tta: Tta
    population: Population = Field(
        "general", description="Whose faces the impostor pairs were (files before it: general)."
    )
    source: str = Field(description="Development set(s) the impostor pairs came from.")
    impostor_pairs: int = Field(gt=0)
    method: str = Field(description="How FAR is extrapolated beyond the measured range.")
    grid: tuple[float, ...] = Field(description="Thresholds, increasing, all below tail.start.")
    far_grid: tuple[float, ...] = Field(description="Measured FAR at each grid threshold.")
    tail: ExponentialTail
    floor: float = Field(
        description="Never below this (the pack's one-to-one threshold): tiny galleries keep it."
    )
    per_person: PerPersonCount | None = Field(
        None, description="How a person's templates count (None: each template counts one)."
    )

    @model_validator(mode="after")
    def _grid_consistent(self) -> CalibrationCurve:
        if len(self.grid) != len(self.far_grid) or len(self.grid) < 2:
            raise ValueError("grid and far_grid must have the same length (at least 2)")
        if any(b <= a for a, b in zip(self.grid, self.grid[1:], strict=False)):
            raise ValueError("grid thresholds must increase")
        if any(b > a for a, b in zip(self.far_grid, self.far_grid[1:], strict=False)):
            raise ValueError("far_grid must not increase with the threshold")
        if self.grid[-1] > self.tail.start:
            raise ValueError("the grid must end at or below the tail's start")
        return self

    @property
    def label(self) -> str:
        """Names the curve: ``sface east_asian: faces_east_asian_dev (629 identities, ...)``."""
        return (
            f"{self.pack}{' flip' if self.tta == 'flip' else ''} {self.population}: {self.source}"
        )

    def effective_size(self, size: Size, threshold: float) -> float:
        """Chances a stranger has to be named at ``threshold``: persons weighted by their template
        counts (a number: that many single-template persons)."""
        if not isinstance(size, GallerySize):
            if size < 0:
                raise ValueError(f"gallery_size must be >= 0, got {size}")
            return float(size)
        if self.per_person is None:
            return float(size.templates)
        far = self.far(threshold)
        return sum(n * self.per_person.count(k, far) for k, n in size.histogram)

    def _points(self) -> tuple[list[float], list[float]]:
        """Grid thresholds and log10 FAR, with the tail's start as the last point."""
        ts = [*self.grid, self.tail.start]
        logs = [math.log10(max(f, 1e-300)) for f in self.far_grid] + [math.log10(self.tail.share)]
        return ts, logs

    def far(self, threshold: float) -> float:
        """Per-comparison false-accept rate at ``threshold`` (measured, or the fitted tail)."""
        if threshold >= self.tail.start:
            return self.tail.far(threshold)
        ts, logs = self._points()
        return float(10 ** np.interp(threshold, ts, logs))

    def fpir(self, gallery_size: Size, threshold: float) -> float:
        """Expected share of strangers named by a gallery: ``gallery_size`` single-template
        persons (a number) or a GallerySize (counted per person)."""
        n = max(self.effective_size(gallery_size, threshold), 1.0)
        return float(-math.expm1(n * math.log1p(-self.far(threshold))))

    def threshold_for(self, gallery_size: Size, target_fpir: float) -> float:
        """Lowest threshold (not below the floor) whose expected FPIR is at most the target."""
        if not 0 < target_fpir < 1:
            raise ValueError(f"target_fpir must be in (0, 1), got {target_fpir}")
        if not isinstance(gallery_size, GallerySize) or self.per_person is None:
            n = gallery_size.templates if isinstance(gallery_size, GallerySize) else gallery_size
            return self._threshold_for_chances(self.effective_size(n, 0.0), target_fpir)
        # A person's count depends on the depth of the tail: between counting persons (a = 0)
        # and counting templates (a = 1), the lowest threshold that keeps the target.
        lo = self._threshold_for_chances(gallery_size.persons, target_fpir)
        hi = self._threshold_for_chances(gallery_size.templates, target_fpir)
        if self.fpir(gallery_size, lo) <= target_fpir:
            return lo
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if self.fpir(gallery_size, mid) <= target_fpir else (mid, hi)
        return max(math.ceil(hi * 1e4 - 1e-9) / 1e4, self.floor)

    def _threshold_for_chances(self, n: float, target_fpir: float) -> float:
        """The threshold for ``n`` independent chances to name a stranger."""
        far = -math.expm1(math.log1p(-target_fpir) / max(n, 1.0))
        if far <= self.tail.share:
            t = self.tail.inverse(far)
        elif far >= self.far_grid[0]:
            t = self.grid[0]
        else:
            t = self._grid_inverse(far)
        # Rounded up to 1e-4 so that rounding never lets the FPIR above the target.
        return max(math.ceil(t * 1e4 - 1e-9) / 1e4, self.floor)

    def _grid_inverse(self, far: float) -> float:
        ts, logs = self._points()
        # log FAR decreases with t: interpolate on the reversed (increasing) sequence.
        return float(np.interp(math.log10(far), logs[::-1], ts[::-1]))


def fit_curve(
    impostor: npt.ArrayLike,
    *,
    pack: str,
    tta: Tta,
    source: str,
    floor: float,
    tail_share: float = DEFAULT_TAIL_SHARE,
    population: Population = "general",
    gpd_shape: float | None = None,
    per_person: PerPersonCount | None = None,
) -> CalibrationCurve:
    """Measured FAR on a 0.01 grid up to the top ``tail_share`` of scores, exponential beyond."""
    s = np.sort(np.asarray(impostor, dtype=np.float64))
    if len(s) * tail_share < 20:
        raise ValueError(
            f"{len(s)} impostor scores leave under 20 in the top {tail_share:g}: too few to fit"
        )
    start = float(np.quantile(s, 1 - tail_share))
    above = s[s > start]
    tail = ExponentialTail(
        start=start,
        share=len(above) / len(s),
        scale=float(np.mean(above - start)),
        gpd_shape=gpd_shape,
    )
    lo = math.floor(float(np.quantile(s, 0.5)) / GRID_STEP) * GRID_STEP
    grid = [round(t, 4) for t in np.arange(lo, start, GRID_STEP)]
    far = [float(len(s) - np.searchsorted(s, t, side="left")) / len(s) for t in grid]
    return CalibrationCurve(
        pack=pack,
        tta=tta,
        population=population,
        source=source,
        impostor_pairs=len(s),
        method=(
            f"measured FAR below the top {tail_share:g} of impostor scores; above it an "
            "exponential tail (generalised Pareto, shape 0) fitted by its mean excess; "
            "FPIR(N, t) = 1 - (1 - FAR(t))^N, N = sum over persons of k^a (k templates)"
        ),
        grid=tuple(grid),
        far_grid=tuple(far),
        tail=tail,
        floor=floor,
        per_person=per_person,
    )


def curve_path(
    pack: str, tta: Tta, folder: Path = CURVE_DIR, population: Population = "general"
) -> Path:
    """``calibration_<pack>[_east_asian][_flip].json`` (the general curve keeps its old name)."""
    pop = "" if population == "general" else f"_{population}"
    return folder / f"calibration_{pack}{pop}{'_flip' if tta == 'flip' else ''}.json"


def load_curve(
    pack: str,
    tta: Tta,
    pack_dir: Path | None = None,
    population: Population = DEFAULT_POPULATION,
) -> CalibrationCurve | None:
    """The curve for this pack, TTA mode and population: from an operator pack's own folder
    (written there by scripts/calibrate.py), else the one shipped in the package; None when none
    was measured."""
    own = curve_path(pack, tta, pack_dir, population) if pack_dir is not None else None
    path = (
        own if own is not None and own.is_file() else curve_path(pack, tta, population=population)
    )
    if not path.is_file():
        return None
    try:
        curve = CalibrationCurve.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as e:
        raise ModelLoadError(f"{path}: not a valid calibration curve: {e}") from e
    if curve.population != population or curve.pack != pack or curve.tta != tta:
        raise ModelLoadError(
            f"{path}: holds the {curve.pack}/{curve.tta}/{curve.population} curve, expected "
            f"{pack}/{tta}/{population}; run scripts/calibrate.py again"
        )
    return curve


def save_curve(curve: CalibrationCurve, path: Path) -> None:
    path.write_text(json.dumps(curve.model_dump(), indent=1) + "\n")


@dataclass(frozen=True)
class OperatingPoint:
    """The match threshold in force and why."""

    threshold: float
    gallery_size: int  # templates
    target_fpir: float | None
    expected_fpir: float | None  # from the curve; None when no curve applies
    source: PointSource
    persons: int | None = None
    effective_size: float | None = None  # chances to name a stranger, counted per person
    population: Population | None = None
    curve: str | None = None  # the curve's label (CalibrationCurve.label); None without one

    def _counted(self) -> str:
        """``5,742 persons (5,900 templates, counted 5,880; east_asian curve faces_...)``."""
        parts = [f"{self.gallery_size:,} templates"]
        if self.effective_size is not None and self.persons != self.gallery_size:
            parts[0] += f", counted {self.effective_size:,.0f}"
        if self.curve is not None:
            sets = _without_counts(self.curve.split(": ", 1)[-1])
            parts.append(f"{self.population} curve {sets}")
        if self.persons is None:
            return "; ".join(parts)
        return f"{self.persons:,} persons ({'; '.join(parts)})"

    def why(self) -> str:
        """One line for the log and the status: where the threshold comes from."""
        if self.source == "configured":
            cost = (
                f"; expected FPIR {self.expected_fpir:.2g} at {self._counted()}"
                if self.expected_fpir is not None
                else ""
            )
            return (
                f"match_threshold {self.threshold:.3f} set in the config (overrides "
                f"target_fpir{cost})"
            )
        if self.source == "fixed":
            whose = f"{self.population} " if self.population else ""
            return (
                f"no {whose}calibration curve for this pack: fixed threshold "
                f"{self.threshold:.3f}, false-match rate not measured here"
            )
        return (
            f"target FPIR {self.target_fpir:g} at {self._counted()} -> threshold "
            f"{self.threshold:.3f} (expected FPIR {self.expected_fpir:.2g})"
        )


def _without_counts(source: str) -> str:
    """The development sets of a curve's source without their parenthesised counts."""
    return re.sub(r"\s*\([^)]*\)", "", source)


def operating_point(
    curve: CalibrationCurve | None,
    *,
    gallery_size: int | GallerySize,
    target_fpir: float,
    configured: float | None,
    fixed: float,
    population: Population | None = None,
) -> OperatingPoint:
    """The configured threshold if any, else the curve's for this gallery, else ``fixed``.
    A number for ``gallery_size`` means that many persons with one template each."""
    size = (
        gallery_size if isinstance(gallery_size, GallerySize) else GallerySize.singles(gallery_size)
    )
    if curve is None:
        threshold = configured if configured is not None else fixed
        source: PointSource = "configured" if configured is not None else "fixed"
        return OperatingPoint(
            threshold, size.templates, target_fpir, None, source, size.persons, None, population
        )
    threshold = configured if configured is not None else curve.threshold_for(size, target_fpir)
    return OperatingPoint(
        threshold,
        size.templates,
        target_fpir,
        curve.fpir(size, threshold),
        "configured" if configured is not None else "calibration",
        size.persons,
        curve.effective_size(size, threshold),
        curve.population,
        curve.label,
    )
