"""A jailed process that has imported the lesson's libraries once and forks each submission's kernel.

Importing torch, transformers and the lesson's libraries costs a grading kernel 3-7 CPU-seconds,
about half of what a lesson-09 submission needs. One zygote per worker slot pays it once: it runs
in the slot's jail (`autograder.sandbox`, as root inside it, with no user namespace) and never runs
student code. For each kernel it forks a child that gets namespaces of its own (mounts, processes,
network, IPC, host name), a fresh /tmp, /dev/shm and /proc, the submission's working folder, and then
drops to the slot's user id, with no capabilities and no way to gain them, before ipykernel starts.
The kernel is the first process of its own process namespace: when it ends, everything it started
ends with it, and it cannot see or signal the zygote (another user, another namespace).

Started by the worker as `python -c <this file> SLOT_FOLDER PRELOAD_JSON` with a SOCK_SEQPACKET
Unix socket as stdin. Each request on it is JSON (argv, env, cwd, uid, tmp_size) with three file
descriptors: the task's own socket, and the kernel's stdout and stderr. The answer, on the task's
socket, is the kernel's pidfd (or {"error": ...}); {"exit": N} follows when the kernel ends. When the
task's socket closes, or the next request comes, the kernel is killed. Stdlib only: it runs as a
script, before anything but the preloaded libraries.
"""

import contextlib
import ctypes
import fcntl
import importlib
import io
import json
import os
import runpy
import select
import shutil
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = (
    0x20000, 0x4000000, 0x8000000, 0x20000000, 0x40000000)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    0x1, 0x2, 0x4, 0x8, 0x20, 0x1000, 0x4000, 0x40000)
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 24, 38, 47, 4
PR_SET_CHILD_SUBREAPER = 36
LIBC = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(LIBC.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                      data.encode() if data else None), f"mount {target}")


def _fresh_tmpfs(target: str, size: int) -> None:
    """An empty tmpfs on `target`, with the jail's mounts below it (the slot, a model cache) bound back."""
    below = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # mountinfo writes a space as \040
            if point.startswith(target + "/"):
                below.append((point, "ro" in fields[5].split(",")))
    tops = [(point, ro) for point, ro in below if not any(point.startswith(other + "/") for other, _ in below)]
    held = [(point, ro, os.open(point, os.O_PATH)) for point, ro in tops]
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for point, ro, fd in held:
        os.makedirs(point, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", point, None, MS_BIND | MS_REC)
        if ro:
            _mount("none", point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)


def _loopback_up() -> None:
    """Bring up `lo` in a new network namespace (SIOCGIFFLAGS / SIOCSIFFLAGS), as bubblewrap does."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, request))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1 | 0x40))  # IFF_UP | IFF_RUNNING


def _drop_to(uid: int) -> None:
    """Become `uid` for good: no groups, no capabilities in any set, no new privileges on exec."""
    for cap in range(64):
        LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # past the last capability: EINVAL, ignored
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # clears the permitted, effective and ambient sets

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    _check(LIBC.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")  # the inheritable set too
    LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if os.getuid() != uid or os.geteuid() != uid or os.getgroups():
        raise OSError(f"could not drop to user {uid}")


def _kernel(request: dict, fds: list[int]) -> None:
    """The kernel's process, first of its namespace: mount /proc, become the slot's user, run ipykernel."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(request["cwd"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fds[1], 1)
    os.dup2(fds[2], 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    _drop_to(request["uid"])
    os.environ.clear()
    os.environ.update(request["env"])
    # what a fresh interpreter would have: its own random states, torch's threads (the zygote imported
    # it with one, so that no OpenMP pool was running to be lost in the fork), the working folder on the path
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()
        sys.modules["torch"].set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0))))
    sys.path[0] = request["cwd"]
    argv = request["argv"]
    if argv[1:3] != ["-m", "ipykernel_launcher"]:
        raise ValueError(f"not a kernel command: {argv[:3]}")
    sys.argv = ["ipykernel_launcher", *argv[3:]]
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


