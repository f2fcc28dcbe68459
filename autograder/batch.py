"""`course grade`: grade a class's submissions in parallel, sandboxed, resumable.

The output folder is an nbgrader course folder that the instructor keeps, new or their own with other
lessons (its nbgrader_config.py is read):

    OUT/gradebook.db                                  nbgrader's gradebook, every lesson (formgrader, export)
    OUT/.course-grade/<lesson>/assignment.db          the lesson's gradebook as generated, before any student
    OUT/source/<lesson>/exercise.ipynb                the source it was graded against
    OUT/submitted/<student>/<lesson>/exercise.ipynb   what was graded (left where nbgrader collect put it)
    OUT/autograded/<student>/<lesson>/exercise.ipynb  the executed notebook, hidden tests included
    OUT/feedback/<student>/<lesson>/exercise.html     for the student: hidden tests removed
    OUT/grades.csv                                    student,lesson,cell,points,max_points,message
    OUT/ledger.jsonl                                  one line per graded submission, for resuming

Each submission is graded in a process of its own, forked by one of N worker processes
(`autograder.worker`), in a copy of the lesson's assignment.db. This process is the only one that writes
OUT, one student at a time, gradebook first and ledger line last, so an interrupted run loses at
most the submissions in flight, and a re-run grades only what is not in the ledger with the same
content.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import html
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.course_root import Student
from autograder.forked_kernel import lesson_imports
from autograder.lessons import GRADED_NOTEBOOK, solution_dir
from autograder.sandbox import Limits, probe
from autograder.worker import Task, task_json
from course.errors import CourseError
from course.notebooks import graded_cells, lesson_of, read_notebook
from course.quiet import no_stderr
from course.syllabus import require_lesson

CSV_COLUMNS = ["student", "lesson", "cell", "points", "max_points", "message"]
LATE_ROW = "late penalty"  # grades.csv's row for what the late-submission plugin took off
KILL_GRACE_S = 120  # past the notebook limit, the worker itself is killed
NBGRADER_RECEIPTS = ("timestamp.txt", "submission_secret.txt")


@dataclass(frozen=True)
class Submission:
    """One student's notebook, or why there is none to grade."""

    student: str
    path: Path | None
    problem: str = ""


@dataclass
class Record:
    """One graded submission: a line of the ledger."""

    student: str
    sha256: str
    cells: list[dict]  # cell, points, max_points, message
    failure: str = ""
    notes: list[str] = field(default_factory=list)  # edited tests, errors in the student's own cells
    seconds: float = 0.0
    kernel_peak_rss: int = 0
    extra: dict = field(default_factory=dict)
    lesson: str = ""  # empty in ledgers written before a course folder could hold several lessons
    source: str = ""  # the sha256 of the source it was graded against; empty: the course's lesson as shipped
    timestamp: str = ""  # when it was submitted (nbgrader collect's timestamp.txt), if known
    seconds_late: float = 0.0  # past the lesson's due date in the gradebook
    late_penalty: float = 0.0  # what the course's late-submission plugin took off

    @property
    def points(self) -> float:
        """The points scored so far (cells awaiting manual grading count nothing yet)."""
        return sum(c["points"] for c in self.cells if c["points"] is not None)

    @property
    def score(self) -> float:
        """The points after the late penalty."""
        return self.points - self.late_penalty

    @property
    def manual(self) -> int:
        """How many cells await manual grading in formgrader."""
        return sum(c["points"] is None for c in self.cells)

    @property
    def max_points(self) -> float:
        return sum(c["max_points"] for c in self.cells)


