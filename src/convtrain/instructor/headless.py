"""Executing notebooks without a browser: an nbclient client that is no widget frontend.

nbclient (0.10, 0.11) pretends to be the frontend of every ipywidgets ``Output`` widget
(``interact`` draws into one): it routes the widget's outputs into the widget and, for
each output, writes the widget's new state back to the kernel on the shell socket
(``nbclient/output_widget.py``, ``OutputWidget.sync_state``). That write is what breaks:

- stall: it runs inside the task that reads IOPub while another task waits in
  ``shell_channel.get_msg(timeout)`` for the cell's ``execute_reply``; jupyter_client's
  ``Session.send`` sends through a blocking shadow of the asyncio socket, which drains
  the socket's edge-triggered file descriptor behind pyzmq's back, so a reply that
  arrived meanwhile wakes nobody until the poll times out (the client's ``timeout``,
  300 s in ``convtrain.instructor.demo``; never, with ``timeout=None``). Upstream: jupyter/nbclient#312.
- crash: with ``store_widget_state=False`` it indexes ``executor.widget_state[comm_id]``,
  which only ``store_widget_state=True`` fills: ``KeyError`` (``output_widget.py``, lines
  40 and 100).

A client that runs notebooks unattended needs no widget frontend: with an empty widget
registry nbclient never creates its ``OutputWidget``, never writes to the kernel except
to execute cells, and an ``Output`` widget's outputs (an ``interact`` plot, a print)
are recorded as the cell's own outputs, as nbval and a kernel without a frontend see
them. Widget state is still stored when ``store_widget_state`` is on (sliders, progress
bars render from it); an ``Output`` widget's own stored state stays empty.

>>> client = notebook_client(notebook, timeout=300, kernel_name="python3")  # doctest: +SKIP
>>> client.execute()  # doctest: +SKIP

:func:`execute_notebook` runs a notebook file that way (:func:`run`: a notebook in memory),
its kernel on Unix sockets in a temporary folder rather than TCP on localhost (no port
another user could reach, and no "running over TCP without encryption" warning).
"""

from __future__ import annotations

import tempfile
import time
import typing
from pathlib import Path

if typing.TYPE_CHECKING:
    from nbclient import NotebookClient


def without_widget_frontend(client: NotebookClient) -> NotebookClient:
    """Stop ``client`` from acting as the frontend of ``Output`` widgets; return it."""
    client.widget_registry = {}
    return client


def notebook_client(notebook, **kwargs) -> NotebookClient:
    """An nbclient ``NotebookClient(notebook, **kwargs)`` that is no widget frontend."""
    from nbclient import NotebookClient

    return without_widget_frontend(NotebookClient(notebook, **kwargs))


def execute_notebook(path: Path, out_path: Path | None = None, timeout: int = 300) -> float:
    """Run the notebook at ``path`` top to bottom in a fresh kernel in its folder; write the
    executed notebook to ``out_path`` if given; return the wall seconds, kernel start included.

    Raises nbclient's ``CellExecutionError`` when a cell fails.
    """
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    seconds = run(notebook, Path(path).parent, timeout=timeout)
    if out_path is not None:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, out_path)
    return seconds


def run(notebook, cwd: Path, timeout: int | None = 300, **options) -> float:
    """Execute ``notebook`` (an nbformat node, changed in place: outputs are filled in) top to
    bottom in a fresh kernel whose working folder is ``cwd``; return the wall seconds.

    ``options`` go to nbclient's client (``allow_errors=True``, ``interrupt_on_timeout=True``).
    """
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory(prefix="convtrain-kernel-") as sockets:
        manager = KernelManager(kernel_name="python3", transport="ipc",
                                ip=str(Path(sockets) / "kernel"))
        manager.connection_file = str(Path(sockets) / "kernel.json")
        client = notebook_client(notebook, km=manager, timeout=timeout,
                                 resources={"metadata": {"path": str(cwd)}}, **options)
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
