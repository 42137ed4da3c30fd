#!/usr/bin/env python3
"""Fit the open-set calibration curves shipped with the model pack (models/data/*.json).

Usage: python scripts/calibrate.py --faces ../shared/faces_wide_dev [--cache DIR]
       python scripts/calibrate.py --faces DEV_SET --pack buffalo_l --pack-dir /opt/buffalo_l

Impostor pairs are every pair of photos of different people in the development set; the curve is
the measured false-accept rate per comparison with an exponential tail beyond the top 0.1 %
(models/calibration.py states the method). One curve per test-time augmentation mode: for the
shipped sface pack into models/data/, for an operator-supplied pack into its own pack_dir, where
the engine finds it.
Never run this on tests/data: those photos test the product, they do not tune it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.config import FaceConfig  # noqa: E402
from models.calibration import CURVE_DIR, curve_path, fit_curve, save_curve  # noqa: E402
from models.engine import CALIBRATED_THRESHOLD  # noqa: E402
from scripts.openset import embed_ours, impostor_scores  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[1])
    ap.add_argument("--faces", type=Path, required=True, help="development set (not tests/data)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gatewatch_bench_cache"))
    ap.add_argument("--pack", default="sface")
    ap.add_argument("--pack-dir", type=Path, help="an operator-supplied InsightFace pack")
    args = ap.parse_args()
    face = FaceConfig(pack=args.pack, pack_dir=args.pack_dir)
    if "tests" in args.faces.resolve().parts:
        raise SystemExit(f"{args.faces}: test data must not tune the product")
    args.cache.mkdir(parents=True, exist_ok=True)
    s = embed_ours(args.faces, args.cache, face=face)
    out_dir = CURVE_DIR if args.pack_dir is None else args.pack_dir
    for tta, emb in (("none", s), ("flip", s.with_flip_tta())):
        imp = impostor_scores(emb)
        curve = fit_curve(imp, pack=args.pack, tta=tta, source=f"{args.faces.name} "
                          f"({len(set(s.ids))} identities, {int(s.ok.sum())} photos)",
                          floor=CALIBRATED_THRESHOLD[args.pack])  # fmt: skip
        path = curve_path(args.pack, tta, out_dir)
        save_curve(curve, path)
        print(f"{path}: {curve.impostor_pairs} pairs, tail from {curve.tail.start:.4f} "
              f"(share {curve.tail.share:.2g}, scale {curve.tail.scale:.4f}); thresholds at FPIR "
              "0.003: " + ", ".join(f"N={n}: {curve.threshold_for(n, 0.003):.3f}"
                                    for n in (10, 100, 267, 1000, 33000)))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