def _one_notebook(folder: Path, lesson: str) -> Submission:
    """The notebook in a student's folder: <student>/<lesson>/*.ipynb (nbgrader collect) or <student>/*.ipynb."""
    inner = folder / lesson if (folder / lesson).is_dir() else folder
    candidates = sorted(inner.glob("*.ipynb")) or sorted(p for p in inner.iterdir()
                                                        if p.is_file() and p.name not in NBGRADER_RECEIPTS)
    if len(candidates) > 1 and (inner / GRADED_NOTEBOOK).exists():
        candidates = [inner / GRADED_NOTEBOOK]
    if not candidates:
        return Submission(folder.name, None, "no notebook in the student's folder")
    if len(candidates) > 1:
        return Submission(folder.name, None, f"{len(candidates)} notebooks and no {GRADED_NOTEBOOK}: "
                                             "one notebook per student")
    return Submission(folder.name, candidates[0])


def _other_lessons_only(folder: Path, lesson: str) -> bool:
    """Whether a student's folder in a course's submitted/ holds other lessons and not this one (not submitted)."""
    return (not (folder / lesson).is_dir() and any(p.is_dir() for p in folder.iterdir())
            and not any(p.is_file() for p in folder.iterdir()))


def find_submissions(lesson: str, paths: list[Path]) -> list[Submission]:
    """Submissions from notebook files (student = the folder's name) and folders of student folders."""
    if not paths:
        raise CourseError("no submissions given")
    found: dict[str, Submission] = {}
    for path in paths:
        if not path.exists():
            raise CourseError(f"{path}: no such file or folder")
        if path.is_dir():
            students = [child for child in sorted(path.iterdir()) if child.is_dir()]
            if not students:
                raise CourseError(f"{path}: no student folders in it (expected {path}/<student>/{GRADED_NOTEBOOK})")
            subs = [_one_notebook(child, lesson) for child in students if not _other_lessons_only(child, lesson)]
            if not subs:
                raise CourseError(f"{path}: no student folder holds {lesson}/")
        else:
            subs = [Submission(path.resolve().parent.name, path)]
        for sub in subs:
            if sub.student in found:
                raise CourseError(f"{sub.path or sub.student} and {found[sub.student].path}: both are student "
                                  f"{sub.student!r}: one notebook per student")
            found[sub.student] = sub
    return list(found.values())


def problem_with(lesson: str, sub: Submission) -> str:
    """Why this submission cannot be graded at all ('' when it can): checked before any kernel starts."""
    if sub.problem:
        return sub.problem
    try:
        nb = read_notebook(sub.path)
    except CourseError as error:
        return str(error).removeprefix(f"{sub.path}: ")
    recorded = lesson_of(nb)
    if recorded is not None and recorded != lesson:
        return f"this is the notebook of lesson {recorded!r}, not {lesson!r}"
    if not any(cell.cell_type == "code" and cell.source.strip() for cell in nb.cells):
        return "empty notebook: no code to grade"
    return ""


def _sha256(sub: Submission) -> str:
    return hashlib.sha256(sub.path.read_bytes() if sub.path and sub.path.is_file() else sub.problem.encode()).hexdigest()


def read_ledger(out: Path, lesson: str | None = None) -> dict[tuple[str, str], Record]:
    """The latest record of each (lesson, student), of one lesson where given; a line cut short by an
    interruption is ignored. A line without a lesson (an older ledger) is of the lesson OUT was made for."""
    records: dict[tuple[str, str], Record] = {}
    ledger = out / "ledger.jsonl"
    for line in ledger.read_text().splitlines() if ledger.exists() else []:
        try:
            record = Record(**json.loads(line))
        except (json.JSONDecodeError, TypeError):
            continue
        record.lesson = record.lesson or legacy_lesson(out)
        if lesson is None or record.lesson == lesson:
            records[record.lesson, record.student] = record
    return records


STATE = ".course-grade"  # in OUT: per lesson, the gradebook as generated before any student: each worker's copy
LEGACY_TEMPLATE = "assignment.db"  # where an OUT made for one lesson keeps it


