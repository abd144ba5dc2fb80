"""Run the restored steps of one submission in a sandboxed kernel, with time limits.

Each submission gets its own scratch folder (the lesson's data files are copied in)
that is also the kernel's working directory, home, temporary folder and cache. The
kernel talks to us over Unix sockets in that folder, so it can live in a sandbox
with no network at all (see ``sandbox.py``). Its environment is built from scratch:
no variable names the course, the gradebook or the output folder.

Student cells run as they are; trusted steps (given cells, test regions) are sealed
for the kernel agent and their verdicts read back from its signed records (see
``guard.py`` and ``kernel_agent.py``). The kernel and every process it started are
gone when :func:`run_submission` returns.

Limits:
- per cell: after ``cell_timeout`` the kernel is interrupted (the cell fails, the next
  one runs); a cell that ignores the interrupt is killed ``GRACE`` seconds later;
- per notebook: after ``notebook_timeout`` the kernel is killed, the rest is not run;
- memory: ``RLIMIT_DATA`` (a ``MemoryError`` in the cell rather than a dead machine).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from convtrain.instructor.grading import guard, sandbox
from convtrain.instructor.grading.restore import Step
from convtrain.instructor.grading.sandbox import Isolation

GRACE = 5.0  # seconds a cell gets to react to an interrupt before its kernel is killed
SETUP_TIMEOUT = 300.0  # seconds the agent's cell may take at least (a loaded machine)
SANDBOX_SCRIPT = str(Path(sandbox.__file__).resolve())


@dataclasses.dataclass(frozen=True)
class Limits:
    cell_timeout: float = 120.0
    notebook_timeout: float = 600.0
    memory_mb: int = 4096
    threads: int | None = None  # torch/BLAS threads in the kernel (None: library default)


@dataclasses.dataclass
class StepRun:
    """What one step did: ``status`` is ok, error, timeout, killed or not_run."""

    step: Step
    status: str = "not_run"
    stdout: str = ""
    errors: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (ename, evalue)
    sealed: guard.Sealed | None = None
    records: list[dict] = dataclasses.field(default_factory=list)  # the agent's, verified

    @property
    def verdict(self) -> dict | None:
        """The one verified record of a trusted step, or None when there is not exactly one."""
        return self.records[0] if len(self.records) == 1 else None


@dataclasses.dataclass
class Execution:
    runs: list[StepRun]
    events: set[str]
    reports: dict  # merged agent reports: tamper (set), forbidden, network (counts)
    seconds: float


@dataclasses.dataclass(frozen=True)
class Task:
    """One submission's run, self-contained (no path into the course): what a Dask worker
    receives (``cluster.grade_task``) and what local grading runs (:func:`run_task`).

    ``steps``: the restored notebook (the student's cells, the gradebook's given cells and
    tests); ``files``: the lesson's data files as ``(relative path, bytes)``; ``hide``: the
    coordinator's private paths (the audit hook refuses them wherever they exist).
    """

    label: str
    steps: tuple[Step, ...]
    files: tuple[tuple[str, bytes], ...]
    limits: Limits
    hide: tuple[str, ...] = ()


def lesson_files(files_dir: Path | None) -> tuple[tuple[str, bytes], ...]:
    """A lesson's data files (its release folder, notebooks left out) as ``(path, bytes)``."""
    if files_dir is None or not Path(files_dir).is_dir():
        return ()
    found = []
    for folder, dirs, names in os.walk(files_dir, followlinks=True):
        dirs[:] = sorted(name for name in dirs
                         if name != ".ipynb_checkpoints" and not name.endswith(".ipynb"))
        for name in sorted(names):
            if not name.endswith(".ipynb"):
                path = Path(folder) / name
                found.append((path.relative_to(files_dir).as_posix(), path.read_bytes()))
    return tuple(found)


