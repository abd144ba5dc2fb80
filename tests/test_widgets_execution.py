"""Cells that show ipywidgets neither crash nor stall notebooks executed without a browser.

nbclient's stand-in for the ``Output`` widget's frontend (``interact`` draws into one)
wrote the widget's state back to the kernel on the shell socket while nbclient waited
there for the cell's reply: the reply was then noticed only when that wait timed out
(02_dropout stalled up to 300 s), and with ``store_widget_state=False`` it raised
``KeyError`` (``convtrain grade`` of an untouched 06_ensembling: ``grader_error``).
``convtrain.instructor.headless`` gives a client without that stand-in; these tests check that the
client sends the kernel no comm message at all (the cause of the stall) and that widget
outputs land in the cell. How long the lessons take is measured by the benchmarks.
"""

import time

import jupyter_client.channels
import nbformat
import pytest
from jupyter_client.session import Session

from convtrain.instructor import headless

HANG_GUARD_S = 60  # a stall lasted the client's whole cell timeout; cells here take a second

INTERACT = """\
import ipywidgets as widgets
from IPython.display import HTML, display

def show(p=0.5):
    print(f"p is {p}")
    display(HTML(f"<b>p = {p}</b>"))

widgets.interact(show, p=widgets.FloatSlider(value=0.5, min=0, max=1, continuous_update=False));
"""
OUTPUT_CONTEXT = """\
import ipywidgets as widgets
from IPython.display import HTML, clear_output, display

out = widgets.Output()
display(out)
with out:
    print("inside the Output widget")
    display(HTML("<i>rich output</i>"))
    clear_output(wait=True)
    print("after clear_output")
"""
TQDM = """\
from tqdm.notebook import tqdm

total = sum(i for i in tqdm(range(200), desc="counting"))
print("total", total)
"""
INTERACT_RAISES = """\
import ipywidgets as widgets

def exercise(e):
    raise NotImplementedError()

def plot(e=0.3):
    print(exercise(e))

widgets.interact(plot, e=widgets.FloatSlider(value=0.3, min=0.05, max=0.95, continuous_update=False));
"""


def texts(cell) -> str:
    """Everything a cell's outputs say as text: streams, text/plain and HTML, tracebacks."""
    parts = []
    for out in cell.outputs:
        parts.append(out.get("text", ""))
        parts.extend(str(out.get("data", {}).get(kind, "")) for kind in ("text/plain", "text/html"))
        parts.append(out.get("ename", ""))
    return "\n".join(parts)


@pytest.fixture
def sent(monkeypatch) -> list[str]:
    """The type of every message this process's kernel clients send to a kernel."""
    types: list[str] = []
    original = jupyter_client.channels.ZMQSocketChannel.send

    def send(channel, msg):
        types.append(msg["header"]["msg_type"])
        return original(channel, msg)

    monkeypatch.setattr(jupyter_client.channels.ZMQSocketChannel, "send", send)
    return types


# -- without a kernel: what the client does with the messages an Output widget causes --------

class _ShellSpy:
    def __init__(self):
        self.sent = []

    def send(self, msg):
        self.sent.append(msg)


class _KernelClientSpy:
    def __init__(self):
        self.session = Session()
        self.shell_channel = _ShellSpy()


def _message(msg_type: str, content: dict, parent: str = "cell-request") -> dict:
    return {"msg_type": msg_type, "header": {"msg_type": msg_type, "msg_id": f"{msg_type}-1"},
            "parent_header": {"msg_id": parent}, "metadata": {}, "content": content, "buffers": []}


def _output_widget_messages() -> list[dict]:
    """An Output widget opened, capturing the cell's outputs, printing, clearing, printing."""
    state = {"_model_module": "@jupyter-widgets/output", "_model_name": "OutputModel",
             "_model_module_version": "1.0.0", "outputs": [], "msg_id": ""}
    comm = {"comm_id": "output-widget", "target_name": "jupyter.widget"}
    return [
        _message("comm_open", {**comm, "data": {"state": state, "buffer_paths": []}}),
        _message("comm_msg", {"comm_id": "output-widget",
                              "data": {"method": "update", "state": {"msg_id": "cell-request"},
                                       "buffer_paths": []}}),
        _message("stream", {"name": "stdout", "text": "inside\n"}),
        _message("clear_output", {"wait": False}),
        _message("stream", {"name": "stdout", "text": "after clear\n"}),
    ]