@dataclass(frozen=True)
class Course:
    """Where one lesson's grades go: the source graded against, the worker's template and the course's gradebook."""

    source: Path
    source_sha: str  # "" when `source` is the course's lesson as shipped
    template: Path
    db_url: str
    course_id: str
    config: object = None  # the course's nbgrader settings (traitlets Config): its late-submission plugin


def legacy_lesson(out: Path) -> str:
    """The lesson of an OUT made for one lesson before lessons could share one ('' if OUT is not one)."""
    lessons = sorted(p.name for p in (out / "source").iterdir() if p.is_dir()) if (out / "source").is_dir() else []
    return lessons[0] if (out / LEGACY_TEMPLATE).exists() and len(lessons) == 1 else ""


def course_settings(out: Path):
    """nbgrader's settings for the course folder OUT: the grading defaults, then its own nbgrader_config.py."""
    from autograder.config import nbgrader_config
    from autograder.course_root import course_config

    config = nbgrader_config(out)
    config.merge(course_config(out))
    return config


def _generate(config, lesson: str, where: Path) -> None:
    from nbgrader.apps import NbGraderAPI

    from autograder.build import nbgrader_failure

    with no_stderr():
        result = NbGraderAPI(config=config).generate_assignment(lesson, force=True, create=True)
    if not result["success"]:
        raise CourseError(f"nbgrader could not generate {lesson} in {where}: {nbgrader_failure(result)}")


