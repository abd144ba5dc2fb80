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

>>> client = notebook_client(notebook, timeout=300, kernel_name="python3")
>>> client.execute()
"""

from __future__ import annotations

import typing

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