@pytest.mark.parametrize("store_widget_state", [True, False])
def test_headless_client_is_no_output_widget_frontend(store_widget_state):
    cell = nbformat.v4.new_code_cell("with out: ...")
    client = headless.notebook_client(nbformat.v4.new_notebook(cells=[cell]),
                                      store_widget_state=store_widget_state)
    client.kc = _KernelClientSpy()
    cell.outputs, client.clear_before_next_output = [], False  # as execute_cell sets them
    for msg in _output_widget_messages():
        client.process_message(msg, cell, 0)  # store_widget_state=False: KeyError in nbclient's
    assert client.kc.shell_channel.sent == []  # the write that lost the reply's wake-up
    assert client.comm_objects == {}
    assert not any(client.output_hook_stack.values())
    assert [out.text for out in cell.outputs] == ["after clear\n"]  # the kernel's view, as nbval's


# -- real kernels, executed like benchmarks/time_notebooks.py, convtrain grade --

def _notebook(tmp_path, *sources: str):
    path = tmp_path / "widgets.ipynb"
    nbformat.write(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(s) for s in (*sources, "print('done')")]), path)
    return path


@pytest.mark.slow
def test_widget_cells_run_like_the_demo_without_stalling(tmp_path, sent):
    path = _notebook(tmp_path, INTERACT, OUTPUT_CONTEXT, TQDM)
    seconds = headless.execute_notebook(path, tmp_path / "executed.ipynb", timeout=HANG_GUARD_S)
    assert seconds < HANG_GUARD_S, f"took {seconds:.0f} s: a reply was noticed only at the timeout"
    assert not [t for t in sent if t.startswith("comm")], f"the client wrote to widget comms: {sent}"
    interact, output_context, progress, last = nbformat.read(tmp_path / "executed.ipynb", 4).cells
    assert "p is 0.5" in texts(interact) and "<b>p = 0.5</b>" in texts(interact)
    assert "after clear_output" in texts(output_context)
    assert "total 19900" in texts(progress)
    assert "done" in texts(last)


@pytest.mark.slow
def test_widget_cells_run_cell_by_cell_like_the_grader(tmp_path, sent):
    """Own kernel manager, ``store_widget_state=False``, ``execute_cell`` per cell, errors
    allowed: what ``convtrain grade`` does. The interact calls an unsolved exercise, as in
    an untouched 06_ensembling, so its traceback goes to the Output widget."""
    from jupyter_client.manager import AsyncKernelManager

    cells = [nbformat.v4.new_code_cell(s) for s in (INTERACT_RAISES, OUTPUT_CONTEXT, TQDM,
                                                    "print('done')")]
    client = headless.notebook_client(
        nbformat.v4.new_notebook(cells=cells), km=AsyncKernelManager(kernel_name="python3"),
        timeout=HANG_GUARD_S, allow_errors=True, record_timing=False, store_widget_state=False,
        resources={"metadata": {"path": str(tmp_path)}})
    started = time.monotonic()
    with client.setup_kernel(cleanup_kc=True):
        for index, cell in enumerate(cells):
            client.execute_cell(cell, index)
    seconds = time.monotonic() - started
    assert seconds < HANG_GUARD_S, f"took {seconds:.0f} s: a reply was noticed only at the timeout"
    assert not [t for t in sent if t.startswith("comm")], f"the client wrote to widget comms: {sent}"
    assert "NotImplementedError" in texts(cells[0])
    assert "after clear_output" in texts(cells[1])
    assert "total 19900" in texts(cells[2])
    assert "done" in texts(cells[3])