def prepare_out(root: Path, lesson: str, out: Path) -> Course:
    """Make OUT an nbgrader course folder that holds `lesson` (a new one, or an instructor's with other
    lessons): its source, the assignment in its gradebook, and the worker's template."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    from autograder.config import nbgrader_config

    shipped = solution_dir(root, lesson) / GRADED_NOTEBOOK
    kept = out / "source" / lesson / GRADED_NOTEBOOK
    if kept.exists() and kept.read_bytes() != shipped.read_bytes():
        if not extends(kept, shipped):
            raise CourseError(f"{kept} changes or lacks cells of {lesson}'s graded source: grade into a new --out")
        sha = hashlib.sha256(kept.read_bytes()).hexdigest()  # the instructor's version: the lesson plus their cells
    else:
        sha = ""
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shipped, kept)
    template = out / STATE / lesson / (f"assignment-{sha[:16]}.db" if sha else "assignment.db")
    if not template.exists() and not sha and legacy_lesson(out) == lesson:
        template.parent.mkdir(parents=True)
        shutil.copy(out / LEGACY_TEMPLATE, template)
    config = course_settings(out)
    course = CourseDirectory(config=config)
    with no_stderr(), Gradebook(course.db_url, course.course_id) as gb:
        try:
            gb.find_assignment(lesson)
            known = True
        except MissingEntry:
            known = False
    generated = out / STATE / lesson / "generated-from"  # the source the course's gradebook holds
    if not known or (generated.read_text() if generated.exists() else "") != sha:
        _generate(config, lesson, out)
        generated.parent.mkdir(parents=True, exist_ok=True)
        generated.write_text(sha)
    if not template.exists():
        with tempfile.TemporaryDirectory(prefix="course-template-") as tmp:
            (Path(tmp) / "source" / lesson).mkdir(parents=True)
            shutil.copy(kept, Path(tmp) / "source" / lesson / GRADED_NOTEBOOK)
            _generate(nbgrader_config(Path(tmp)), lesson, Path(tmp))
            template.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(tmp) / "gradebook.db", template.with_suffix(".tmp"))
            os.replace(template.with_suffix(".tmp"), template)
    return Course(kept, sha, template, course.db_url, course.course_id, config)


def extends(kept: Path, shipped: Path) -> bool:
    """Whether an instructor's copy of a lesson keeps every cell nbgrader marks in the shipped one as it is
    (answers, tests, locked cells), so that cells they added are all that differ."""
    def marked(path: Path) -> dict[str, str]:
        return {c.metadata.nbgrader["grade_id"]: c.source for c in read_notebook(path).cells
                if "grade_id" in c.get("metadata", {}).get("nbgrader", {})}

    theirs = marked(kept)
    return all(theirs.get(name) == text for name, text in marked(shipped).items())


def set_due(course: Course, lesson: str, due: str) -> None:
    """Record `lesson`'s due date in the course's gradebook, where formgrader and the late penalty read it."""
    from nbgrader.api import Gradebook

    from autograder.course_root import parse_due

    with no_stderr(), Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_assignment(lesson, duedate=parse_due(due))


def add_roster(course: Course, students: list[Student]) -> None:
    """Add the roster's students to the course's gradebook with their names and emails (updated where there)."""
    from nbgrader.api import Gradebook

    with no_stderr(), Gradebook(course.db_url, course.course_id) as gb:
        for student in students:
            gb.update_or_create_student(student.id, **{k: v for k, v in asdict(student).items()
                                                       if k != "id" and v is not None})


def slot_cpus(slot: int, jobs: int, cpus: list[int]) -> set[int]:
    """The CPUs worker `slot` and its kernels run on: its share of `cpus`, so that a submission that
    spins or forks slows only its own slot (slots share CPUs round-robin when jobs outnumber them)."""
    if jobs >= len(cpus):
        return {cpus[slot % len(cpus)]}
    return set(cpus[slot * len(cpus) // jobs:(slot + 1) * len(cpus) // jobs])


class Grader:
    """Runs the workers and records their results in OUT."""

    def __init__(self, root: Path, lesson: str, out: Path, course: Course, jobs: int, limits: Limits,
                 log: Callable[[str], None] = print):
        self.root, self.lesson, self.out, self.jobs, self.limits, self.log = root, lesson, out, jobs, limits, log
        self.course = course
        self.max_points = {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
                           for c in graded_cells(read_notebook(course.source))}
        self.slots: queue.Queue[int] = queue.Queue()
        for slot in range(jobs):
            self.slots.put(slot)
        self.servers: dict[int, subprocess.Popen] = {}  # slot -> its `python -m autograder.worker`
        self.slot_folders: dict[int, Path] = {}  # slot -> its folder (its zygote's kernels work there)
        self.preload = lesson_imports(read_notebook(course.source))

    def zero(self, student: str, sha: str, failure: str, seconds: float = 0.0) -> Record:
        """A submission that earns nothing, with the reason on every cell."""
        cells = [{"cell": c, "points": 0.0, "max_points": m, "message": failure} for c, m in self.max_points.items()]
        return Record(student, sha, cells, failure, seconds=seconds, lesson=self.lesson, source=self.course.source_sha)

    def run_worker(self, sub: Submission, sha: str, template: Path, read_only: list[Path]) -> tuple[Record, dict]:
        """Grade one submission in a worker process; kill it if it outlives the notebook limit."""
        slot = self.slots.get()
        work = Path(tempfile.mkdtemp(prefix="cg-", dir="/tmp"))  # short: ipc socket paths are limited to 107 bytes
        try:
            task = Task(self.lesson, sub.student, str(sub.path.resolve()), str(template), str(work), slot,
                        asdict(self.limits), [str(p) for p in read_only], str(self.slot_folders[slot]), self.preload)
            (work / "task.json").write_text(task_json(task))
            server = self.server(slot)
            start = time.perf_counter()
            server.stdin.write(f"{work / 'task.json'}\t{self.limits.notebook_timeout + KILL_GRACE_S}\n")
            server.stdin.flush()
            answer = server.stdout.readline().strip() or f"the worker process ended (exit {server.wait()})"
            seconds = time.perf_counter() - start
            result_file = work / "result.json"
            if not result_file.exists():
                log = work / "worker.log"
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
                why = (f"grading stopped: the notebook ran past its limit ({answer})" if answer.startswith("killed")
                       else f"the grading process failed: {' '.join([answer, *tail])}")
                return self.zero(sub.student, sha, why, seconds), {"work": work}
            result = json.loads(result_file.read_text())
            if "failure" in result:
                return self.zero(sub.student, sha, result["failure"], seconds), {"work": work}
            record = Record(sub.student, sha, result["cells"], "", result["notes"], seconds, result["kernel_peak_rss"],
                            {"worker_peak_rss": result["worker_peak_rss"], "kernel_forked": result["kernel_forked"],
                             "kernel_cpus": result["kernel_cpus"], "kernel_killed": result["kernel_killed"]},
                            self.lesson, self.course.source_sha)
            return record, {"autograded": Path(result["autograded"]), "feedback": Path(result["feedback"]),
                            "work": work}
        finally:
            self.slots.put(slot)

    def server(self, slot: int) -> subprocess.Popen:
        """The worker process of `slot`, started on first use and again if it died."""
        from course.models import cache_root

        if slot not in self.servers or self.servers[slot].poll() is not None:
            # graded cells run at smoke size whatever the machine; the model cache is the one the jail shows
            env = {**os.environ, "COURSE_PROFILE": "smoke", "COURSE_CACHE": str(cache_root())}
            cpus = slot_cpus(slot, self.jobs, sorted(os.sched_getaffinity(0)))
            if self.jobs > 1:  # as many threads as it has cores
                env["OMP_NUM_THREADS"] = str(len(cpus))
            self.slot_folders.setdefault(slot, Path(tempfile.mkdtemp(prefix="course-slot-", dir="/tmp")))
            self.servers[slot] = subprocess.Popen([sys.executable, "-m", "autograder.worker"], env=env, text=True,
                                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            with contextlib.suppress(ProcessLookupError):  # before its first task: its zygote and kernels inherit it
                os.sched_setaffinity(self.servers[slot].pid, cpus)
        return self.servers[slot]

    def stop(self) -> None:
        """End the worker processes (a child grading a submission dies with its worker)."""
        for server in self.servers.values():
            server.kill()
            server.wait()
        for folder in self.slot_folders.values():  # a zygote dies with its worker
            shutil.rmtree(folder, ignore_errors=True)

    def record(self, sub: Submission, record: Record, files: dict) -> None:
        """Write one result into OUT: files, gradebook, then the ledger line (the commit point)."""
        from nbgrader.api import Gradebook

        student, lesson = sub.student, self.lesson
        in_place = sub.path is not None and sub.path.resolve().parent == (self.out / "submitted" / student /
                                                                          lesson).resolve()
        for kind in ("autograded", "feedback") if in_place else ("submitted", "autograded", "feedback"):
            shutil.rmtree(self.out / kind / student / lesson, ignore_errors=True)
            (self.out / kind / student / lesson).mkdir(parents=True)
        if sub.path is not None and sub.path.is_file():
            if not in_place:  # a course's own submitted/ is graded where nbgrader collect put it
                shutil.copy(sub.path, self.out / "submitted" / student / lesson / sub.path.name)
            for name in NBGRADER_RECEIPTS:  # written by nbgrader collect; release_feedback needs them
                if (sub.path.parent / name).is_file():
                    for kind in ("feedback",) if in_place else ("submitted", "feedback"):
                        shutil.copy(sub.path.parent / name, self.out / kind / student / lesson / name)
        feedback = self.out / "feedback" / student / lesson / "exercise.html"
        if "autograded" in files:
            shutil.copy(files["autograded"], self.out / "autograded" / student / lesson / GRADED_NOTEBOOK)
            shutil.copy(files["feedback"], feedback)
        else:
            feedback.write_text(f"<html><body><h1>{html.escape(lesson)}: 0 / {sum(self.max_points.values()):g}"
                                f"</h1><p>Your submission could not be graded: {html.escape(record.failure)}</p>"
                                "</body></html>\n")
        with no_stderr(), Gradebook(self.course.db_url, self.course.course_id) as gb:  # nbgrader's own SAWarnings
            gb.update_or_create_student(student)
            submission = gb.update_or_create_submission(lesson, student)  # keeps what formgrader added
            scores = {c["cell"]: c["points"] for c in record.cells}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.name in scores and scores[grade.name] is None:
                        continue  # nbgrader's own state: needs manual grading, or what formgrader gave it
                    grade.auto_score = scores.get(grade.name, 0.0)
                    grade.needs_manual_grade = False
            gb.db.commit()
        self.penalise(sub, record)
        self.write_ledger(record)
        if "work" in files:
            shutil.rmtree(files["work"], ignore_errors=True)

    def penalise(self, sub: Submission, record: Record) -> bool:
        """Set the submission's time from timestamp.txt and apply the course's late-submission plugin to it, as
        nbgrader's AssignLatePenalties does; the record gets the lateness and penalty. Whether they changed."""
        from nbgrader.api import Gradebook
        from nbgrader.preprocessors import AssignLatePenalties
        from nbgrader.utils import parse_utc

        stamp = sub.path.parent / "timestamp.txt" if sub.path is not None else None
        text = stamp.read_text().strip() if stamp is not None and stamp.is_file() else ""
        try:
            timestamp = parse_utc(text) if text else None
        except ValueError:
            timestamp = None
            self.log(f"warning: {stamp}: not a timestamp ({text[:40]!r}); graded as on time")
        before = (record.timestamp, record.seconds_late, record.late_penalty)
        assign = AssignLatePenalties(config=self.course.config)
        assign.init_plugin()
        with no_stderr(), Gradebook(self.course.db_url, self.course.course_id) as gb:
            submission = gb.update_or_create_submission(self.lesson, sub.student, timestamp=timestamp)
            late, penalty = submission.total_seconds_late, 0.0
            for notebook in submission.notebooks:
                notebook.late_submission_penalty = None
                if late > 0:
                    given = assign.plugin_inst.late_submission_penalty(sub.student, notebook.score, late)
                    if given is not None:
                        notebook.late_submission_penalty = assign._check_late_penalty(notebook, given)
                        penalty += notebook.late_submission_penalty
            gb.db.commit()
        record.timestamp, record.seconds_late, record.late_penalty = str(timestamp or ""), late, penalty
        return before != (record.timestamp, record.seconds_late, record.late_penalty)

    def write_ledger(self, record: Record) -> None:
        """Append the record to the ledger: the commit point of one student's result."""
        with open(self.out / "ledger.jsonl", "a") as ledger:
            ledger.write(json.dumps(asdict(record)) + "\n")
            ledger.flush()
            os.fsync(ledger.fileno())

    def grade(self, subs: list[Submission], regrade: bool = False) -> list[Record]:
        """Grade what the ledger does not already hold; the records of every submission in `subs`."""
        from course.models import cache_root, causal_lm_path

        done = {student: r for (_, student), r in read_ledger(self.out, self.lesson).items()}
        records: dict[str, Record] = {}
        todo: list[tuple[Submission, str]] = []
        for sub in subs:
            sha = _sha256(sub)
            if not regrade and sub.student in done and (done[sub.student].sha256, done[sub.student].source) == (
                    sha, self.course.source_sha):
                record = records[sub.student] = done[sub.student]
                if self.penalise(sub, record):  # a due date or timestamp changed since
                    self.write_ledger(record)
                self.log(f"{sub.student}: {record.score:g} / {record.max_points:g}  "
                         f"(already graded in {self.out}, same notebook{late_note(record)})")
                continue
            problem = problem_with(self.lesson, sub)
            if problem:
                records[sub.student] = self.zero(sub.student, sha, problem)
                self.record(sub, records[sub.student], {})
                self.log(f"{sub.student}: 0 / {sum(self.max_points.values()):g}  ({problem})")
            else:
                todo.append((sub, sha))
        if not todo:
            return [records[s.student] for s in subs]
        for slot in range(min(self.jobs, len(todo))):  # their imports overlap what follows
            self.server(slot)
        try:  # convert the offline model once, here: the jails see the cache read-only
            causal_lm_path("smollm2-135m-instruct")
        except Exception:  # noqa: BLE001 (a lesson without it still grades; one that needs it says so)
            pass
        cache = cache_root()
        read_only = [_readable(cache)] if cache.is_dir() else []
        with ThreadPoolExecutor(self.jobs) as pool:
            futures = {pool.submit(self.run_worker, sub, sha, self.course.template, read_only): sub
                       for sub, sha in todo}
            try:
                for count, future in enumerate(as_completed(futures), 1):
                    sub = futures[future]
                    record, files = future.result()
                    self.record(sub, record, files)
                    records[sub.student] = record
                    why = f"  ({record.failure})" if record.failure else ""
                    self.log(f"[{count}/{len(todo)}] {sub.student}: {record.score:g} / {record.max_points:g} "
                             f"in {record.seconds:.0f} s{why}{late_note(record)}")
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            finally:
                self.stop()
        return [records[s.student] for s in subs]


