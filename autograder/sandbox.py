"""The jail a submission's kernel runs in: bubblewrap namespaces plus resource limits.

The kernel (the only process that runs student code) is started as

    prlimit --as --nproc --fsize --core --nofile -- bwrap [namespaces, read-only binds] -- [setpriv] python -m ipykernel

so it sees a filesystem that holds the Python install, the `course` package, the model cache
and its own working folder, and nothing else: no `solutions/`, no gradebook, no other student.
It has no network (a new network namespace holds only loopback), its own process ids (a fork
bomb dies with the jail) and, when the grader runs as root, a user id of its own per worker
slot, so that the process limit counts only its own processes. The grader talks to it through
Unix sockets in a folder bound into the jail (ZeroMQ's ipc transport), since TCP on the
grader's loopback is not reachable from inside a network namespace.

Grading as root, a worker's kernels are forked instead by the worker's zygote
(`autograder.zygote`), a process in such a jail that has imported the lesson's libraries once;
each kernel it forks gets the same view, limits and user id, in namespaces of its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jupyter_client.manager import AsyncKernelManager

from autograder.config import CELL_TIMEOUT_S
from course.errors import CourseError
from course.units import GiB, MiB

if TYPE_CHECKING:
    from autograder.forked_kernel import Zygote

# The first user id of the jails when grading as root: worker slot k runs as UID_BASE + k.
UID_BASE = 61000
# Environment variables the kernel keeps (prefixes); everything else, tokens included, is dropped.
KEPT_ENV = ("LANG", "LC_", "TZ", "NBGRADER_", "COURSE_", "OMP_", "MKL_", "OPENBLAS_", "TOKENIZERS_", "TRL_",
            "TRANSFORMERS_", "HF_", "PYTHONHASHSEED", "PYTHONWARNINGS", "PYDEVD_")


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Times in seconds, sizes in bytes."""

    cell_timeout: int = CELL_TIMEOUT_S
    notebook_timeout: int = 900
    memory: int = 10 * GiB  # address space per kernel process (RLIMIT_AS); the heaviest reference (08) peaks at 7.0 GB
    processes: int = 256  # processes and threads of the jail's user (RLIMIT_NPROC)
    output: int = 2 * MiB  # printed output kept per notebook; the rest is dropped with a note
    file_size: int = 256 * MiB  # largest file the kernel may write (RLIMIT_FSIZE)
    tmp_size: int = 512 * MiB  # the jail's private /tmp (a tmpfs)


@dataclass
class Jail:
    """How to start one kernel inside the sandbox."""

    limits: Limits
    workdir: Path  # the submission's folder: the only host folder the kernel may write
    runtime_dir: Path  # connection file and ipc sockets, shared with the grader
    uid: int | None = None  # run as this user (grading as root); None: keep the caller's
    read_only: list[Path] = field(default_factory=list)  # extra host folders to show, read-only
    peak_rss: int = 0  # the kernel's peak memory, as last measured
    cpus: list[int] = field(default_factory=list)  # the CPUs the kernel may run on, as last measured
    killed: int = 0  # processes the kernel started that were killed when a cell ran past its limit
    forked: bool = False  # the kernel was forked by the zygote (else started in a jail of its own)
    bwrap: str | None = field(default_factory=lambda: shutil.which("bwrap"))
    zygote: Zygote | None = None  # the slot's zygote: kernels are forked by it instead of started

    def command(self, keep_root: bool = False) -> list[str]:
        """The prefix that puts the kernel command in the jail (keep_root: a zygote's, grading as root)."""
        lim = self.limits
        # SIGINT, which interrupts a cell, goes to the whole process group: bubblewrap must not die of it
        # (ipykernel installs its own handler while a cell runs)
        prefix = ["env", "--ignore-signal=INT", "prlimit", f"--as={lim.memory}", f"--nproc={lim.processes}", f"--fsize={lim.file_size}",
                  "--core=0", "--nofile=1024", "--"]
        if self.bwrap is None:
            return prefix
        if self.uid is None:  # unprivileged: bubblewrap makes a user namespace
            ns = ["--unshare-all", "--die-with-parent"]
        else:  # root: no user namespace, so that setpriv's user id is a real one that RLIMIT_NPROC counts
            ns = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                  "--die-with-parent", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            if keep_root:  # the zygote makes each kernel's namespaces and mounts, then drops its bounding set
                ns += ["--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"]
        args = [self.bwrap, *ns, "--ro-bind", "/usr", "/usr"]
        for top in ("bin", "sbin", "lib", "lib32", "lib64"):
            host = Path("/") / top
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                args += ["--ro-bind", str(host), str(host)]
        args += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(lim.tmp_size), "--tmpfs", "/tmp",
                 # shared memory, as a machine has it: POSIX semaphores live there (joblib, imported by
                 # sentence-transformers, warns on stderr without them)
                 "--perms", "1777", "--size", str(lim.tmp_size), "--tmpfs", "/dev/shm"]
        binds = [("--ro-bind", p) for p in self._python_paths() + self.read_only]
        binds += [("--bind", p) for p in dict.fromkeys([self.workdir, self.runtime_dir])]
        made: set[Path] = {Path("/"), Path("/tmp")}
        for flag, path in binds:
            for parent in reversed(path.parents):  # bubblewrap makes missing parents 0700: open them
                if parent not in made and not str(parent).startswith("/usr"):
                    args += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            args += [flag, str(path), str(path)]
            made.add(path)
        args += ["--chdir", str(self.workdir)]
        if self.uid is not None and not keep_root:
            args += ["--", "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all"]
        return [*prefix, *args, "--"]

    def hand_over(self) -> None:
        """Give the jail's user the working folder and the socket folder (grading as root)."""
        if self.uid is None:
            return
        for folder in (self.workdir, self.runtime_dir):
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, self.uid, self.uid, follow_symlinks=False)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """The kernel's environment: the kept variables, a private HOME, and the course's model cache."""
        kept = {k: v for k, v in env.items() if k.startswith(KEPT_ENV)}
        return {**kept, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLCONFIGDIR": "/tmp/mpl",
                # pyarrow (under datasets) starts no jemalloc thread: a zygote with a thread cannot fork kernels
                "JE_ARROW_MALLOC_CONF": "background_thread:false"}

    def _python_paths(self) -> list[Path]:
        """The Python install, the virtual environment and the `course` package, outside /usr."""
        import course

        paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(course.__file__).resolve().parent}
        return sorted(p for p in paths if not str(p).startswith("/usr/"))


