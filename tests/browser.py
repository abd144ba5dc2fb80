"""Shared helpers for the tests that drive the course in a real browser.

Three pieces, each bounded in time and always shut down:

* :func:`free_port` and :func:`wait_for_http`: a localhost port nobody uses, and a poll
  until a server on it answers.
* :func:`jupyter_lab`: JupyterLab (with nbgrader's formgrader) as a subprocess on a free
  port with a random token, stopped when the ``with`` block ends.
* :func:`chromium_page`: headless Debian Chromium driven by Playwright with a fresh profile.

The ``NOTEBOOK_JS`` helpers talk to JupyterLab through ``window.jupyterapp`` (exposed by
``--LabApp.expose_app_in_browser=True``): running cells through the command registry and
reading outputs from the notebook model is far less flaky than clicking menus.

>>> with jupyter_lab(root_dir) as lab, chromium_page() as page:   # doctest: +SKIP
...     open_notebook(page, lab, "lesson/lesson.ipynb")
...     run_all_cells(page)
...     outputs = cell_outputs(page)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Apply to a test (or ``pytestmark``) that needs Chromium.
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, *, timeout: float, process: subprocess.Popen | None = None,
                  log: Path | None = None) -> None:
    """Poll ``url`` until it answers with a status below 500, else fail the test.

    Stops early (with the server's log) when ``process`` exits before answering.
    """
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode} before answering {url}\n"
                        + _tail(log))
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
            last_error = f"HTTP {error.code}"
        except OSError as error:
            last_error = str(error)
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s ({last_error})\n" + _tail(log))


def _tail(log: Path | None, chars: int = 3000) -> str:
    if log is None or not log.exists():
        return ""
    return "server log (end):\n" + log.read_text(errors="replace")[-chars:]


def stop_process(process: subprocess.Popen, *, timeout: float = 15) -> None:
    """SIGTERM the process group started for ``process``; SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it listens and how to authenticate."""

    port: int
    token: str
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """``path`` on this server with the token, e.g. ``lab.url("/formgrader")``."""
        separator = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{separator}token={self.token}"


@contextlib.contextmanager
def jupyter_lab(root_dir: Path, *, cwd: Path | None = None, log_dir: Path | None = None,
                startup_timeout: float = 120) -> Iterator[Lab]:
    """Run ``jupyter lab`` serving ``root_dir`` in the fast profile, as a student would.

    ``cwd`` is where nbgrader looks for ``nbgrader_config.py`` (the formgrader reads the
    course from it). Kernels use this interpreter's environment; ``MPLBACKEND`` is
    dropped so plots render inline as in a real session.
    """
    port, token = free_port(), secrets.token_hex(16)
    scratch = Path(tempfile.mkdtemp(prefix="convtrain-lab-"))
    log = (log_dir or scratch) / "jupyterlab.log"
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    env.update(
        CONVTRAIN_PROFILE="fast",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # nbgrader's alembic
        JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(scratch / "workspaces"),
    )
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        f"--port={port}", "--ip=127.0.0.1", "--port-retries=0",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={root_dir}",
        "--allow-root", "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, cwd=cwd or root_dir, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}",
                      timeout=startup_timeout, process=process, log=log)
        yield Lab(port=port, token=token, log=log)
    finally:
        stop_process(process)
        for folder in ("runtime", "workspaces"):  # the log, if it lies in scratch, stays
            shutil.rmtree(scratch / folder, ignore_errors=True)


@contextlib.contextmanager
def chromium_page(*, viewport=(1400, 1000), timeout_ms: float = 60_000):
    """A Playwright page in headless Debian Chromium with a fresh, throw-away profile."""
    from playwright.sync_api import sync_playwright

    profile_dir = tempfile.mkdtemp(prefix="convtrain-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile_dir, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                viewport={"width": viewport[0], "height": viewport[1]})
            try:
                context.set_default_timeout(timeout_ms)
                page = context.pages[0] if context.pages else context.new_page()
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile_dir, ignore_errors=True)


# --- JupyterLab notebooks through window.jupyterapp -------------------------------------

_WAIT_FOR_KERNEL_JS = """async (timeoutMs) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const ctx = panel && panel.sessionContext;
    if (ctx && ctx.isReady && ctx.session && ctx.session.kernel
        && ctx.session.kernel.status === 'idle' && panel.content && panel.content.model) {
      return true;
    }
    await new Promise(r => setTimeout(r, 250));
  }
  return false;
}"""

# notebook:run-all-cells resolves once the run is over; JupyterLab stops a run at
# the first cell that raises, as a student sees it.
_RUN_ALL_JS = """async (timeoutMs) => {
  const run = window.jupyterapp.commands.execute('notebook:run-all-cells');
  const timeout = new Promise(r => setTimeout(() => r('timeout'), timeoutMs));
  const result = await Promise.race([run, timeout]);
  return result === 'timeout' ? 'timeout' : 'done';
}"""

_CELL_OUTPUTS_JS = """() => {
  const model = window.jupyterapp.shell.currentWidget.content.model;
  const cells = [];
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    cells.push({
      type: cell.type,
      source: cell.sharedModel.getSource(),
      execution_count: cell.type === 'code' ? cell.executionCount : null,
      outputs: cell.type === 'code' ? cell.outputs.toJSON() : [],
    });
  }
  return cells;
}"""


def open_notebook(page, lab: Lab, path: str, *, kernel_timeout_s: float = 120) -> None:
    """Open ``path`` (relative to the server root) in JupyterLab and wait for an idle kernel.

    Each call uses a fresh workspace: JupyterLab otherwise restores the tabs of the previous
    browser session, and the notebook we want might not be the current one.
    """
    workspace = secrets.token_hex(4)
    page.goto(lab.url(f"/lab/workspaces/{workspace}/tree/{path}?reset"))
    page.wait_for_function("(path) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                           " return w && w.sessionContext && w.context && w.context.path === path; }",
                           arg=path, timeout=kernel_timeout_s * 1000)
    if not page.evaluate(_WAIT_FOR_KERNEL_JS, kernel_timeout_s * 1000):
        pytest.fail(f"the kernel of {path} was not idle within {kernel_timeout_s:.0f} s\n"
                    + _tail(lab.log))


def shut_down_kernels(page) -> None:
    """Stop every kernel of the server the page is on (they would compete for the CPU)."""
    page.evaluate("async () => { if (window.jupyterapp) {"
                  " await window.jupyterapp.serviceManager.sessions.shutdownAll(); } }")


def run_all_cells(page, *, timeout_s: float = 180) -> None:
    """Run → Run All Cells in the current notebook, waiting until the run ends."""
    if page.evaluate(_RUN_ALL_JS, timeout_s * 1000) == "timeout":
        pytest.fail(f"running all cells took longer than {timeout_s:.0f} s")


def cell_outputs(page) -> list[dict]:
    """Every cell of the current notebook: type, source, execution_count and nbformat outputs."""
    return page.evaluate(_CELL_OUTPUTS_JS)


def error_outputs(cells: list[dict]) -> list[tuple[int, dict]]:
    """``(cell index, output)`` for each error output, e.g. ``(5, {"ename": ...})``."""
    return [(index, output) for index, cell in enumerate(cells)
            for output in cell["outputs"] if output.get("output_type") == "error"]
