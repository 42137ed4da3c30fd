"""Per-person counting: a gallery's persons and their template counts, and how much a person's
k templates add to a stranger's chance of being named (measured by scripts/calibrate.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass(frozen=True)
class GallerySize:
    """What the open-set risk of a gallery depends on: its persons and their template counts."""

    persons: int
    templates: int
    histogram: tuple[tuple[int, int], ...]  # (templates per person k, persons with k), k rising

    @classmethod
    def of_counts(cls, counts: Iterable[int]) -> GallerySize:
        """From each person's template count."""
        hist: dict[int, int] = {}
        for k in counts:
            if k < 1:
                raise ValueError(f"a person has at least one template, got {k}")
            hist[k] = hist.get(k, 0) + 1
        return cls.of_histogram(hist)

    @classmethod
    def of_histogram(cls, hist: Mapping[int, int]) -> GallerySize:
        """From {templates per person: persons}."""
        if any(k < 1 or n < 0 for k, n in hist.items()):
            raise ValueError(f"histogram needs k >= 1 and counts >= 0, got {dict(hist)}")
        rows = tuple(sorted((k, n) for k, n in hist.items() if n))
        return cls(sum(n for _, n in rows), sum(k * n for k, n in rows), rows)

    @classmethod
    def singles(cls, persons: int) -> GallerySize:
        """``persons`` persons with one template each."""
        if persons < 0:
            raise ValueError(f"gallery_size must be >= 0, got {persons}")
        return cls.of_histogram({1: persons})

    def plus(self, templates: int) -> GallerySize:
        """This gallery and one more person with ``templates`` templates."""
        hist = dict(self.histogram)
        hist[templates] = hist.get(templates, 0) + 1
        return GallerySize.of_histogram(hist)


class PerPersonCount(BaseModel):
    """How much a person's k templates add to a stranger's chance of being named: a person counts
    k ** a chances (1 template: 1; independent templates: k; identical ones: 1), where a depends
    on how deep in the tail the threshold is: measured per single-template FAR level and
    interpolated in log FAR (held at the end values beyond the measured levels)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    far_levels: tuple[float, ...] = Field(description="Single-template FAR levels, falling.")
    exponents: tuple[float, ...] = Field(description="a fitted at each level.")
    k: tuple[int, ...] = Field(description="Templates per person measured.")
    persons: tuple[int, ...] = Field(description="Development persons with at least k photos.")
    measured: tuple[tuple[float, ...], ...] = Field(
        description="Per level, per k: FAR of the best of k templates / mean single-template FAR."
    )
    hits: tuple[tuple[int, ...], ...] = Field(description="Per level, per k: strangers passing.")

    @model_validator(mode="after")
    def _table_consistent(self) -> PerPersonCount:
        n = len(self.far_levels)
        if n < 1 or len(self.exponents) != n or len(self.measured) != n or len(self.hits) != n:
            raise ValueError("far_levels, exponents, measured and hits need one entry per level")
        if any(b >= a for a, b in zip(self.far_levels, self.far_levels[1:], strict=False)):
            raise ValueError("far_levels must fall")
        if any(not 0 <= a <= 1 for a in self.exponents):
            raise ValueError("exponents must be in [0, 1]")
        if len(self.k) != len(self.persons) or any(
            len(row) != len(self.k) for row in (*self.measured, *self.hits)
        ):
            raise ValueError("every row has one value per k")
        return self

    def exponent(self, far: float) -> float:
        """a at a single-template FAR of ``far``."""
        x = [math.log10(f) for f in self.far_levels[::-1]]  # rising
        return float(np.interp(math.log10(max(far, 1e-300)), x, self.exponents[::-1]))

    def count(self, k: int, far: float) -> float:
        """Chances to name a stranger that a person with ``k`` templates gives at ``far``."""
        return float(k) ** self.exponent(far)


def fit_exponent(k: Iterable[int], effective: Iterable[float], weight: Iterable[float]) -> float:
    """Least-squares a in log(effective) = a log(k), weighted; clipped to [0, 1]."""
    lk = np.log(np.asarray(list(k), np.float64))
    le = np.log(np.maximum(np.asarray(list(effective), np.float64), 1e-9))
    w = np.asarray(list(weight), np.float64)
    den = float((w * lk * lk).sum())
    if den <= 0:
        raise ValueError("fit_exponent needs some k > 1 with a positive weight")
    return float(np.clip((w * lk * le).sum() / den, 0.0, 1.0))
