"""Plug released code into each graded answer of one lesson and report which test cells it passes.

Run as `python tests/plug_in.py LESSON [EXTRA.py ...]`; prints one JSON object per line. The functions of
each EXTRA file join the candidates (the test of this harness plants a correct answer there). The reference exercise runs
cell by cell in one namespace; after each answer cell that a test cell follows, every function and
class of the `course` package and of the released labs that accepts the answer's required arguments
takes the answer's place in a copy of the namespace (the models and tensors the test cell names deep-copied),
and the test cell (its hidden tests included) runs against it. Platform modules (command line, set-up, checking,
notebook running, data builders) are left out: they hold no lesson computation and some install packages or write files.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib
import inspect
import io
import json
import linecache
import os
import pkgutil
import signal
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = {"colab", "colab_install", "check", "notebooks", "preload", "quiet", "progress", "errors", "environ",
            "syllabus", "reach", "interactive"}
TIMEOUT_S = 60


def course_callables() -> dict[str, object]:
    """Every function and class defined in a lesson module of `course`, by dotted name."""
    import course

    found = {}
    for info in pkgutil.walk_packages(course.__path__, "course."):
        short = info.name.split(".")[-1]
        if short in PLATFORM or short.startswith("make_"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == info.name and not name.startswith("_"):
                found[f"{info.name}.{name}"] = obj
    return found


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def lab_callables() -> dict[str, object]:
    """Every top-level function and class of the released labs, defined after the lab's own imports."""
    found = {}
    for lab in sorted((ROOT / "lessons").glob("*/lab.ipynb")):
        namespace: dict = {}
        trees = []
        for cell in _cells(lab):
            if cell["cell_type"] != "code":
                continue
            try:
                trees.append(ast.parse(_source(cell)))
            except SyntaxError:  # a line of shell or magic
                continue
        for tree in trees:
            for node in tree.body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    try:
                        exec(compile(ast.Module([node], []), str(lab), "exec"), namespace)
                    except Exception:
                        pass
        for tree in trees:
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    try:
                        exec(compile(ast.Module([node], []), str(lab), "exec"), namespace)
                    except Exception:
                        continue
                    found[f"{lab.parent.name}/lab.ipynb:{node.name}"] = namespace[node.name]
    return found


def required_arguments(answer) -> int:
    """How many positional arguments the answer needs."""
    params = inspect.signature(answer).parameters.values()
    return sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


def fits(candidate, n: int) -> bool:
    try:
        inspect.signature(candidate).bind(*range(n))
    except (TypeError, ValueError):
        return False
    return True


def _alarm(*_):
    raise TimeoutError(f"a test cell ran longer than {TIMEOUT_S} s")


def run_cell(source: str, name: str, namespace: dict) -> None:
    """Execute a cell's source, kept in linecache so that `inspect.getsource` finds what it defines (as in a kernel)."""
    filename = f"<cell {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    with contextlib.redirect_stdout(io.StringIO()):  # this script's own output is the report
        exec(compile(source, filename, "exec"), namespace)


def isolated(source: str, namespace: dict) -> dict:
    """A copy of namespace in which the models and tensors the cell names are deep copies.

    A candidate may change a model in place (add adapters, quantize it); the notebook's own must reach
    the next cells as the reference left them.
    """
    import torch

    names = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    return {k: _copy(v) if k in names and isinstance(v, (torch.nn.Module, torch.Tensor)) else v
            for k, v in namespace.items()}


def _copy(value):
    try:
        return copy.deepcopy(value)
    except RuntimeError:  # a tensor inside an autograd graph: torch copies leaves only
        return value


def passes(source: str, name: str, namespace: dict) -> bool:
    """Whether the test cell runs to its end in an isolated copy of namespace."""
    signal.alarm(TIMEOUT_S)
    try:
        run_cell(source, name, isolated(source, namespace))
        return True
    except BaseException:  # an answer may raise anything, SystemExit included
        return False
    finally:
        signal.alarm(0)


def file_callables(path: Path) -> dict[str, object]:
    """The top-level functions and classes of a Python file."""
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return {f"{path.name}:{name}": obj for name, obj in namespace.items() if inspect.isfunction(obj) or inspect.isclass(obj)}


def main(lesson: str, extra: list[str]) -> None:
    warnings.simplefilter("ignore")
    os.chdir(ROOT / "solutions" / lesson)
    signal.signal(signal.SIGALRM, _alarm)
    candidates = {**course_callables(), **lab_callables()}
    for path in extra:
        candidates.update(file_callables(Path(path)))
    cells = [c for c in _cells(ROOT / "solutions" / lesson / "exercise.ipynb") if c["cell_type"] == "code"]
    meta = [c["metadata"].get("nbgrader", {}) for c in cells]
    last = max(i for i in range(len(cells) - 1) if meta[i].get("solution") and meta[i + 1].get("grade"))
    namespace: dict = {}
    for i, cell in enumerate(cells[:last + 2]):
        source = _source(cell)
        name = meta[i].get("grade_id", str(i))
        if not (meta[i].get("grade") and i > 0 and meta[i - 1].get("solution")):
            run_cell(source, name, namespace)
            continue
        answers = [node.name for node in ast.parse(_source(cells[i - 1])).body
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        reference_passes = passes(source, name, namespace)
        for answer in answers:
            n = required_arguments(namespace[answer])
            fitting = {label: c for label, c in candidates.items() if fits(c, n)}
            passed = [label for label, c in fitting.items() if passes(source, name, {**namespace, answer: c})]
            print(json.dumps({"test": name, "answer": answer, "reference_passes": reference_passes,
                              "tried": len(fitting), "passed": passed}), flush=True)
        run_cell(source, name, namespace)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
