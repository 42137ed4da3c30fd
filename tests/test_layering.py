"""The import table of DESIGN.md, enforced: which package may import which."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"contract", "models", "edge", "enroll", "server", "gatewatch", "scripts", "tests"}
ALLOWED = {
    "contract": set(),
    "models": {"contract"},
    "edge": {"models", "contract"},
    "enroll": {"models", "contract"},
    "server": {"models", "contract"},
}
# Outside libraries a package may use, where the table limits them: the contract is pydantic,
# plus the clients of its wires that edge, server and enroll share without importing each other:
# PyYAML (the one config loader), paho-mqtt (the one MQTT client factory) and httpx (the one
# client of the HTTP API).
THIRD_PARTY = {"contract": {"pydantic", "yaml", "paho", "httpx"}}


def top_level_imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path`` (also ``import_module("x")``)."""

    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value).split(".")[0])
    return found


def imported_packages(path: Path) -> set[str]:
    """The project's packages ``path`` imports."""
    return top_level_imports(path) & PROJECT


def outside_libraries(path: Path) -> set[str]:
    """What ``path`` imports that is neither the project nor the standard library."""
    return top_level_imports(path) - PROJECT - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_design_allows(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    bad = {
        str(f.relative_to(ROOT)): sorted(imported_packages(f) - ALLOWED[package] - {package})
        for f in files
    }
    assert {f: b for f, b in bad.items() if b} == {}


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import server.api\nfrom edge import loop\nimport numpy\n")
    assert imported_packages(f) == {"server", "edge"}


@pytest.mark.parametrize("package", sorted(THIRD_PARTY))
def test_package_uses_only_the_libraries_the_design_allows(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    bad = {
        str(f.relative_to(ROOT)): sorted(outside_libraries(f) - THIRD_PARTY[package]) for f in files
    }
    assert {f: b for f, b in bad.items() if b} == {}


def test_the_checker_sees_an_outside_library(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("import os\nimport numpy as np\nfrom paho.mqtt import client\nimport contract\n")
    assert outside_libraries(f) == {"numpy", "paho"}
    assert outside_libraries(f) - THIRD_PARTY["contract"] == {"numpy"}