def run_task(task: Task, isolation: Isolation, scratch_root: Path,
             keep_scratch: bool = False) -> Execution:
    """Run ``task`` in a fresh scratch folder under ``scratch_root`` (removed afterwards unless
    ``keep_scratch``): the one step from a task to its execution, locally and on a worker."""
    scratch = Path(tempfile.mkdtemp(prefix="cvg-", dir=scratch_root))
    try:
        return run_submission(list(task.steps), scratch, task.limits, isolation,
                              [Path(path) for path in task.hide], files=task.files)
    finally:
        if not keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def run_submission(steps: list[Step], scratch: Path, limits: Limits, isolation: Isolation,
                   private_paths: list[Path], files_dir: Path | None = None,
                   files: tuple[tuple[str, bytes], ...] = ()) -> Execution:
    """Execute ``steps`` (agent first) in a fresh sandboxed kernel working in ``scratch``;
    the lesson's data files come from ``files_dir`` or ``files`` (see :func:`lesson_files`)."""
    _prepare_scratch(scratch, files_dir, files)
    key = guard.new_key()
    config = guard.write_agent_config(scratch, key, private_paths, isolation.read_only,
                                      limits.cell_timeout)
    runs = [StepRun(step) for step in steps]
    cells = [nbformat.v4.new_code_cell(guard.setup_source(config))]
    for index, run in enumerate(runs):
        if run.step.kind in ("test", "given"):
            run.sealed = guard.seal(key, run.step.kind, f"{index}:{run.step.cell}", run.step.source)
            cells.append(nbformat.v4.new_code_cell(run.sealed.cell_source))
        else:
            cells.append(nbformat.v4.new_code_cell(run.step.source))
    started = time.monotonic()
    events = _execute(cells, runs, scratch, limits, isolation)
    record_file = scratch / guard.RECORDS_NAME
    record_text = record_file.read_text(errors="replace") if record_file.is_file() else ""
    for run, cell in zip(runs, cells[1:]):
        if run.status == "not_run" and cell.get("execution_count"):
            run.status = "ok"
        text = cell_stdout(cell)
        if run.sealed is not None:
            run.records = guard.records(key, record_text, run.sealed)
        run.stdout = guard.without_marks(text)
        run.errors = [(out.get("ename", ""), out.get("evalue", "")) for out in cell.get("outputs", [])
                      if out.get("output_type") == "error"]
        if run.errors and run.status == "ok":
            run.status = "error"
    setup_errors = [out for out in cells[0].get("outputs", []) if out.get("output_type") == "error"]
    if setup_errors or not cells[0].get("execution_count"):
        events.add("guard_failed")
    reports = guard.merged_reports([record for run in runs for record in run.records])
    return Execution(runs, events, reports, time.monotonic() - started)