def probe(uid: int | None) -> list[str]:
    """What the sandbox cannot enforce on this machine, one line each (empty: everything holds)."""
    missing = []
    if shutil.which("prlimit") is None:
        raise CourseError("prlimit not found (util-linux): cannot limit memory or processes")
    if shutil.which("bwrap") is None:
        missing.append("bubblewrap (bwrap) is not installed: submissions can read every file this user can, "
                       "and reach the network (install it: apt-get install bubblewrap)")
    if uid is None:
        missing.append("not running as root: every worker's kernel runs as this user, so the process limit "
                       "(RLIMIT_NPROC) counts all of this user's processes together")
    elif shutil.which("setpriv") is None:
        raise CourseError("setpriv not found (util-linux): cannot drop root in the jail")
    return missing


def _processes() -> dict[int, tuple[int, str]]:
    """Every process this grader can see: its parent and its state letter (Z: ended, not yet reaped)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(stat.parent.name)] = (int(fields[1]), fields[0])
    return found


def _tree(pid: int, processes: dict[int, tuple[int, str]]) -> list[int]:
    """`pid` and its descendants, parents before children."""
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, (parent, _) in processes.items() if parent in frontier and child not in tree]
        tree += frontier
    return tree


def peak_rss(pid: int) -> int:
    """The largest peak resident memory (VmHWM, bytes) among `pid` and its descendants."""
    peak = 0
    for member in _tree(pid, _processes()):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        peak = max([peak] + [int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM")])
    return peak


def kernel_process(pid: int) -> int | None:
    """The kernel's own process below `pid`, the jail the grader started: the topmost `python -m ipykernel_launcher`
    (the jail's own processes name it further on in their command lines)."""
    for member in _tree(pid, _processes()):
        try:
            if Path(f"/proc/{member}/cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", b"ipykernel_launcher"]:
                return member
        except OSError:
            continue
    return None


def end_descendants(pid: int, within: float = 5.0) -> int:
    """Kill every running process `pid` started, directly or not, until none is left or `within` seconds
    pass (a fork bomb forks while it is killed); how many were killed."""
    killed: set[int] = set()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        processes = _processes()
        alive = [p for p in _tree(pid, processes)[1:] if processes[p][1] != "Z"]
        if not alive:
            break
        for member in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(member, signal.SIGKILL)
                killed.add(member)
        time.sleep(0.05)  # a killed process ends once its memory is torn down: 245 copies of a kernel, 4.7 s
    return len(killed)


ACTIVE: Jail | None = None


def use(jail: Jail | None) -> None:
    """Start the kernels of this process in `jail` (None: as nbgrader does, unconfined)."""
    global ACTIVE
    ACTIVE = jail


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel inside the active Jail, over ipc sockets."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if ACTIVE is not None:  # connection file and sockets kernel-1, kernel-2, ... in the shared folder
            self.transport = "ipc"
            self.ip = str(ACTIVE.runtime_dir / "kernel")
            self.connection_file = str(ACTIVE.runtime_dir / "kernel.json")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if ACTIVE is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        ACTIVE.hand_over()
        # no parent poller: from inside the jail's pid namespace the parent looks gone (and the jail
        # dies with its parent anyway)
        kernel_cmd = [*kernel_cmd, "--IPKernelApp.parent_handle=0"]
        env = ACTIVE.env(kw.get("env") or dict(os.environ))
        if ACTIVE.zygote is not None:
            try:
                process = ACTIVE.zygote.spawn(kernel_cmd, env, ACTIVE.workdir, ACTIVE.uid, ACTIVE.limits.tmp_size)
            except (OSError, RuntimeError) as error:  # it died or failed: this kernel gets a jail of its own
                self.log.warning("the worker's zygote: %s", error)
            else:
                provisioner = self.provisioner
                provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, None
                provisioner.cwd, ACTIVE.forked = ACTIVE.workdir, True
                return self._reconcile_connection_info(provisioner.connection_info)
        return await super()._async_launch_kernel([*ACTIVE.command(), *kernel_cmd], **{**kw, "env": env})
