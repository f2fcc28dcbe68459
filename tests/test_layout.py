"""How the code is laid out: imports run one way, from the grader to the students' package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from course.syllabus import LAB_ONLY, LESSONS

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


SIZED = ["full_fine_tuning", "soft_prompting", "prefix_tuning", "adapters", "alignment", "rag_vs_fine_tuning",
         "distillation", "capstone", "alignment_stability", "known_unknown"]


def test_each_lesson_sizes_its_lab_in_one_table_of_named_fields():
    import dataclasses
    import importlib

    from course.profiles import PROFILES

    for name in SIZED:
        sizes = importlib.import_module(f"course.lessons.{name}").SIZES
        assert set(sizes) == set(PROFILES), name
        assert all(dataclasses.is_dataclass(s) and type(s).__name__ == "Sizes" for s in sizes.values()), name


def test_no_lab_computes_its_sizes_from_the_profile_name():
    for lab in sorted(ROOT.glob("solutions/*/lab.ipynb")):
        text = lab.read_text()
        assert '{\\"smoke\\"' not in text and '.get(profile.name' not in text, lab


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_name_runs_through_its_helper_tests_and_readme(lesson):
    number, slug = lesson[:2], lesson[3:].replace("-", "_")
    helper = ROOT / "course" / "lessons" / slug
    assert helper.with_suffix(".py").is_file() or (helper / "__init__.py").is_file(), helper
    assert (ROOT / "tests" / f"test_{number}_{slug}.py").is_file()
    assert (ROOT / "tests" / f"test_{number}_{slug}_lab.py").is_file() or lesson in LAB_ONLY
    assert (ROOT / "solutions" / lesson / "README.md").is_file()
