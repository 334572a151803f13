"""The one rule of the layout: ``labeling`` <- ``models`` <- ``pipelines`` <- ``bench``.

A package may import only itself and the packages to its left. The check walks every
import statement of every module (those inside functions too, since a lazy import is still
a dependency) with ``ast``, so it needs no import of the code it checks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["labeling", "models", "pipelines", "bench"]
RANK = {name: i for i, name in enumerate(LAYERS)}

# Upward imports that exist today and are being removed; each entry is (file, package
# imported). The list only shrinks: an entry that no longer matches is an error too, so
# it cannot linger after its import is gone.
ALLOWED: set[tuple[str, str]] = set()


def imported_packages(source: str, filename: str = "<src>") -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``source``."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def upward_imports(package: str, source: str, filename: str = "<src>") -> list[tuple[int, str]]:
    """The imports in a module of ``package`` that reach a layer to its right."""
    rank = RANK[package]
    return [(line, p) for line, p in imported_packages(source, filename) if RANK.get(p, -1) > rank]


def project_modules() -> list[tuple[str, Path]]:
    return [(pkg, f) for pkg in LAYERS for f in sorted((ROOT / pkg).rglob("*.py"))]


def test_no_upward_import() -> None:
    found: set[tuple[str, str]] = set()
    bad = []
    for pkg, path in project_modules():
        rel = path.relative_to(ROOT).as_posix()
        for line, target in upward_imports(pkg, path.read_text(encoding="utf-8"), rel):
            found.add((rel, target))
            if (rel, target) not in ALLOWED:
                allowed = LAYERS[: RANK[pkg] + 1]
                bad.append(f"{rel}:{line} imports {target} ({pkg} may import only {allowed})")
    assert not bad, "upward imports:\n" + "\n".join(bad)
    stale = sorted(ALLOWED - found)
    assert not stale, f"allow-list entries with no import left (remove them): {stale}"


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("labeling", "from models.base import ModelBundle\n", [(1, "models")]),
        ("models", "def f():\n    import pipelines.config\n", [(2, "pipelines")]),
        ("pipelines", "from bench.common import report\n", [(1, "bench")]),
        ("models", "from labeling.codebook import Codebook\nimport numpy\n", []),
        ("bench", "from pipelines import cli\nfrom models import base\n", []),
        ("models", "from . import base\n", []),
    ],
)
def test_checker_sees_upward_imports(package: str, source: str, expected: list) -> None:
    # The rule's own check: an upward import is found, a leftward or relative one is not.
    assert upward_imports(package, source) == expected