def late_note(record: Record) -> str:
    """', 2.5 h late, -7 points' for a late record, else ''."""
    if record.seconds_late <= 0:
        return ""
    return f", {record.seconds_late / 3600:.1f} h late" + (f", -{record.late_penalty:g} points"
                                                            if record.late_penalty else ", no penalty")


def _readable(folder: Path) -> Path:
    """Let other users read `folder` (the jails run as other users); returns it."""
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    return folder


def write_csv(path: Path, records: list[Record]) -> None:
    """One row per graded cell of each record."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for record in records:
            writer.writerows([record.student, record.lesson, c["cell"],
                              "" if c["points"] is None else f"{c['points']:g}",  # awaits manual grading
                              f"{c['max_points']:g}", c["message"]] for c in record.cells)
            if record.late_penalty:
                late = f"submitted {record.timestamp}, {record.seconds_late / 3600:.1f} h after the due date"
                writer.writerow([record.student, record.lesson, LATE_ROW, f"{-record.late_penalty:g}", "0", late])


def grade(root: Path, lesson: str, paths: list[Path], out: Path, jobs: int = 1, limits: Limits = Limits(),
          regrade: bool = False, log: Callable[[str], None] = print,
          roster: list[Student] | None = None, due: str | None = None) -> list[Record]:
    """Grade the submissions under `paths` into the nbgrader folder `out`; OUT/grades.csv holds every student.
    The `roster`'s students are added to the gradebook first, with their names (a student it lacks is named)."""
    require_lesson(lesson)
    if jobs < 1:
        raise CourseError(f"-j {jobs}: need at least one worker")
    subs = find_submissions(lesson, paths)
    for line in probe(0 if os.geteuid() == 0 else None):
        log(f"warning: {line}")
    from autograder.build import tools_on_path

    out.mkdir(parents=True, exist_ok=True)
    with tools_on_path():
        course = prepare_out(root, lesson, out)
        if due is not None:
            set_due(course, lesson, due)
        if roster is not None:
            add_roster(course, roster)
            listed = {student.id for student in roster}
            if unlisted := sorted(sub.student for sub in subs if sub.student not in listed):
                log(f"warning: not in the roster (graded, without a name): {', '.join(unlisted)}")
        records = Grader(root, lesson, out, course, jobs, limits, log).grade(subs, regrade)
    if manual := sum(r.manual for r in records):
        log(f"{manual} cells of {sum(r.manual > 0 for r in records)} submissions await manual grading: "
            f"nbgrader formgrader in {out} (their points are not in the totals above)")
    write_csv(out / "grades.csv", [r for _, r in sorted(read_ledger(out).items())])
    return records