def cell_stdout(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream" and out.get("name") == "stdout")


def _prepare_scratch(scratch: Path, files_dir: Path | None,
                     files: tuple[tuple[str, bytes], ...] = ()) -> None:
    if files_dir is not None:
        shutil.copytree(files_dir, scratch, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    root = scratch.resolve()
    for name, data in files:
        target = (scratch / name).resolve()
        if not target.is_relative_to(root):
            raise ValueError(f"a lesson file outside the scratch folder: {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for name in ("tmp", ".ipython", ".config/matplotlib", ".cache", ".local/share", "runtime"):
        (scratch / name).mkdir(parents=True, exist_ok=True)


def kernel_environment(scratch: Path, limits: Limits) -> dict[str, str]:
    """A clean environment: nothing in it points at the course, the gradebook or the output."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch), "PWD": str(scratch), "TMPDIR": str(scratch / "tmp"),
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "IPYTHONDIR": str(scratch / ".ipython"), "MPLCONFIGDIR": str(scratch / ".config/matplotlib"),
        "MPLBACKEND": "agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "MALLOC_ARENA_MAX": "2", "JUPYTER_PLATFORM_DIRS": "1",
        "CONVTRAIN_PROFILE": os.environ.get("CONVTRAIN_PROFILE", "fast"),
        "FIFTYONE_DO_NOT_TRACK": "true", "FIFTYONE_DATABASE_VALIDATION": "false",
        "FIFTYONE_DATABASE_DIR": str(scratch / "fiftyone-db"),
        "TQDM_DISABLE": "1", "PYTHONNOUSERSITE": "1", "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        "XDG_CACHE_HOME": str(scratch / ".cache"), "XDG_CONFIG_HOME": str(scratch / ".config"),
        "XDG_DATA_HOME": str(scratch / ".local/share"), "TORCH_HOME": str(scratch / ".cache/torch"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    for name in ("PYTHONPATH", "CONVTRAIN_DEVICE", "CONVTRAIN_PIP_SPEC"):
        if name in os.environ:
            env[name] = os.environ[name]
    if limits.threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(limits.threads)
    return env


def _kernel_manager(scratch: Path, limits: Limits, isolation: Isolation):

    from jupyter_client.manager import AsyncKernelManager

    config = sandbox.kernel_config(scratch, limits.memory_mb, isolation)

    class SandboxedKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            command = super().format_kernel_cmd(extra_arguments)
            # The grader's own interpreter: the one whose installation the sandbox shows
            # (the kernel spec may name it through a link the sandbox does not have).
            command = [sys.executable, *command[1:]]
            return [sys.executable, SANDBOX_SCRIPT, json.dumps(config), "--", *command]

    manager = SandboxedKernelManager(kernel_name="python3", transport="ipc",
                                     ip=str(scratch / "kernel"))
    manager.connection_file = str(scratch / "kernel.json")
    return manager


def _execute(cells: list, runs: list[StepRun], scratch: Path, limits: Limits,
             isolation: Isolation) -> set[str]:
    from nbclient.exceptions import DeadKernelError

    from convtrain.instructor.headless import notebook_client

    events: set[str] = set()
    notebook = nbformat.v4.new_notebook(cells=cells)
    manager = _kernel_manager(scratch, limits, isolation)
    # No nbclient timeout: the watchdog interrupts and kills; nbclient notices a dead
    # kernel within a second.
    client = notebook_client(
        notebook, km=manager, timeout=None, allow_errors=True, startup_timeout=120,
        record_timing=False, store_widget_state=False, shutdown_kernel="immediate",
        extra_arguments=["--HistoryManager.enabled=False"], resources={"metadata": {"path": str(scratch)}})
    # Widgets are inert in grading (convtrain.instructor.headless): nbclient's stand-in for the Output
    # widget's front end raised KeyError here (store_widget_state is off) and could hide a
    # cell's reply until the watchdog killed it. Nothing graded depends on widget state; a
    # widget's outputs land in its cell like any others.
    watchdog = _Watchdog(manager, scratch / "kernel.json")
    deadline = time.monotonic() + limits.notebook_timeout
    kernel_log = (scratch / "kernel.log").open("wb")  # the kernel's own messages, not the cells'
    try:
        # cleanup_kc: nbclient shuts down only kernels it made itself; this one must go too.
        with kernel_log, client.setup_kernel(env=kernel_environment(scratch, limits), cleanup_kc=True,
                                             stdout=kernel_log, stderr=kernel_log):
            for index, cell in enumerate(cells):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    events.add("notebook_timeout")
                    break
                # The first cell (the agent: imports torch) is not the student's time.
                allowed = max(limits.cell_timeout, SETUP_TIMEOUT) if index == 0 else limits.cell_timeout
                watchdog.start(interrupt_after=min(allowed, remaining),
                               kill_after=min(allowed + GRACE, remaining))
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    events.add(watchdog.reason() or "kernel_died")
                    _mark(runs, index, "killed")
                    break
                finally:
                    watchdog.stop()
                if watchdog.interrupted:
                    events.add("cell_timeout")
                    _mark(runs, index, "timeout")
    except DeadKernelError:
        events.add(watchdog.reason() or "kernel_died")
    except RuntimeError as error:  # the kernel did not start (e.g. memory limit too small)
        events.add("kernel_start_failed")
        if runs:
            tail = (scratch / "kernel.log").read_text(errors="replace")[-500:]
            runs[0].errors = [("KernelStartFailed", f"{error}: {tail}")]
    finally:
        watchdog.stop()
        watchdog.kill_everything()
    return events


def _mark(runs: list[StepRun], cell_index: int, status: str) -> None:
    if 1 <= cell_index <= len(runs):
        runs[cell_index - 1].status = status


class _Watchdog:
    """Interrupts the kernel (SIGINT, like Ctrl-C) when a cell runs past its limit, and kills
    it with everything it started when the cell ignores that or the notebook's deadline comes."""

    def __init__(self, manager, connection_file: Path):
        self.manager = manager
        self.connection_file = str(connection_file)
        self.timers: list[threading.Timer] = []
        self.interrupted = self.killed = False
        self.kill_is_notebook_deadline = False

    def start(self, interrupt_after: float, kill_after: float) -> None:
        self.stop()
        self.interrupted = self.killed = False
        self.kill_is_notebook_deadline = kill_after <= interrupt_after
        if not self.kill_is_notebook_deadline:
            self.timers.append(threading.Timer(interrupt_after, self._interrupt))
        self.timers.append(threading.Timer(kill_after, self._kill))
        for timer in self.timers:
            timer.daemon = True
            timer.start()

    def stop(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers = []

    def reason(self) -> str | None:
        if not self.killed:
            return None
        return "notebook_timeout" if self.kill_is_notebook_deadline else "cell_timeout"

    def _process(self):
        return getattr(getattr(self.manager, "provisioner", None), "process", None)

    def _interrupt(self) -> None:
        self.interrupted = True
        # Inside the sandbox the launched process is bwrap, which does not pass signals on:
        # signal the kernel itself (found by its connection file, which only it names).
        for pid in kernel_pids(self.connection_file) or [getattr(self._process(), "pid", None)]:
            try:
                if pid:
                    os.kill(pid, signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                pass

    def _kill(self) -> None:
        self.killed = True
        self.kill_everything()

    def kill_everything(self) -> None:
        """SIGKILL to the launched process group; the sandbox's PID namespace takes the rest."""
        process = self._process()
        pids = kernel_pids(self.connection_file)
        if process is not None:
            pids.append(process.pid)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if process is not None:
            try:
                process.wait(timeout=10)
            except Exception:  # noqa: BLE001 - already reaped by jupyter_client
                pass


def kernel_pids(connection_file: str) -> list[int]:
    """The kernel's processes (as this machine numbers them): those whose command line names
    ``connection_file``, other than bwrap and the launcher script around them."""
    needle = connection_file.encode()
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if needle in argv and os.path.basename(argv[0]) != b"bwrap" \
                and not any(arg.endswith(b"sandbox.py") for arg in argv[:3]):
            found.append(int(entry))
    return found
