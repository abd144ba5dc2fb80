"""Keep the tests honest when student code shares their kernel.

Student code runs in the same Python process as the tests, so it could patch what
the tests rely on (``convtrain.checks``, ``torch.allclose``, ``isinstance``,
``AssertionError``), redefine a helper a given cell defined, or rewire IPython so a
failing cell looks fine. Grading injects code the student never sees:

1. ``setup_source`` runs before any student cell. It snapshots the namespaces the
   tests use (builtins, ``convtrain.checks``, torch, numpy, the IPython shell and
   kernel classes), and installs an audit hook that refuses to open the course's
   private folders (their paths are passed as SHA-256 digests, never in clear) and
   to reach other hosts, counting each attempt.
2. After every cell (IPython's ``post_run_cell`` event) the snapshotted objects are put
   back, so a patch cannot even break the kernel's own reply. ``before_test()`` runs
   before each test region and each given cell: it also puts back every name a given
   or test cell had defined, clears the IPython history and ``linecache`` (the hidden
   tests' text lives there), and prints one report line.
3. Each test region ends with a line that prints a fresh random nonce. The parent
   counts a region as passed only when the region has no error output *and* its
   nonce was printed: rewiring the kernel to swallow errors does not forge a pass.

Everything the guard prints starts with ``MARK`` and is removed before feedback.
"""

from __future__ import annotations

import hashlib
import json
import secrets

MARK = "@@convtrain-guard@@"
GUARD_NAME = "__convtrain_guard__"

# Runs inside the kernel (plain source, not an f-string, so its braces stay readable);
# the parent replaces ``__CONFIG__`` with a JSON object.
_KERNEL_CODE = r'''
def __convtrain_install_guard(config):
    import builtins, sys, os, json, hashlib, linecache, types
    MARK = config["mark"]
    protected = set(config["protected_digests"])
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    state = {"tamper": set(), "forbidden": 0, "network": 0, "bindings": {}, "busy": False}
    pristine_print = builtins.print
    # IPython and ipykernel swap these in and out of builtins around every cell.
    ipython_managed = {"exit", "quit", "get_ipython", "display", "copyright", "credits",
                       "license", "help", "input", "raw_input"}

    def import_quietly(name):
        try:
            return __import__(name, fromlist=["_"])
        except Exception:
            return None

    modules = {"builtins": builtins}
    for name in ("numpy", "torch", "torch.nn", "torch.nn.functional", "torch._C",
                 "convtrain", "convtrain.checks"):
        module = import_quietly(name)
        if module is not None:
            modules[name] = module
    snapshots = {name: dict(vars(module)) for name, module in modules.items()}
    snapshots["builtins"] = {key: value for key, value in vars(builtins).items()
                             if key not in ipython_managed and
                             (not key.startswith("_") or key in ("__import__", "__build_class__"))}
    classes = []
    torch = modules.get("torch")
    if torch is not None:
        classes += [torch.Tensor, torch.nn.Module]
    for owner in (shell, kernel):
        if owner is not None:
            classes += [cls for cls in type(owner).__mro__ if cls is not object]
    class_snapshots = [(cls, dict(vars(cls))) for cls in classes]
    functions = [value for value in snapshots.get("convtrain.checks", {}).values()
                 if isinstance(value, types.FunctionType)]
    function_parts = [(f, f.__code__, f.__defaults__, f.__kwdefaults__) for f in functions]
    aliases = {"torch": "torch", "np": "numpy", "ct": "convtrain", "convtrain": "convtrain",
               "checks": "convtrain.checks"}
    checks = modules.get("convtrain.checks")
    for name in getattr(checks, "__all__", []):
        state["bindings"][name] = getattr(checks, name)
    machinery = ("run_cell", "run_cell_async", "run_code", "run_ast_nodes", "showtraceback",
                 "_showtraceback", "showsyntaxerror", "transform_cell", "should_run_async",
                 "do_execute", "execute_request")
    missing = object()
    instance_machinery = [(owner, key, vars(owner).get(key, missing))
                          for owner in (shell, kernel) if owner is not None for key in machinery]

    def note(what):
        state["tamper"].add(what)

    def restore_modules():
        for name, module in modules.items():
            if sys.modules.get(name, module) is not module:
                note("sys.modules." + name)
                sys.modules[name] = module
            namespace = vars(module)
            for key, value in snapshots[name].items():
                if namespace.get(key, snapshots) is not value:
                    note(name + "." + key)
                    namespace[key] = value

    def restore_classes():
        for cls, snapshot in class_snapshots:
            for key, value in snapshot.items():
                if vars(cls).get(key, snapshot) is not value:
                    note(cls.__name__ + "." + key)
                    setattr(cls, key, value)
            for key in [k for k in vars(cls) if k not in snapshot]:
                note(cls.__name__ + "." + key)
                delattr(cls, key)
        for function, code, defaults, kwdefaults in function_parts:
            if function.__code__ is not code or function.__defaults__ is not defaults \
                    or function.__kwdefaults__ is not kwdefaults:
                note("convtrain.checks." + function.__name__)
                function.__code__, function.__defaults__ = code, defaults
                function.__kwdefaults__ = kwdefaults
        for owner, key, value in instance_machinery:
            if vars(owner).get(key, missing) is not value:
                note(type(owner).__name__ + "." + key)
                if value is missing:
                    delattr(owner, key)
                else:
                    setattr(owner, key, value)
        if sys.gettrace() is not None or sys.getprofile() is not None:
            note("sys.settrace")
            sys.settrace(None)
            sys.setprofile(None)

    def restore_names():
        namespace = shell.user_ns
        for alias, module_name in aliases.items():
            module = modules.get(module_name)
            if module is not None and alias in namespace and namespace[alias] is not module:
                note("name " + alias)
                namespace[alias] = module
        for name, value in state["bindings"].items():
            if name in namespace and namespace[name] is not value:
                note("name " + name)
                namespace[name] = value
        if namespace.get(config["guard_name"]) is not guard:
            note("guard")
            namespace[config["guard_name"]] = guard

    def forget_history():
        for key in [k for k in linecache.cache if "ipykernel_" in k or k.startswith("<ipython-input")]:
            linecache.cache.pop(key, None)
        getattr(linecache, "_ipython_cache", {}).clear()
        history = getattr(shell, "history_manager", None)
        if history is not None:
            for lines in (history.input_hist_parsed, history.input_hist_raw):
                lines[:] = [""] * len(lines)
            history.output_hist.clear()
        for key in [k for k in shell.user_ns if k in ("_i", "_ii", "_iii") or
                    (k.startswith("_i") and k[2:].isdigit())]:
            shell.user_ns[key] = ""

    def is_protected(path):
        try:
            if isinstance(path, int):
                return False
            resolved = os.path.realpath(os.fsdecode(path))
        except Exception:
            return False
        while True:
            if hashlib.sha256(resolved.encode()).hexdigest() in protected:
                return True
            parent = os.path.dirname(resolved)
            if parent == resolved:
                return False
            resolved = parent

    def is_remote(address):
        host = address[0] if isinstance(address, tuple) and address else address
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if not isinstance(host, str):
            return False
        return not (host in ("localhost", "", "::1", "0.0.0.0") or host.startswith("127."))

    def audit(event, args):
        if state["busy"]:
            return
        if event in ("open", "os.listdir", "os.scandir"):
            state["busy"] = True
            try:
                denied = bool(args) and args[0] is not None and is_protected(args[0])
            finally:
                state["busy"] = False
            if denied:
                state["forbidden"] += 1
                raise PermissionError("convtrain grading: the course's private files are off limits")
        elif event in ("socket.connect", "socket.sendto") and len(args) > 1 and is_remote(args[1]):
            state["network"] += 1
            raise OSError("convtrain grading: network access is disabled")
        elif event == "socket.getaddrinfo" and args and is_remote(args[0]):
            state["network"] += 1
            raise OSError("convtrain grading: network access is disabled")

    class Guard:
        __slots__ = ()

        def before_test(self):
            restore_modules()
            restore_classes()
            restore_names()
            forget_history()
            report = {"tamper": sorted(state["tamper"]), "forbidden": state["forbidden"],
                      "network": state["network"]}
            pristine_print(MARK + " " + json.dumps(report), flush=True)

        def names(self):
            return dict(shell.user_ns)

        def remember(self, names_before):
            # Functions and classes a given or test cell defined: tests may call them later.
            for name, value in shell.user_ns.items():
                if not name.startswith("_") and names_before.get(name, names_before) is not value \
                        and isinstance(value, (types.FunctionType, type)):
                    state["bindings"][name] = value

    def after_cell(result=None):
        # Right after every cell, before ipykernel sends its reply: a patched builtin such
        # as isinstance would otherwise break the kernel itself before the next test.
        restore_modules()
        restore_classes()

    guard = Guard()
    shell.user_ns[config["guard_name"]] = guard
    shell.events.register("post_run_cell", after_cell)
    sys.addaudithook(audit)
    forget_history()

__convtrain_install_guard(__CONFIG__)
del __convtrain_install_guard
'''


