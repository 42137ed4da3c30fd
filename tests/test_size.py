"""The size limits of the product code (scripts/check_size.py), and the checker itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts.check_size import MAX_FUNCTION_LINES, MAX_MODULE_LINES, PACKAGES, check

ROOT = Path(__file__).resolve().parents[1]
# All five product packages (was contract, models, enroll while server/ and edge/ were split up).
CHECKED = PACKAGES
assert set(CHECKED) <= set(PACKAGES)


def run_check(root: Path) -> subprocess.CompletedProcess:
    script = str(ROOT / "scripts" / "check_size.py")
    return subprocess.run(
        [sys.executable, script, "contract", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_product_code_is_within_the_limits() -> None:
    assert [str(o) for o in check(CHECKED)] == []


def test_the_script_names_each_offender_and_exits_1(tmp_path: Path) -> None:
    pkg = tmp_path / "contract"
    (pkg / "migrations").mkdir(parents=True)
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (pkg / "long.py").write_text(f"class A:\n    @staticmethod\n    def f():\n{body}")
    (pkg / "fine.py").write_text("def g():\n" + "    pass\n" * (MAX_FUNCTION_LINES - 1))
    (pkg / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (pkg / "migrations" / "huge.py").write_text("x = 1\n" * 1000)  # migrations aside
    r = run_check(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        f"contract/big.py: module has {MAX_MODULE_LINES + 1} lines (limit {MAX_MODULE_LINES})",
        f"contract/long.py: function A.f has {MAX_FUNCTION_LINES + 2} lines "
        f"(limit {MAX_FUNCTION_LINES})",
    ]
    (pkg / "long.py").unlink()
    (pkg / "big.py").unlink()
    r = run_check(tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("ok: contract"), r.stdout + r.stderr
