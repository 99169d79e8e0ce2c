"""JupyterLab in headless Chromium for the browser tests: a server of our own, fresh notebooks, a page.

``jupyter_lab`` (session) starts JupyterLab on 127.0.0.1 with a random free port and token, its
Jupyter config, data, runtime, settings and workspaces folders under a temporary folder, a
``python3`` kernel spec that runs this interpreter (the project's .venv) with
``GENET_LAB_BUDGET=ci``, and the notebook setting ``windowingMode: none`` (otherwise cells out
of view are not rendered and cannot be found). It stops what it started: the kernels through
the REST API, the server by its process group. ``notebook_page`` (per test) copies the chosen
notebook into a folder of its own (a notebook saved by an earlier kernel carries widget outputs
whose models are gone: "model not found") and opens it in a new browser context at
``/lab/workspaces/<name>/tree/<path>?reset``.

Chromium is Debian's (``apt-get install chromium``), launched by path with ``--no-sandbox``:
Playwright's own browser download is not used. Everything is skipped, saying why, where
playwright, jupyterlab or chromium is missing. Screenshots go to ``$GENET_LAB_SCREENSHOTS``
(default: a temporary folder, printed at the end of the session).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
RUN_ALL_TIMEOUT_S = 300


def chromium_path() -> str | None:
    """``$GENET_LAB_CHROMIUM``, else Debian's binary (the real one, not the /usr/bin wrapper script)."""
    env = os.environ.get("GENET_LAB_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for path in CHROMIUM_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


class LabServer:
    """A running JupyterLab: its URL, token, notebook root, and a tiny REST client."""

    def __init__(self, root: Path):
        self.root = root
        self.work = root / "work"  # the server's root_dir: notebooks are copied under it
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = root / "jupyter.log"

    def env(self) -> dict[str, str]:
        jup = self.root / "jupyter"
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(jup / "config"),
            "JUPYTER_DATA_DIR": str(jup / "data"),
            "JUPYTER_RUNTIME_DIR": str(jup / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(jup / "config" / "lab" / "user-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(jup / "config" / "lab" / "workspaces"),
            "JUPYTER_PREFER_ENV_PATH": "0",  # our data dir before the .venv's own python3 spec
            "GENET_LAB_BUDGET": "ci",
            "GENET_LAB_RUNS": str(self.root / "runs"),
        }
        env.pop("JUPYTER_PATH", None)  # no kernel specs or settings from elsewhere
        return env

    def configure(self) -> None:
        env = self.env()
        # the kernel: this interpreter (the .venv), the CI budget (as tests/notebooks/test_notebooks.py sets it)
        _write_json(
            Path(env["JUPYTER_DATA_DIR"]) / "kernels" / "python3" / "kernel.json",
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)",
                "language": "python",  # the notebooks' own
                "env": {"GENET_LAB_BUDGET": "ci", "OMP_NUM_THREADS": "1"},
            },
        )
        settings = Path(env["JUPYTERLAB_SETTINGS_DIR"])
        # every cell rendered, in view or not; the notebook's kernel without a "Select Kernel" dialog;
        # no news or update pop-ups over the page
        _write_json(
            settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
            {"windowingMode": "none", "autoStartDefaultKernel": True},
        )
        _write_json(
            settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
            {"fetchNews": "false", "checkForUpdates": False},
        )
        self.work.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 90.0) -> None:
        self.configure()
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.work}",
            "--KernelSpecManager.ensure_native_kernel=False",
            "--LabApp.news_url=",
            "--ServerApp.terminals_enabled=False",
        ]
        if os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError(f"jupyter lab did not answer within {timeout:g} s:\n{self.log_tail()}")
        spec = self.api("GET", "/api/kernelspecs")["kernelspecs"]["python3"]["spec"]
        assert spec["argv"][0] == sys.executable, f"python3 kernel spec is not ours: {spec['argv']}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self, under: str | None = None) -> None:
        """Shut down the sessions (and their kernels) of notebooks under ``under`` (all by default)."""
        try:
            sessions = self.api("GET", "/api/sessions")
        except OSError:
            return
        for s in sessions:
            if under is None or s.get("path", "").startswith(under):
                try:
                    self.api("DELETE", f"/api/sessions/{s['id']}")
                except OSError:
                    pass

    def stop(self) -> None:
        if self.proc is None:
            return
        self.shutdown_kernels()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the server's group: it shuts its kernels down too
                self.proc.wait(20)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        _kill_leftovers(str(self.root))