def private_digests(paths) -> list[str]:
    """SHA-256 of each resolved path: the kernel can test a path without knowing the list."""
    import os

    return sorted({hashlib.sha256(os.path.realpath(str(path)).encode()).hexdigest()
                   for path in paths})


def setup_source(private_paths) -> str:
    """The first code run in the kernel: installs the guard."""
    config = {"mark": MARK, "guard_name": GUARD_NAME,
              "protected_digests": private_digests(private_paths)}
    return _KERNEL_CODE.replace("__CONFIG__", json.dumps(config))


def wrap_given(source: str) -> str:
    """A given cell, run so that the names it defines are protected afterwards."""
    return (f"{GUARD_NAME}.before_test()\n__convtrain_names = {GUARD_NAME}.names()\n"
            f"{source}\n{GUARD_NAME}.remember(__convtrain_names)")


def wrap_test(source: str) -> tuple[str, str]:
    """A test region and the nonce it prints when it ran to its end."""
    nonce = secrets.token_hex(8)
    body = (f"{GUARD_NAME}.before_test()\n__convtrain_names = {GUARD_NAME}.names()\n"
            f"{source}\n{GUARD_NAME}.remember(__convtrain_names)\n"
            f"print({MARK + ' pass ' + nonce!r}, flush=True)")
    return body, nonce


def read_reports(text: str) -> dict:
    """Merge the guard's report lines in a run's stdout: the last counts win (they only grow)."""
    merged = {"tamper": set(), "forbidden": 0, "network": 0}
    for line in text.split("\n"):
        if line.startswith(MARK + " {"):
            try:
                report = json.loads(line[len(MARK) + 1:])
            except ValueError:
                continue
            merged["tamper"].update(report.get("tamper", []))
            merged["forbidden"] = max(merged["forbidden"], int(report.get("forbidden", 0)))
            merged["network"] = max(merged["network"], int(report.get("network", 0)))
    return merged


def passed_nonces(text: str) -> set[str]:
    prefix = MARK + " pass "
    return {line[len(prefix):].strip() for line in text.split("\n") if line.startswith(prefix)}


def without_marks(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.startswith(MARK))
