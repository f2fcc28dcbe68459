"""The worker's side of `autograder.zygote`: start a slot's zygote, and ask it for kernels.

A worker slot that grades as root starts one zygote, in a jail that keeps root inside it (it needs
to make namespaces and mounts for each kernel), with the lesson's libraries imported. Each kernel
it forks is handed back as a pidfd, wrapped in `ForkedKernel`, which jupyter_client drives as it
drives the process of a kernel it started itself. Without root, or when the zygote cannot start,
kernels start as before, one jail each.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

from nbformat import NotebookNode

from autograder.sandbox import Jail

SOURCE = (Path(__file__).parent / "zygote.py").read_text()
ALWAYS = ("ipykernel.kernelapp", "ipykernel.ipkernel", "course.preload")  # every grading kernel imports these
READY_TIMEOUT_S = 120
SPAWN_TIMEOUT_S = 60


def lesson_imports(notebook: NotebookNode) -> list[str]:
    """The modules a lesson's notebook imports, and those the `course` modules it imports import, anywhere."""
    found: set[str] = set()
    sources = [c.source for c in notebook.cells if c.cell_type == "code"]
    seen: set[str] = set()
    while sources:
        source = "\n".join(line for line in sources.pop().splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                found.add(name)
                if name.split(".")[0] == "course" and name not in seen:
                    seen.add(name)
                    spec = importlib.util.find_spec(name)
                    if spec and spec.origin and spec.origin.endswith(".py"):
                        sources.append(Path(spec.origin).read_text())
    return sorted(found - {"__future__"})


class Zygote:
    """A running zygote: its process, the control socket, and the slot folder it forks kernels into."""

    def __init__(self, process: subprocess.Popen, control: socket.socket, folder: Path) -> None:
        self.process, self.control, self.folder = process, control, folder

    @classmethod
    def start(cls, jail: Jail, modules: list[str], log: Path) -> tuple[Zygote | None, str]:
        """Start one in `jail` (its workdir is the slot folder) with `modules` imported: (zygote, why not)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with open(log, "ab") as err:
            process = subprocess.Popen([*jail.command(keep_root=True), sys.executable, "-c", SOURCE, str(jail.workdir),
                                        json.dumps([*ALWAYS, *modules])], stdin=theirs, stdout=err, stderr=err,
                                       env=jail.env(dict(os.environ)), cwd=jail.workdir)
        theirs.close()
        if not select.select([ours], [], [], READY_TIMEOUT_S)[0]:
            process.kill()
            process.wait()
            return None, f"no answer in {READY_TIMEOUT_S} s"
        answer = json.loads(ours.recv(1 << 16) or b'{"refused": "it ended"}')
        if "ready" not in answer:
            process.kill()
            process.wait()
            return None, answer["refused"]
        return cls(process, ours, jail.workdir), ""

    def spawn(self, argv: list[str], env: dict[str, str], cwd: Path, uid: int, tmp_size: int) -> ForkedKernel:
        """A kernel forked by the zygote, working in `cwd` (a folder of the slot's) as `uid`."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(SPAWN_TIMEOUT_S)
        request = {"argv": argv, "env": env, "cwd": str(cwd), "uid": uid, "tmp_size": tmp_size}
        socket.send_fds(self.control, [json.dumps(request).encode()], [theirs.fileno(), 1, 2])
        theirs.close()
        message, fds, _, _ = socket.recv_fds(ours, 1 << 16, 1)
        answer = json.loads(message or b'{"error": "the zygote ended"}')
        if "error" in answer or not fds:
            raise RuntimeError(f"the zygote could not start a kernel: {answer.get('error')}")
        ours.settimeout(None)
        return ForkedKernel(ours, fds[0])

    def stop(self) -> None:
        self.control.close()
        self.process.kill()
        self.process.wait()


class ForkedKernel:
    """A kernel the zygote forked, with the part of subprocess.Popen's interface jupyter_client uses."""

    stdin = stdout = stderr = None

    def __init__(self, conn: socket.socket, pidfd: int) -> None:
        self.conn, self.pidfd, self.returncode = conn, pidfd, None
        fdinfo = Path(f"/proc/self/fdinfo/{pidfd}").read_text()
        self.pid = int(next(line.split()[1] for line in fdinfo.splitlines() if line.startswith("Pid:")))

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = -signal.SIGKILL  # until the zygote says otherwise
            if select.select([self.conn], [], [], 1)[0]:
                message = self.conn.recv(1 << 12)
                self.returncode = json.loads(message).get("exit", self.returncode) if message else self.returncode
            os.close(self.pidfd)
            self.conn.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            select.select([self.pidfd], [], [], timeout)
        return self.poll()

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            signal.pidfd_send_signal(self.pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)
