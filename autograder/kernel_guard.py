"""Runs inside the grading kernel, before the student's first cell: a tamper check for the tests.

The hidden tests run in the student's own kernel, so a notebook could make them pass by
replacing what they call: `torch.allclose = lambda *a, **k: True`, a builtin shadowed in the
notebook's namespace, an IPython input transformer that rewrites `assert`, a trace function.
This file records the objects the tests rely on; the grader evaluates `__course_guard__()` before
every graded test cell, which raises TamperingError naming what changed, and that cell then
scores zero with the message. It stops the tampering listed above; code written against this grader's
own source (it is public) can still defeat a check that runs in the student's process.
"""


def _install_course_guard():
    import builtins
    import math
    import os
    import random
    import sys

    import numpy
    import torch
    import torch.nn.functional

    class TamperingError(Exception):
        """The notebook replaced something the grading tests use."""

    ip = get_ipython()  # noqa: F821 (IPython's global in the kernel)
    shadows = {key: ip.user_ns[key] for key in set(ip.user_ns) & set(vars(builtins))}  # IPython's own: open, exit
    watched = {"builtins": builtins, "math": math, "random": random, "numpy": numpy, "torch": torch,
               "torch.nn": torch.nn, "torch.nn.functional": torch.nn.functional, "torch.Tensor": torch.Tensor,
               "torch.nn.Module": torch.nn.Module, "torch.nn.Linear": torch.nn.Linear}
    late = ("torch.testing", "numpy.testing", "peft", "transformers", "trl", "bitsandbytes", "course")
    kept = ("__import__", "__build_class__")
    # IPython puts these in builtins only while a cell runs, and ipykernel sets input anew for every request
    managed = ("exit", "quit", "get_ipython", "input", "display")
    snapshots = {name: (obj, {k: v for k, v in vars(obj).items() if (not k.startswith("_") or k in kept)
                              and not (name == "builtins" and k in managed)})
                 for name, obj in watched.items()}
    library_code = os.path.dirname(os.path.dirname(torch.__file__))  # site-packages

    def replaced(old, new):
        """True unless `new` is `old`, or a library's own wrapper of it (torch._dynamo wraps torch.manual_seed)."""
        code = getattr(new, "__code__", None)
        return new is not old and not (getattr(new, "__wrapped__", None) is old and code is not None
                                        and code.co_filename.startswith(library_code))

    shell_methods = ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "transform_cell", "showtraceback",
                     "should_run_async", "user_expressions")
    hooks = {name: getattr(ip, name) for name in shell_methods}
    kernel_hooks = {name: getattr(ip.kernel, name) for name in ("do_execute", "execute_request")}

    def transformer_lists():
        return [list(ip.input_transformers_cleanup), list(ip.input_transformers_post), list(ip.ast_transformers),
                list(ip.input_transformer_manager.line_transforms),
                list(ip.input_transformer_manager.token_transformers)]

    transformers = transformer_lists()

    def check():
        try:  # reap the notebook's exited children: zombies count against the jail's process limit
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        for name in late:  # libraries imported after the guard: recorded when first seen
            if name not in snapshots and name in sys.modules:
                mod = sys.modules[name]
                snapshots[name] = (mod, {k: v for k, v in vars(mod).items() if not k.startswith("_")})
        changed = [f"{name}.{key}" for name, (obj, snap) in snapshots.items()
                   for key, value in snap.items() if replaced(value, vars(obj).get(key, check))]
        user_ns = ip.user_ns
        if user_ns.get("__builtins__") not in (builtins, vars(builtins)):
            changed.append("__builtins__")
        # a function or class in place of a builtin (isinstance = lambda *a: True); a variable named
        # `max` or `input` cannot make a test pass, so it is left alone
        changed += [f"{key} (shadows the builtin)" for key in set(user_ns) & set(vars(builtins))
                    if callable(user_ns[key]) and user_ns[key] is not getattr(builtins, key)
                    and user_ns[key] is not shadows.get(key) and not key.startswith("_") and key not in managed]
        changed += [f"{key} (no longer the module)" for key, mod in (("torch", torch), ("math", math),
                                                                    ("np", numpy), ("numpy", numpy))
                    if key in user_ns and user_ns[key] is not mod]
        changed += [f"IPython shell.{name}" for name, method in hooks.items() if getattr(ip, name) != method]
        changed += [f"IPython kernel.{name}" for name, method in kernel_hooks.items()
                    if getattr(ip.kernel, name) != method]
        if transformer_lists() != transformers:
            changed.append("IPython input or AST transformers")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            changed.append("a trace or profile function (sys.settrace / sys.setprofile)")
        if changed:
            raise TamperingError(f"the notebook replaced what the tests use: {', '.join(sorted(changed)[:6])}")

    builtins.__course_guard__ = check

    def child_exits_when_it_speaks():
        """A process forked by the notebook (a fork bomb) ends when it would send the grader a message."""
        ip.kernel.session.send = lambda *args, **kwargs: os._exit(0)

    os.register_at_fork(after_in_child=child_exits_when_it_speaks)


_install_course_guard()
del _install_course_guard
