"""How the code is laid out: imports run one way, from the grader to the students' package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_students_package_never_imports_the_grader():
    offenders = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "course").rglob("*.py"))
                 if "autograder" in imported_packages(p)]
    assert not offenders, offenders


def test_the_grader_does_import_the_students_package():  # the check above reads real imports
    assert "course" in imported_packages(ROOT / "autograder" / "build.py")
