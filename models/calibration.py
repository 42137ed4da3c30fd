"""Open-set operating point: the match threshold that keeps strangers from being named.

A stranger is named when their best gallery score passes the threshold. With a per-comparison
false-accept rate FAR(t) measured on impostor pairs of a development set, the share of strangers
named by a gallery of N templates is FPIR(N, t) = 1 - (1 - FAR(t))^N (each template an independent
chance to match). So for a target FPIR the threshold is the t where FAR(t) = 1 - (1 - FPIR)^(1/N):
a gallery that grows needs a higher threshold.

FAR(t) is the empirical rate down to the top ``tail_share`` of impostor scores; beyond it (where a
33,000-person gallery needs rates near 1e-7, far below what any development set can count) it is
extrapolated with an exponential tail, FAR(t) = q * exp(-(t - u) / beta), fitted to the scores above
u (the generalised Pareto tail with shape 0; the fitted shape on faces_wide_dev was +0.016, i.e.
exponential). ``scripts/bench_accuracy.py`` checks the formula against real galleries of other
people and the tail against held-out pairs; the README states the numbers.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.errors import ModelLoadError

log = logging.getLogger(__name__)

CURVE_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_TAIL_SHARE = 1e-3
# The share of strangers a gate may name as someone (NIST FRTE's usual operating point).
DEFAULT_TARGET_FPIR = 0.003
GRID_STEP = 0.01
Tta = Literal["none", "flip"]
PointSource = Literal["calibration", "configured", "fixed"]


class ExponentialTail(BaseModel):
    """FAR(t) = share * exp(-(t - start) / scale) for t above ``start``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: float = Field(description="Threshold u where the tail begins (a score quantile).")
    share: float = Field(gt=0, lt=1, description="q: share of impostor scores above start.")
    scale: float = Field(gt=0, description="beta: mean excess of the scores above start.")

    def far(self, t: float) -> float:
        return self.share * math.exp(-(t - self.start) / self.scale)

    def inverse(self, far: float) -> float:
        return self.start + self.scale * math.log(self.share / far)


class CalibrationCurve(BaseModel):
    """False-accept rate per comparison as a function of threshold, for one pack and TTA mode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: str
    tta: Tta
    source: str = Field(description="Development set(s) the impostor pairs came from.")
    impostor_pairs: int = Field(gt=0)
    method: str = Field(description="How FAR is extrapolated beyond the measured range.")
    grid: tuple[float, ...] = Field(description="Thresholds, increasing, all below tail.start.")
    far_grid: tuple[float, ...] = Field(description="Measured FAR at each grid threshold.")
    tail: ExponentialTail
    floor: float = Field(
        description="Never below this (the pack's one-to-one threshold): tiny galleries keep it."
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

    def fpir(self, gallery_size: int, threshold: float) -> float:
        """Expected share of strangers named by a gallery of ``gallery_size`` templates."""
        return float(-math.expm1(max(gallery_size, 1) * math.log1p(-self.far(threshold))))

    def threshold_for(self, gallery_size: int, target_fpir: float) -> float:
        """Lowest threshold (not below the floor) whose expected FPIR is at most the target."""
        if not 0 < target_fpir < 1:
            raise ValueError(f"target_fpir must be in (0, 1), got {target_fpir}")
        if gallery_size < 0:
            raise ValueError(f"gallery_size must be >= 0, got {gallery_size}")
        far = -math.expm1(math.log1p(-target_fpir) / max(gallery_size, 1))
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
        start=start, share=len(above) / len(s), scale=float(np.mean(above - start))
    )
    lo = math.floor(float(np.quantile(s, 0.5)) / GRID_STEP) * GRID_STEP
    grid = [round(t, 4) for t in np.arange(lo, start, GRID_STEP)]
    far = [float(len(s) - np.searchsorted(s, t, side="left")) / len(s) for t in grid]
    return CalibrationCurve(
        pack=pack,
        tta=tta,
        source=source,
        impostor_pairs=len(s),
        method=(
            f"measured FAR below the top {tail_share:g} of impostor scores; above it an "
            "exponential tail (generalised Pareto, shape 0) fitted by its mean excess; "
            "FPIR(N, t) = 1 - (1 - FAR(t))^N"
        ),
        grid=tuple(grid),
        far_grid=tuple(far),
        tail=tail,
        floor=floor,
    )


def curve_path(pack: str, tta: Tta, folder: Path = CURVE_DIR) -> Path:
    return folder / f"calibration_{pack}{'_flip' if tta == 'flip' else ''}.json"


def load_curve(pack: str, tta: Tta, pack_dir: Path | None = None) -> CalibrationCurve | None:
    """The curve for this pack and TTA mode: from an operator pack's own folder (written there by
    scripts/calibrate.py), else the one shipped in the package; None when none was measured."""
    own = curve_path(pack, tta, pack_dir) if pack_dir is not None else None
    path = own if own is not None and own.is_file() else curve_path(pack, tta)
    if not path.is_file():
        return None
    try:
        return CalibrationCurve.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as e:
        raise ModelLoadError(f"{path}: not a valid calibration curve: {e}") from e


def save_curve(curve: CalibrationCurve, path: Path) -> None:
    path.write_text(json.dumps(curve.model_dump(), indent=1) + "\n")


@dataclass(frozen=True)
class OperatingPoint:
    """The match threshold in force and why."""

    threshold: float
    gallery_size: int
    target_fpir: float | None
    expected_fpir: float | None  # from the curve; None when no curve applies
    source: PointSource

    def why(self) -> str:
        """One line for the log and the status: where the threshold comes from."""
        if self.source == "configured":
            return f"match_threshold {self.threshold:.3f} set in the config (overrides target_fpir)"
        if self.source == "fixed":
            return (
                f"no calibration curve for this pack: fixed threshold {self.threshold:.3f}, "
                "false-match rate not measured here"
            )
        return (
            f"target FPIR {self.target_fpir:g} at {self.gallery_size} templates -> threshold "
            f"{self.threshold:.3f} (expected FPIR {self.expected_fpir:.2g}, calibration curve)"
        )


def operating_point(
    curve: CalibrationCurve | None,
    *,
    gallery_size: int,
    target_fpir: float,
    configured: float | None,
    fixed: float,
) -> OperatingPoint:
    """The configured threshold if any, else the curve's for this gallery size, else ``fixed``."""
    expected = None
    if configured is not None:
        if curve is not None:
            expected = curve.fpir(gallery_size, configured)
        return OperatingPoint(configured, gallery_size, target_fpir, expected, "configured")
    if curve is None:
        return OperatingPoint(fixed, gallery_size, target_fpir, None, "fixed")
    t = curve.threshold_for(gallery_size, target_fpir)
    return OperatingPoint(t, gallery_size, target_fpir, curve.fpir(gallery_size, t), "calibration")
