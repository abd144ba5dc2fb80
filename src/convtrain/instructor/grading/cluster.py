"""Grading on a Dask cluster: ``convtrain grade ... --scheduler tcp://HOST:8786`` or ``local:N``.

The coordinator (the machine with the gradebook) reads each notebook, restores it from the
gradebook (``restore``) and sends one self-contained :class:`~execute.Task` per submission:
the restored steps (the student's cells, the gradebook's given cells and tests), the
lesson's data files as bytes, the limits, and the paths its audit hook must refuse. A worker
needs ``pip install convtrain[grading]`` and nothing of the course: :func:`grade_task` runs
the task with :func:`execute.run_task`, in the sandbox it can build on its own machine, and
returns the execution. Scoring, feedback, ``grades.csv`` and the gradebook stay with the
coordinator (``command.conclude``).

Faults: a worker that dies mid-task (killed, out of memory, its node gone) has its task run
again on another worker by the scheduler; a task that took down ``allowed-failures + 1``
workers comes back as ``KilledWorker`` and is scored 0 with the flag ``worker_lost``, never
tried again. Results are saved as they arrive, so Ctrl-C loses only the running tasks and
the next run grades only what is missing. See ``course/SCALING.md``.

>>> parse_scheduler("local:4"), parse_scheduler("tcp://10.0.0.5:8786")
(4, 'tcp://10.0.0.5:8786')
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from convtrain.instructor.grading import execute, sandbox

LOCAL_ALLOWED_FAILURES = 2  # a local cluster's scheduler: 3 tries, then worker_lost
WINDOW_PER_THREAD = 4  # tasks in flight per worker thread (the rest wait on the coordinator)

_ISOLATIONS: dict[tuple, sandbox.Isolation] = {}
_SCRATCH: list[Path] = []


class IsolationRefused(RuntimeError):
    """The task asked for the sandbox and this worker cannot build one."""


def parse_scheduler(text: str) -> int | str:
    """``local:N`` -> N (worker processes of a LocalCluster); a scheduler address as it is."""
    if text.startswith("local:"):
        count = int(text.removeprefix("local:"))
        if count <= 0:
            raise ValueError(f"local:N needs N >= 1, got {text}")
        return count
    if "://" not in text:
        raise ValueError(f"a scheduler is local:N or an address like tcp://HOST:8786, got {text}")
    return text


# --------------------------------------------------------------------------- on the worker

def grade_task(task: execute.Task, use_sandbox: bool = True,
               require_sandbox: bool = False) -> tuple[execute.Execution, str]:
    """Run one task on this worker: ``(execution, how it was isolated)``.

    The isolation is chosen once per worker process (bubblewrap when it can be built here,
    else the audit hook alone); ``require_sandbox`` refuses to run without it. Limits that
    name no thread count get the CPUs this worker may use (SLURM's ``--cpus-per-task``, a
    container's cpuset), not every core of its node.
    """
    if task.limits.threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        task = dataclasses.replace(task, limits=dataclasses.replace(task.limits, threads=threads))
    isolation = worker_isolation(task.hide, use_sandbox, task.limits.memory_mb)
    if require_sandbox and not isolation.sandboxed:
        raise IsolationRefused(f"no sandbox on this worker ({isolation.why_not})")
    return execute.run_task(task, isolation, _scratch_root()), isolation.describe()


def worker_isolation(hide: tuple[str, ...], use_sandbox: bool = True,
                     memory_mb: int = 4096) -> sandbox.Isolation:
    key = (tuple(hide), use_sandbox, memory_mb)
    if key not in _ISOLATIONS:
        _ISOLATIONS[key] = sandbox.choose(list(hide), use_sandbox=use_sandbox,
                                          probe_dir=str(_scratch_root()), memory_mb=memory_mb)
    return _ISOLATIONS[key]


def describe_isolation(use_sandbox: bool = True, memory_mb: int = 4096) -> str:
    """How this worker would isolate kernels (``Client.run`` asks every worker at the start)."""
    return worker_isolation((), use_sandbox, memory_mb).describe()


def _scratch_root() -> Path:
    if not _SCRATCH:
        folder = Path(tempfile.mkdtemp(prefix="convtrain-worker-"))
        atexit.register(shutil.rmtree, folder, True)
        _SCRATCH.append(folder)
    return _SCRATCH[0]


# --------------------------------------------------------------------------- the coordinator

@contextlib.contextmanager
def connect(scheduler: str):
    """A ``distributed.Client`` for ``scheduler`` (``local:N`` starts a LocalCluster of N
    single-threaded worker processes, closed on exit)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as error:
        raise RuntimeError("--scheduler needs Dask: pip install 'convtrain[grading]'") from error
    target = parse_scheduler(scheduler)
    if isinstance(target, int):
        cluster = LocalCluster(n_workers=target, threads_per_worker=1, processes=True,
                               dashboard_address=":0", memory_limit=0,
                               silence_logs=logging.ERROR,
                               scheduler_kwargs={"allowed_failures": LOCAL_ALLOWED_FAILURES})
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
    else:
        with Client(target, timeout=60) as client:
            yield client


def run_tasks(client, payloads: Iterable[tuple[object, tuple]], function: Callable,
              window: int | None = None) -> Iterator[tuple[object, object, BaseException | None]]:
    """Submit ``function(*args)`` for each ``(tag, args)``, at most ``window`` in flight
    (default: ``WINDOW_PER_THREAD`` per worker thread, looked up again every few seconds, so
    workers that join later get work); yield ``(tag, value, None)`` or ``(tag, None, error)``
    as each finishes (any order).

    A task whose workers all died comes back with ``distributed.KilledWorker`` as its error.
    Leaving early (Ctrl-C, an error) cancels what is still queued or running.
    """
    from dask.distributed import as_completed

    def current_window() -> int:
        if window is not None:
            return window
        return max(8, WINDOW_PER_THREAD * max(1, sum(client.nthreads().values())))

    limit, checked = current_window(), time.monotonic()
    pending = iter(payloads)
    inflight: dict[str, tuple[object, object]] = {}  # key -> (tag, future)
    stream = as_completed()

    def submit_next() -> None:
        for tag, args in pending:
            future = client.submit(function, *args, pure=False, retries=0,
                                   key=f"grade-{uuid.uuid4().hex}")
            inflight[future.key] = (tag, future)
            stream.add(future)
            return

    def fill() -> None:
        nonlocal limit, checked
        if time.monotonic() - checked > 5:
            limit, checked = current_window(), time.monotonic()
        while len(inflight) < limit:
            before = len(inflight)
            submit_next()
            if len(inflight) == before:
                break

    try:
        fill()
        for future in stream:
            tag, _ = inflight.pop(future.key)
            fill()
            try:
                value = future.result()
            except Exception as error:  # noqa: BLE001 - the caller turns it into a flag
                yield tag, None, error
            else:
                yield tag, value, None
            finally:
                future.release()
    finally:
        if inflight:
            client.cancel([future for _, future in inflight.values()])


def is_killed_worker(error: BaseException) -> bool:
    from distributed import KilledWorker

    return isinstance(error, KilledWorker)
