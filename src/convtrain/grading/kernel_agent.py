"""The grader's agent inside a student's kernel: it runs the trusted code and reports verdicts.

Imported once, by the first cell of a grading run, before any student code::

    from convtrain.grading.kernel_agent import install
    install("/scratch/.convtrain-agent.json")

The student's own cells run as ordinary IPython cells. Everything the grader trusts
(locked "given" cells and every test region) never goes through IPython: each arrives
as a *sealed token* in a cell that only calls ``__convtrain_agent__.run(token)``.
The agent opens the token with a key that reached the kernel in a file it deleted at
once, puts back what the tests rely on, compiles and runs the code with references
it captured before student code existed, and prints one *signed record*: pass or
fail, the error, and what it found tampered with. The grader counts a region as
passed only for a correctly signed pass record printed by the cell it sent.

So whatever student code does to IPython (input and AST transformers, event
callbacks, custom exception handlers, ``showtraceback``), to ``sys.stdout`` or
``sys.displayhook``, to builtins, exception classes or the modules the tests use,
a failing test cannot come back as a pass: at worst the record goes missing, and a
missing record is a failed test. What this does not stop is named in
``course/GRADING.md`` (a student function that reads the agent's own memory while
a test calls it).

Nothing here imports torch at module level: the snapshot covers what is imported.
"""

from __future__ import annotations

import ast
import base64
import builtins
import functools
import hashlib
import hmac
import json
import linecache
import os
import socket
import sys
import types

# IPython and ipykernel swap these in and out of builtins around every cell.
IPYTHON_MANAGED = frozenset({"exit", "quit", "get_ipython", "display", "copyright", "credits",
                             "license", "help", "input", "raw_input", "__IPYTHON__"})
# Modules whose every change counts (no library rebinds anything in them).
STRICT_MODULES = ("builtins", "convtrain.checks")
# Modules restored before each trusted run; a change there is flagged only when student
# code made it (libraries rebind a few of their own functions, e.g. torch.manual_seed).
LIBRARY_MODULES = ("numpy", "torch", "torch.nn", "torch.nn.functional", "convtrain")
PRELOAD = ("numpy", "torch", "torch.nn", "torch.nn.functional", "torchvision",
           "convtrain", "convtrain.checks")
ALIASES = {"torch": "torch", "np": "numpy", "nn": "torch.nn", "F": "torch.nn.functional",
           "ct": "convtrain", "convtrain": "convtrain", "checks": "convtrain.checks"}
# Introspection that could reach into the agent while a test runs: refused then.
REFUSED_IN_TESTS = frozenset({"sys.settrace", "sys.setprofile", "sys._current_frames",
                              "gc.get_objects", "gc.get_referrers", "gc.get_referents"})
LOOPBACK = ("localhost", "", "::1", "0.0.0.0")
MESSAGE_LIMIT = 2000


def keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    """SHA-256 in counter mode: the grader seals tokens with the same function."""
    blocks = (hashlib.sha256(key + nonce + counter.to_bytes(8, "big")).digest()
              for counter in range((length + 31) // 32))
    return b"".join(blocks)[:length]


def open_token(key: bytes, token: str) -> dict:
    """The payload of a sealed token (raises ValueError when it was not sealed with ``key``)."""
    raw = base64.b64decode(token)
    nonce, tag, body = raw[:16], raw[16:48], raw[48:]
    if not hmac.compare_digest(tag, hmac.new(key, nonce + body, hashlib.sha256).digest()):
        raise ValueError("token not sealed by the grader")
    plain = bytes(a ^ b for a, b in zip(body, keystream(key, nonce, len(body))))
    return json.loads(plain.decode())


def sign(key: bytes, record: dict) -> str:
    text = json.dumps(record, sort_keys=True)
    return text + " " + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def install(config_path: str) -> None:
    """Set up the agent in the running IPython kernel (call once, before any student code)."""
    with open(config_path) as handle:
        config = json.load(handle)
    os.unlink(config_path)
    shell = get_ipython()  # noqa: F821 - provided by IPython in the kernel
    _Agent.setup(shell, config)


class _Agent:
    """Holds nothing itself: the state lives in the closures made by :meth:`setup`."""

    __slots__ = ()

    @staticmethod
    def setup(shell, config: dict) -> None:  # noqa: C901 - one closure scope on purpose
        key = bytes.fromhex(config["key"])
        mark = config["mark"]
        installation = tuple(os.path.realpath(p) for p in config.get("installation", ()))
        protected = frozenset(config.get("protected_digests", ()))
        state = {"tamper": set(), "forbidden": 0, "network": 0, "in_test": False, "busy": False,
                 "bindings": {}}
        # References captured before any student code exists.
        exec_, compile_, type_, len_ = builtins.exec, builtins.compile, type, len
        base_str = BaseException.__str__
        type_name = type.__dict__["__name__"].__get__
        isinstance_ = isinstance
        write, flush = sys.stdout.write, sys.stdout.flush
        gettrace, getprofile, settrace, setprofile = (sys.gettrace, sys.getprofile,
                                                      sys.settrace, sys.setprofile)
        realpath, fsdecode, dirname = os.path.realpath, os.fsdecode, os.path.dirname
        sha256 = hashlib.sha256
        from IPython.core.inputtransformer2 import TransformerManager
        transform = TransformerManager().transform_cell
        inet_families = (socket.AF_INET, socket.AF_INET6)

        modules = {"builtins": builtins}
        for name in PRELOAD:
            try:
                __import__(name)
                modules[name] = sys.modules[name]
            except Exception:  # noqa: BLE001 - a lesson may not need it
                pass
        snapshots = {name: dict(vars(module)) for name, module in modules.items()}
        snapshots["builtins"] = {k: v for k, v in vars(builtins).items()
                                 if k not in IPYTHON_MANAGED
                                 and (not k.startswith("_") or k in ("__import__", "__build_class__"))}
        classes = []
        if "torch" in modules:
            classes = [modules["torch"].Tensor, modules["torch"].nn.Module]
        class_snapshots = [(cls, dict(vars(cls))) for cls in classes]
        checks = modules.get("convtrain.checks")
        check_functions = [v for v in snapshots.get("convtrain.checks", {}).values()
                           if isinstance(v, types.FunctionType)]
        function_parts = [(f, f.__code__, f.__defaults__, f.__kwdefaults__) for f in check_functions]
        check_names = {name: getattr(checks, name) for name in getattr(checks, "__all__", ())}

        def note(what: str) -> None:
            state["tamper"].add(what)

        def from_library(value) -> bool:
            """Whether ``value`` is code of an installed library (not made by a notebook cell)."""
            for _ in range(4):
                if isinstance_(value, functools.partial):
                    value = value.func
                elif isinstance_(value, types.MethodType):
                    value = value.__func__
                else:
                    break
            if isinstance_(value, types.ModuleType):  # installed, not made in a cell
                if vars(value).get("__name__") in sys.builtin_module_names:
                    return True
                path = vars(value).get("__file__") or ""
                path = realpath(path) if type_(path) is str and path else ""
                return bool(path) and any(path.startswith(root + os.sep) for root in installation)
            if isinstance_(value, (types.BuiltinFunctionType,
                                   types.WrapperDescriptorType, types.MethodDescriptorType,
                                   types.MethodWrapperType, types.ClassMethodDescriptorType)):
                return True
            if isinstance_(value, types.FunctionType):
                path = value.__code__.co_filename
            elif isinstance_(value, type):
                path = getattr(sys.modules.get(value.__module__), "__file__", None) or ""
            else:
                return False
            path = realpath(path) if path and not path.startswith("<") else ""
            return bool(path) and any(path.startswith(root + os.sep) for root in installation)

        def restore(during_test: bool) -> list[str]:
            """Put back what the tests rely on; return what student code had changed."""
            changed = []
            for name, module in modules.items():
                if sys.modules.get(name, module) is not module:
                    changed.append("sys.modules['" + name + "']")
                    sys.modules[name] = module
                namespace = vars(module)
                for attribute, value in snapshots[name].items():
                    current = namespace.get(attribute, snapshots)
                    if current is not value:
                        if name in STRICT_MODULES or not from_library(current):
                            changed.append(name + "." + attribute)
                        namespace[attribute] = value
            for cls, snapshot in class_snapshots:
                for attribute, value in snapshot.items():
                    current = vars(cls).get(attribute, snapshot)
                    if current is not value:
                        if not from_library(current):
                            changed.append(type_name(cls) + "." + attribute)
                        setattr(cls, attribute, value)
                for attribute in [k for k in vars(cls) if k not in snapshot]:
                    changed.append(type_name(cls) + "." + attribute)
                    delattr(cls, attribute)
            for function, code, defaults, kwdefaults in function_parts:
                if function.__code__ is not code or function.__defaults__ is not defaults \
                        or function.__kwdefaults__ is not kwdefaults:
                    changed.append("convtrain.checks." + function.__name__ + " (its code)")
                    function.__code__, function.__defaults__ = code, defaults
                    function.__kwdefaults__ = kwdefaults
            if gettrace() is not None or getprofile() is not None:
                if during_test:
                    changed.append("sys.settrace/setprofile")
                settrace(None)
                setprofile(None)
            namespace = shell.user_ns
            for alias, module_name in ALIASES.items():
                module, current = modules.get(module_name), namespace.get(alias)
                # A lesson may use a name for a library object of its own (FiftyOne's
                # ViewField as F): only an object notebook code made is an impostor.
                if module is not None and current is not None and current is not module \
                        and alias not in state["bindings"] and not from_library(current):
                    changed.append("the name " + alias)
                    namespace[alias] = module
            for name, value in check_names.items():
                if name in namespace and namespace[name] is not value:
                    changed.append("the name " + name)
                    namespace[name] = value
            for name, value in state["bindings"].items():
                if namespace.get(name, value) is not value:  # a helper a trusted cell defined
                    namespace[name] = value
            for what in changed:
                note(what + (" (while a test ran)" if during_test else ""))
            return changed

        def forget_history() -> None:
            """The setup cell and earlier cells must not be readable from IPython's history."""
            for name in [k for k in linecache.cache if "ipykernel_" in k or k.startswith("<ipython-input")]:
                linecache.cache.pop(name, None)
            history = getattr(shell, "history_manager", None)
            if history is not None:
                for lines in (history.input_hist_parsed, history.input_hist_raw):
                    lines[:] = [""] * len_(lines)
                history.output_hist.clear()
            for name in [k for k in shell.user_ns if k in ("_i", "_ii", "_iii")
                         or (k.startswith("_i") and k[2:].isdigit())]:
                shell.user_ns[name] = ""

        def is_protected(path) -> bool:
            try:
                if isinstance_(path, int):
                    return False
                resolved = realpath(fsdecode(path))
            except Exception:  # noqa: BLE001
                return False
            while True:
                if sha256(resolved.encode()).hexdigest() in protected:
                    return True
                parent = dirname(resolved)
                if parent == resolved:
                    return False
                resolved = parent

        def is_remote(sock, address) -> bool:
            if getattr(sock, "family", None) not in inet_families:
                return False  # Unix sockets (DataLoader workers, the kernel itself) are local
            host = address[0] if isinstance_(address, tuple) and address else address
            if isinstance_(host, bytes):
                host = host.decode(errors="replace")
            return isinstance_(host, str) and not (host in LOOPBACK or host.startswith("127."))

        def audit(event: str, args: tuple) -> None:
            if state["busy"]:
                return
            if state["in_test"] and event in REFUSED_IN_TESTS:
                note(event + " (while a test ran)")
                raise RuntimeError("convtrain grading: " + event + " is not allowed while a test runs")
            if event in ("open", "os.listdir", "os.scandir"):
                state["busy"] = True
                try:
                    denied = bool(args) and args[0] is not None and is_protected(args[0])
                finally:
                    state["busy"] = False
                if denied:
                    state["forbidden"] += 1
                    raise PermissionError("convtrain grading: the course's private files are off limits")
            elif event in ("socket.connect", "socket.sendto") and len_(args) > 1 \
                    and is_remote(args[0], args[1]):
                state["network"] += 1
                raise OSError("convtrain grading: network access is disabled")
            elif event == "socket.getaddrinfo" and args and isinstance_(args[0], (str, bytes)):
                host = args[0].decode(errors="replace") if isinstance_(args[0], bytes) else args[0]
                if not (host in LOOPBACK or host.startswith("127.")):
                    state["network"] += 1
                    raise OSError("convtrain grading: network access is disabled")

        def describe(error: BaseException) -> list:
            try:
                message = base_str(error)
                if type_(message) is not str:
                    message = "<unprintable message>"
            except BaseException:  # noqa: BLE001 - a student exception may lie about itself
                message = "<unprintable message>"
            return [type_name(type_(error)), message[:MESSAGE_LIMIT]]

        def execute(source: str, filename: str) -> None:
            """Run ``source`` in the user namespace; show a last expression as IPython would."""
            tree = ast.parse(transform(source), filename)
            last = None
            if tree.body and isinstance_(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec_(compile_(tree, filename, "exec"), shell.user_ns)
            if last is not None:
                value = eval(compile_(last, filename, "eval"), shell.user_ns)  # noqa: S307
                if value is not None:
                    from IPython.display import display
                    display(value)

        def run(token: str) -> None:
            """Open a sealed token, run its code as trusted, print the signed record."""
            payload = open_token(key, token)
            record = {"region": payload["region"], "nonce": payload["nonce"]}
            restore(during_test=False)
            forget_history()
            before = dict(shell.user_ns)
            state["in_test"] = payload["kind"] == "test"
            try:
                execute(payload["code"], "<convtrain " + payload["kind"] + ">")
                record["status"] = "pass"
            except KeyboardInterrupt:
                record["status"], record["error"] = "interrupted", ["KeyboardInterrupt", ""]
            except BaseException as error:  # noqa: BLE001 - any failure fails the region
                record["status"], record["error"] = "fail", describe(error)
            finally:
                state["in_test"] = False
            if payload["kind"] == "test" and restore(during_test=True):
                record["status"] = "fail"
                record.setdefault("error", ["Tampering", "the code under test changed the grader's "
                                            "tools while the test ran"])
            for name, value in shell.user_ns.items():  # helpers trusted code defined stay trusted
                if not name.startswith("_") and before.get(name, before) is not value \
                        and isinstance_(value, (types.FunctionType, type)):
                    state["bindings"][name] = value
            record.update(tamper=sorted(state["tamper"]), forbidden=state["forbidden"],
                          network=state["network"])
            write("\n" + mark + " " + sign(key, record) + "\n")
            flush()

        def after_cell(result=None) -> None:
            # After every cell, before ipykernel replies: a patched builtin (isinstance, say)
            # would otherwise break the kernel itself.
            for name in STRICT_MODULES:
                module = modules.get(name)
                if module is None:
                    continue
                namespace = vars(module)
                for attribute, value in snapshots[name].items():
                    if namespace.get(attribute, snapshots) is not value:
                        note(name + "." + attribute)
                        namespace[attribute] = value

        agent = types.SimpleNamespace(run=run)
        shell.user_ns[config["agent_name"]] = agent
        shell.events.register("post_run_cell", after_cell)
        sys.addaudithook(audit)
        forget_history()