def _child(request: dict, fds: list[int], report: int) -> int:
    """Between the zygote and the kernel: new namespaces, private /tmp and /dev/shm, then fork the kernel."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    for target in ("/tmp", "/dev/shm"):
        _fresh_tmpfs(target, request["tmp_size"])
    _loopback_up()
    pid = os.fork()
    if pid == 0:
        try:
            _kernel(request, fds)
        except SystemExit as end:
            os._exit(end.code if isinstance(end.code, int) else 1)
        except BaseException as error:  # noqa: BLE001 (reported on the kernel's stderr, which the worker logs)
            os.write(2, f"zygote: the kernel could not start: {type(error).__name__}: {error}\n".encode())
            os._exit(1)
        os._exit(0)
    os.write(report, str(pid).encode())
    os.close(report)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue


class Kernel:
    """The kernel the zygote last forked: its go-between process, itself, and the task's socket."""

    def __init__(self, child: int, pidfd: int, conn: socket.socket) -> None:
        self.child, self.pidfd, self.conn = child, pidfd, conn
        self.child_fd = os.pidfd_open(child)

    def end(self) -> None:
        """Kill it and everything in its namespace; reap what is left."""
        for fd in (self.pidfd, self.child_fd):
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        select.select([self.pidfd], [], [], 10)  # its namespace is empty once it has exited
        if self.child is not None:
            self.reap()
        with contextlib.suppress(ChildProcessError):  # the kernel itself, if its go-between died first
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        for fd in (self.pidfd, self.child_fd):
            os.close(fd)
        self.conn.close()

    def reap(self) -> None:
        """Reap the go-between (it has ended, or is killed) and tell the task the kernel's exit code."""
        try:
            status = os.waitstatus_to_exitcode(os.waitpid(self.child, 0)[1])
        except ChildProcessError:
            status = 1
        self.child = None
        with contextlib.suppress(OSError):
            self.conn.send(json.dumps({"exit": status}).encode())


def _clear(folder: str, keep: str) -> None:
    """Remove every task folder of the slot but `keep` (earlier submissions' files)."""
    for name in os.listdir(folder):
        if name != keep:
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def spawn(request: dict, fds: list[int], folder: str) -> Kernel:
    """Fork a kernel for `request`; answer the task (socket fds[0], kept by the Kernel) with its pidfd."""
    if len(fds) != 3:
        raise ValueError(f"{len(fds)} file descriptors with the request, not 3")
    cwd = os.path.realpath(request["cwd"])
    task = os.path.relpath(cwd, folder).split(os.sep)[0]
    if os.path.dirname(os.path.dirname(cwd)) != folder or task in ("", ".", ".."):
        raise ValueError(f"working folder outside the slot: {cwd}")
    _clear(folder, task)
    request["cwd"] = cwd
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(read)
            code = _child(request, fds, write)
        except BaseException as error:  # noqa: BLE001
            with contextlib.suppress(OSError):
                os.write(fds[2], f"zygote: could not start the kernel: {type(error).__name__}: {error}\n".encode())
        os._exit(code)
    os.close(write)
    answer = os.read(read, 32)
    os.close(read)
    if not answer:
        os.waitpid(child, 0)
        raise OSError("the kernel's namespaces could not be made (see the worker's log)")
    pidfd = os.pidfd_open(int(answer))
    conn = socket.socket(fileno=fds[0])
    socket.send_fds(conn, [json.dumps({"pid": int(answer)}).encode()], [pidfd])
    return Kernel(child, pidfd, conn)


def preload(modules: list[str]) -> list[str]:
    """Import `modules` quietly; the ones that failed."""
    failed = []
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 (a module the lesson names but this install lacks)
                failed.append(name)
    return failed


def serve(folder: str, modules: list[str]) -> None:
    control = socket.socket(fileno=0)
    os.environ["OMP_NUM_THREADS"] = "1"  # torch starts no OpenMP pool; each kernel sets its own threads
    failed = preload(modules)
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # a fork copies one thread: a library's thread would be missing in every kernel
        control.send(json.dumps({"refused": f"{threads} threads after the imports"}).encode())
        return
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # a kernel whose go-between died comes back here to be reaped
    control.send(json.dumps({"ready": len(modules) - len(failed), "failed": failed}).encode())
    kernel: Kernel | None = None
    while True:
        watched = [control]
        if kernel:
            watched += [kernel.conn] + ([kernel.child_fd] if kernel.child is not None else [])
        ready = select.select(watched, [], [])[0]
        if kernel and kernel.child is not None and kernel.child_fd in ready:
            kernel.reap()
        if kernel and kernel.conn in ready and not kernel.conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
            kernel.end()  # the task is over (or was killed)
            kernel = None
        if control in ready:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 3)
            if not message:
                return  # the worker ended
            if kernel:
                kernel.end()
                kernel = None
            try:
                kernel = spawn(json.loads(message), list(fds), folder)
            except Exception as error:  # noqa: BLE001 (the task hears why; the zygote goes on)
                if len(fds) == 3:
                    with contextlib.suppress(OSError), socket.socket(fileno=fds[0]) as conn:
                        conn.send(json.dumps({"error": f"{type(error).__name__}: {error}"}).encode())
            finally:
                for fd in fds[1:]:  # the kernel's stdout and stderr: the kernel has its own copies
                    os.close(fd)


if __name__ == "__main__":
    serve(os.path.realpath(sys.argv[1]), json.loads(sys.argv[2]))
