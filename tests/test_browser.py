"""In a real browser: a lesson's lab runs in JupyterLab, its widgets redraw its figures, nbgrader's pages work.

The explorer's Colab way of drawing (each figure a page of its own in an iframe, plotly.js from
plotly's CDN) is run here too, with the kernel made to look like Colab's and the CDN's address
answered from the installed plotly package: the browser is offline.

The test starts JupyterLab on loopback in a throw-away folder and drives Debian's chromium, headless,
with Playwright's Python package (`run.py` installs chromium; Playwright never downloads a browser).
Screenshots go to test-artifacts/browser/ at the course root.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import plotly
import pytest

from conftest import ROOT, run_course

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
except ImportError:  # the test extra is missing: the `chromium` fixture fails, it does not skip
    sync_playwright = None

LAB_NOTEBOOK = ROOT / "lessons" / "06-lora" / "lab.ipynb"  # the notebook whose explorer the browser moves
GRADED_LESSON = "09-rag-vs-fine-tuning"  # graded once (the reference, as student alice) for the formgrader
COLAB_NOTEBOOK = "colab-explorer.ipynb"  # an explorer drawn the Colab way (written by the `jupyter_root` fixture)
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"  # what the CDN would send
COURSE_ID = "llm-course"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
SERVER_START_S = 120
RUN_ALL_MS = 900_000  # the whole lab, smoke profile: under a minute on an idle 2-core machine, 8 min at load 7
UI_MS = 60_000  # a page, a panel or a redraw
JUPYTER = str(Path(sys.executable).parent / "jupyter")
# JupyterLab user settings: no news prompt over the page; every cell in the DOM, scrolled into view or not
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": '{"fetchNews": "false"}',
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
}


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it answers and where it logs."""

    base: str
    token: str
    log: Path

    def url(self, path: str) -> str:
        """The address of `path` (may hold a query), with the token."""
        return f"{self.base}/{path}{'&' if '?' in path else '?'}token={self.token}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_nbgrader_course(root: Path, tmp: Path) -> None:
    """`root/instructor`: GRADED_LESSON graded for alice by `course grade`, released to an exchange in `tmp`."""
    student = tmp / "submissions" / "alice"
    student.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / GRADED_LESSON / "exercise.ipynb", student)
    graded = run_course("grade", GRADED_LESSON, student.parent, "--out", root / "instructor")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(root / 'instructor')!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\nc.Exchange.root = {str(tmp / 'exchange')!r}\n")
    released = subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", GRADED_LESSON], cwd=root,
                              capture_output=True, text=True, timeout=120)
    assert released.returncode == 0, released.stdout + released.stderr


@pytest.fixture(scope="module")
def jupyter_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """JupyterLab's folder: the lab's lesson folder and an nbgrader course (its config in nbgrader_config.py)."""
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "root"
    shutil.copytree(LAB_NOTEBOOK.parent, root / LAB_NOTEBOOK.parent.name)
    write_nbgrader_course(root, tmp)
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('import sys, types\nsys.modules["google.colab"] = types.ModuleType("google.colab")'),
        nbformat.v4.new_code_cell(
            "import plotly.graph_objects as go\nfrom course.interactive import explorer, slider\n"
            "explorer(lambda n: go.Figure(go.Bar(y=list(range(1, n + 1))), layout_title_text=f'n = {n}'),\n"
            "         n=slider('n', 3, 1, 9))")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
        root / COLAB_NOTEBOOK)
    return root


def wait_until_up(lab: Lab, server: subprocess.Popen) -> None:
    """Return once the server answers its status API; fail if it exits or takes SERVER_START_S."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with status {server.returncode}; its log: {lab.log}")
        try:
            with urllib.request.urlopen(lab.url("api/status"), timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s; its log: {lab.log}")


@pytest.fixture(scope="module")
def lab(jupyter_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on loopback with a random token, its settings and state in a temporary folder."""
    state = tmp_path_factory.mktemp("jupyter-state")
    for name, text in LAB_SETTINGS.items():
        (state / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (state / "settings" / name).write_text(text)
    port, token = free_port(), secrets.token_urlsafe(24)
    lab = Lab(f"http://127.0.0.1:{port}", token, state / "server.log")
    command = [JUPYTER, "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={jupyter_root}",
               "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands as the menus do
               f"--LabApp.user_settings_dir={state / 'settings'}", f"--LabApp.workspaces_dir={state / 'workspaces'}",
               "--LabApp.news_url=None"]
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(state / "config"), "JUPYTER_RUNTIME_DIR": str(state / "runtime")}
    with open(lab.log, "w") as log:
        server = subprocess.Popen(command, cwd=jupyter_root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(lab, server)
        print(f"\nJupyterLab at {lab.base}, log {lab.log}")
        yield lab
    finally:
        server.terminate()  # the server shuts its kernels down
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """Debian's chromium, and Playwright to drive it, checked before any setup: missing, the test fails."""
    if sync_playwright is None:
        pytest.fail("Playwright is not installed: pip install -e '.[test]' (python3 run.py test does)")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: as root, apt-get install chromium chromium-driver "
                    "(python3 run.py test does it)")
    return chromium


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    """The chromium, headless, driven by Playwright; ARTIFACTS emptied for this run's screenshots."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    expect.set_options(timeout=UI_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab, large enough for a notebook beside the file browser."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(UI_MS)
    yield page
    page.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the tab as ARTIFACTS/<name>.png, print and return the path."""
    path = ARTIFACTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path)
    print(f"screenshot: {path}")
    return path