def _kill_leftovers(marker: str) -> None:
    """Kernels run in sessions of their own, and a run they launched in another: end any process
    whose command line names our temporary folder (a connection file, a run directory), by pid."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.fixture(scope="session")
def chromium_exe() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install jupyterlab)")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: apt-get install chromium (or set GENET_LAB_CHROMIUM to a Chromium binary)")
    return path


@pytest.fixture(scope="session")
def jupyter_lab(chromium_exe, tmp_path_factory):
    server = LabServer(tmp_path_factory.mktemp("lab"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium_exe):
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(
            executable_path=chromium_exe,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where the widget screenshots go: ``$GENET_LAB_SCREENSHOTS`` or a temporary folder."""
    env = os.environ.get("GENET_LAB_SCREENSHOTS")
    folder = Path(env) if env else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\nwidget screenshots: {folder}")


class NotebookPage:
    """One notebook open in JupyterLab: run it, find its widgets, collect what went wrong."""

    def __init__(self, page, server: LabServer, path: str):
        self.page, self.server, self.path = page, server, path
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def open(self) -> None:
        name = re.sub(r"\W", "-", self.path)
        self.page.goto(f"{self.server.url}/lab/workspaces/{name}/tree/{self.path}?reset&token={self.server.token}")
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        self.wait_idle(90)

    def wait_idle(self, timeout_s: float) -> None:
        """Until the kernel is connected and idle, as the status bar says ("Python 3 (ipykernel) | Idle";
        the toolbar's indicator already says idle while it says "No Kernel | Initializing")."""
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-StatusBar-Widget')]"
            ".some(e => /\\(ipykernel\\) \\| Idle/.test(e.innerText))",
            timeout=timeout_s * 1000,
        )

    def run_all(self) -> None:
        """Run > Run All Cells, as a person would (returns at once; see :meth:`wait_all_done`)."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

    def prompts(self) -> list[str]:
        return self.page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent)")

    def wait_all_done(self, timeout_s: float = RUN_ALL_TIMEOUT_S) -> None:
        """Until every code cell has an execution count and none is queued or running."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dialog = self.page.locator(".jp-Dialog")
            if dialog.count():
                raise AssertionError(f"{self.path}: a dialog is in the way: {dialog.first.inner_text()!r}")
            prompts = self.prompts()
            if prompts and all(re.search(r"\[\d+\]", p) for p in prompts):
                self.wait_idle(30)
                return
            self.page.wait_for_timeout(500)
        raise AssertionError(f"{self.path}: cells still running after {timeout_s} s: {self.prompts()}")

    def output_problems(self) -> list[str]:
        """Tracebacks and error outputs in any cell, and widgets that failed to render."""
        texts = self.page.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.innerText)")
        bad = [t[:400] for t in texts if "Traceback" in t or "Error displaying widget" in t or "model not found" in t]
        n_err = self.page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").count()
        if n_err:
            bad.append(f"{n_err} error output(s)")
        return bad

    def assert_clean(self) -> None:
        problems = self.output_problems()
        assert not problems, f"{self.path}: outputs show errors:\n" + "\n---\n".join(problems)
        assert not self.errors, f"{self.path}: browser console errors:\n" + "\n".join(self.errors)

    def cell_output(self, index: int):
        """The output area of the ``index``-th code cell (0-based)."""
        return self.page.locator(".jp-CodeCell").nth(index).locator(".jp-OutputArea")


@pytest.fixture
def notebook_page(jupyter_lab, browser, request):
    """``open(name)``: copy notebooks/<name>.ipynb to a fresh folder, open it, return a NotebookPage."""
    contexts, folders = [], []

    def open_notebook(name: str) -> NotebookPage:
        folder = re.sub(r"\W", "_", request.node.name)
        (jupyter_lab.work / folder).mkdir(exist_ok=True)
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", jupyter_lab.work / folder / f"{name}.ipynb")
        folders.append(folder)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        contexts.append(context)
        nb = NotebookPage(context.new_page(), jupyter_lab, f"{folder}/{name}.ipynb")
        nb.open()
        return nb

    yield open_notebook
    for context in contexts:
        context.close()
    for folder in folders:
        jupyter_lab.shutdown_kernels(folder)  # free the CPU for the next test
