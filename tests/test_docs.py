"""The documents a user reads: a short front door, one README per lesson, links that lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from course.syllabus import LESSONS

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("solutions/*/README.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_front_door_is_short():
    assert (ROOT / "README.md").stat().st_size < 15_000


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_has_a_readme_that_the_front_door_links(lesson):
    readme = ROOT / "solutions" / lesson / "README.md"
    assert readme.read_text().startswith(f"# {lesson[:2]} "), readme
    assert f"](lessons/{lesson}/README.md)" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_a_file(document):
    targets = [t for t in LINK.findall(document.read_text()) if "://" not in t]
    missing = [t for t in targets if not (document.parent / t).exists()]
    assert not missing, f"{document.relative_to(ROOT)}: {missing}"


PATH_IN_CODE = re.compile(r"`((?:course|autograder|tests|benchmarks|solutions|docs)/[\w./-]+)`")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_a_document_names_exist(document):
    named = {p for p in PATH_IN_CODE.findall(document.read_text()) if not re.search(r"NN|slug|CARD", p)}
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"{document.relative_to(ROOT)}: {missing}"
