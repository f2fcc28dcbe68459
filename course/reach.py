"""Hidden tests keep the library they compare with out of the student's reach while the student's code runs.

`with out_of_reach("peft.tuners.prefix_tuning.model.PrefixEncoder.forward"): mine = student_fn(...)`
makes each named function raise, so an answer that hands the work to the reference library fails the
test that compares with it. A Python function gets the trap's code in place of its own, so a name the
student imported earlier (`from bitsandbytes.functional import quantize_4bit`) reaches the same trap;
anything else (an operator of `torch.ops`) is replaced where the path names it.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Iterator
from unittest import mock


class ReferenceCalled(AssertionError):
    """The student's code called the library that its hidden test compares with."""


def _message(target: str) -> str:
    return f"your code calls {target}, the reference this test compares with: write the computation yourself"


def _trap(target: str):
    def called(*args, **kwargs):
        raise ReferenceCalled(_message(target))

    return called


def _trap_code(target: str):
    """Code that raises, for a function without free variables; it runs in that function's module, so builtins only."""
    namespace: dict = {}
    exec(f"def called(*args, **kwargs):\n    raise AssertionError({_message(target)!r})", namespace)
    return namespace["called"].__code__


def _owner(path: str) -> object:
    """The object a dotted path names, read attribute by attribute from its top package (as a user's code sees it)."""
    first, *rest = path.split(".")
    obj = importlib.import_module(first)
    for i, part in enumerate(rest):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join([first, *rest[:i + 1]]))
    return obj


@contextlib.contextmanager
def out_of_reach(*targets: str) -> Iterator[None]:
    """Within the block, calling any of `targets` (dotted paths to functions or methods) raises ReferenceCalled."""
    with contextlib.ExitStack() as stack:
        for target in targets:
            owner, name = target.rsplit(".", 1)
            owner = _owner(owner)
            try:
                function = inspect.getattr_static(owner, name)
            except AttributeError:  # made on first access, as torch.ops' operators are
                function = getattr(owner, name)
            function = getattr(function, "__func__", function)  # a staticmethod or classmethod holds the function
            if inspect.isfunction(function) and not function.__code__.co_freevars:
                stack.callback(setattr, function, "__code__", function.__code__)
                function.__code__ = _trap_code(target)
            else:
                stack.enter_context(mock.patch.object(owner, name, new=_trap(target)))
        yield