@contextmanager
def evidence(page: Page, lab: Lab, name: str) -> Iterator[None]:
    """On a failure inside, save a screenshot and name it and the server log in the failure."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield
    except Exception as failure:
        shot = screenshot(page, f"{name}-failure")
        pytest.fail(f"{failure}\nscreenshot: {shot}\nserver log: {lab.log}\npage errors: {errors}")


def open_in_lab(page: Page, lab: Lab, path: str, command: str) -> None:
    """Open `path` in JupyterLab and wait until its command registry offers `command`."""
    page.goto(lab.url(path))
    page.wait_for_function("id => window.jupyterapp?.commands.hasCommand(id)", arg=command)


def run_all_cells(page: Page) -> None:
    """Run the open notebook's cells as Run > Run All Cells does; fail on an error or after RUN_ALL_MS."""
    page.wait_for_function("window.jupyterapp.shell.currentWidget?.sessionContext?.isReady")
    page.evaluate("""() => { window.runAllResult = undefined;
        window.jupyterapp.commands.execute('notebook:run-all-cells').then(
            ok => { window.runAllResult = ok; }, error => { window.runAllResult = String(error); }); }""")
    page.wait_for_function("window.runAllResult !== undefined", timeout=RUN_ALL_MS, polling=1000)
    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    assert not errors, f"error output: {errors}"
    assert page.evaluate("window.runAllResult") is True, page.evaluate("window.runAllResult")
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts), f"cells not run: {prompts}"


def move_slider(slider: Locator) -> None:
    """One step by keyboard on the slider's handle: right, or left when it sits at its maximum."""
    handle = slider.locator(".noUi-handle")
    at_max = float(handle.get_attribute("aria-valuenow")) >= float(handle.get_attribute("aria-valuemax"))
    handle.focus()
    handle.press("ArrowLeft" if at_max else "ArrowRight")


def test_lab_runs_and_its_explorer_redraws_the_figure(lab: Lab, page: Page):
    notebook = LAB_NOTEBOOK.relative_to(ROOT / "lessons").as_posix()
    with evidence(page, lab, "lab"):
        open_in_lab(page, lab, f"lab/tree/{notebook}", "notebook:run-all-cells")
        started = time.perf_counter()
        run_all_cells(page)
        print(f"\n{notebook}: all cells ran in {time.perf_counter() - started:.0f} s")
        expect(page.locator(".jp-Notebook .js-plotly-plot .main-svg").first).to_be_attached()
        slider = page.locator(".jp-Notebook .widget-slider").first
        expect(slider).to_be_visible()
        explorer = slider.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
        title = explorer.locator(".js-plotly-plot .gtitle").first  # the explorer's figure names its values
        expect(title).not_to_have_text("")
        explorer.scroll_into_view_if_needed()
        before = title.text_content()
        screenshot(page, "lab-before")
        move_slider(slider)
        expect(title).not_to_have_text(before)
        explorer.scroll_into_view_if_needed()
        screenshot(page, "lab-after")
        print(f"figure title: {before!r} -> {title.text_content()!r}")


def test_explorer_drawn_the_colab_way_renders_and_redraws(lab: Lab, page: Page):
    page.route("https://cdn.plot.ly/**", lambda route: route.fulfill(path=PLOTLY_JS, content_type="text/javascript"))
    with evidence(page, lab, "colab-explorer"):
        open_in_lab(page, lab, f"lab/tree/{COLAB_NOTEBOOK}?reset", "notebook:run-all-cells")
        run_all_cells(page)
        frame = page.frame_locator(".jp-Notebook .widget-output iframe")
        title = frame.locator(".js-plotly-plot .gtitle")
        expect(title).to_have_text("n = 3")
        expect(frame.locator(".js-plotly-plot .bars .point")).to_have_count(3)
        move_slider(page.locator(".jp-Notebook .widget-slider").first)
        expect(title).to_have_text("n = 4")
        expect(frame.locator(".js-plotly-plot .bars .point")).to_have_count(4)
        screenshot(page, "colab-explorer")


def test_formgrader_and_assignment_list_show_the_graded_lesson(lab: Lab, page: Page):
    with evidence(page, lab, "nbgrader"):
        open_in_lab(page, lab, "lab?reset", "nbgrader:open-formgrader")
        page.evaluate("() => { window.jupyterapp.commands.execute('nbgrader:open-formgrader'); }")
        formgrader = page.frame_locator("#formgrader-iframe iframe")
        row = formgrader.locator("tr", has_text=GRADED_LESSON)
        expect(row.locator("td.num-submissions")).to_have_text("1")
        expect(formgrader.locator(".alert-danger:visible, .alert-warning:visible")).to_have_count(0)
        screenshot(page, "formgrader")
        formgrader.get_by_role("link", name="Manage Students").click()
        expect(formgrader.locator("tr", has_text="alice")).to_be_visible()

        page.evaluate("() => { window.jupyterapp.commands.execute('nbgrader:open-assignment-list'); }")
        released = page.locator("#released_assignments_list .list_item", has_text=GRADED_LESSON)
        expect(released).to_be_visible()
        expect(page.locator("#assignments .alert-danger:visible, #assignments .list_error:visible")).to_have_count(0)
        screenshot(page, "assignment-list")
