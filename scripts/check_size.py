#!/usr/bin/env python3
"""Size check: no function over 80 lines, no module over 450 lines in the product packages.

Usage: python scripts/check_size.py [PACKAGE ...] [--root DIR]   (default: all of PACKAGES)
Prints each offender (path, what, lines) and exits 1 if there is any; tests and migrations aside.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "models", "edge", "server", "enroll")
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 450
SKIPPED_DIRS = {"migrations", "tests", "__pycache__"}


@dataclass(frozen=True)
class Offender:
    path: str
    what: str  # "module" or the function's qualified name
    lines: int
    limit: int

    def __str__(self) -> str:
        return f"{self.path}: {self.what} has {self.lines} lines (limit {self.limit})"


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.AST]]:
    """Every function and method with its qualified name (Class.method, outer.inner)."""
    found: list[tuple[str, ast.AST]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                found.append((name, node))
            found += _functions(node, name + ".")
        else:
            found += _functions(node, prefix)
    return found


def check_file(path: Path, root: Path = ROOT) -> list[Offender]:
    """The offenders in one Python file."""
    text = path.read_text()
    rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    out = []
    n_lines = len(text.splitlines())
    if n_lines > MAX_MODULE_LINES:
        out.append(Offender(rel, "module", n_lines, MAX_MODULE_LINES))
    for name, node in _functions(ast.parse(text, filename=str(path))):
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])  # type: ignore[attr-defined]
        size = node.end_lineno - first + 1  # type: ignore[attr-defined]
        if size > MAX_FUNCTION_LINES:
            out.append(Offender(rel, f"function {name}", size, MAX_FUNCTION_LINES))
    return out


def check(packages: tuple[str, ...] = PACKAGES, root: Path = ROOT) -> list[Offender]:
    """The offenders in the given packages under ``root``."""
    out: list[Offender] = []
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            if not SKIPPED_DIRS & set(path.relative_to(root).parts):
                out += check_file(path, root)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("packages", nargs="*", default=list(PACKAGES), help=", ".join(PACKAGES))
    ap.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this one)")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.packages) - set(PACKAGES))
    if unknown:
        ap.error(f"not a product package: {', '.join(unknown)}")
    offenders = check(tuple(args.packages), args.root.resolve())
    for o in offenders:
        print(o)
    if offenders:
        print(f"{len(offenders)} over the limits", file=sys.stderr)
        return 1
    print(f"ok: {', '.join(args.packages)} within {MAX_FUNCTION_LINES} lines per function, "
          f"{MAX_MODULE_LINES} per module")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
