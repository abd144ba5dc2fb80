"""The grader's agent inside a student's kernel: it runs the trusted code and signs verdicts.

Imported once, by the first cell of a grading run, before any student code::

    from convtrain.instructor.grading.kernel_agent import install
    install("/scratch/.convtrain-agent.json")

Student cells run as ordinary IPython cells. Everything the grader trusts (locked
"given" cells and every test region) arrives *sealed* in a cell that only says
``__import__("sys").audit("convtrain.agent", "<token>")``. The agent is an audit hook:
Python keeps no reference to it that code can reach (audit hooks cannot be listed or
removed, and ``gc`` introspection is refused), so there is no object to patch.

For each token the agent opens it with a key that reached the kernel in a file it
deleted at once; puts back what the tests rely on (from a snapshot taken before any
student code); runs the code on a **thread of its own**, so that code the test calls
cannot walk the stack back to the agent; and appends one record, signed with HMAC-SHA256
by C functions only, to a file descriptor it opened at install. The grader counts a
region as passed only for a correctly signed pass record with the region's nonce.

What the agent refuses, always: ``sys.settrace``, ``sys.setprofile``,
``sys._current_frames`` and ``gc.get_objects/get_referrers/get_referents`` (the ways
to reach another thread's frames or the agent's memory). What it does not stop is
named in ``course/GRADING.md``.

Nothing here imports torch at module level: the snapshot covers what is imported.
"""

from __future__ import annotations

import binascii
import builtins
import json
import os
import sys
import types

# IPython and ipykernel swap these in and out of builtins around every cell.
IPYTHON_MANAGED = frozenset({"exit", "quit", "get_ipython", "display", "copyright", "credits",
                             "license", "help", "input", "raw_input", "__IPYTHON__"})
# Modules whose every change counts (no library rebinds anything in them).
STRICT_MODULES = ("builtins", "convtrain.checks")
PRELOAD = ("numpy", "torch", "torch.nn", "torch.nn.functional", "torchvision",
           "convtrain", "convtrain.checks",
           # the capstone's hidden tests load the held-out split through these
           "convtrain.data", "convtrain.data.offline", "convtrain.data.capstone")
ALIASES = {"torch": "torch", "np": "numpy", "nn": "torch.nn", "F": "torch.nn.functional",
           "ct": "convtrain", "convtrain": "convtrain", "checks": "convtrain.checks"}
REFUSED = frozenset({"sys.settrace", "sys.setprofile", "sys._current_frames",
                     "gc.get_objects", "gc.get_referrers", "gc.get_referents"})
LOOPBACK = ("localhost", "", "::1", "0.0.0.0")
MESSAGE_LIMIT = 2000
STACK_SIZE = 64 * 1024 * 1024  # the test thread's stack: as deep as the main thread's


def keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    """SHA-256 in counter mode (the grader seals tokens with the same function)."""
    import hashlib

    blocks = (hashlib.sha256(key + nonce + counter.to_bytes(8, "big")).digest()
              for counter in range((length + 31) // 32))
    return b"".join(blocks)[:length]


def install(config_path: str) -> None:
    """Set up the agent in the running IPython kernel (call once, before any student code)."""
    with open(config_path) as handle:
        config = json.load(handle)
    os.unlink(config_path)
    shell = get_ipython()  # noqa: F821 - provided by IPython in the kernel
    _setup(shell, config)


def _setup(shell, config: dict) -> None:  # noqa: C901 - one closure scope on purpose
    import _hashlib
    import _signal
    import _socket
    import _thread
    import ctypes
    import socket

    key = bytes.fromhex(config["key"])
    mark = config["mark"].encode()
    installation = tuple(str(p).rstrip("/") + "/" for p in config.get("installation", ()))
    protected = frozenset(config.get("protected_digests", ()))
    cell_timeout = float(config.get("cell_timeout", 120.0))
    records_fd = os.open(config["records"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    # C functions and exact types captured before any student code exists. The agent's
    # own code uses nothing else while student code could be running, so no patch of a
    # Python module can run student code inside the agent.
    exec_, compile_, type_, str_, bytes_, int_, len_ = exec, compile, type, str, bytes, int, len
    tuple_, dict_, list_, repr_, range_, frozenset_ = tuple, dict, list, repr, range, frozenset
    function_type, module_type, base_exception = types.FunctionType, types.ModuleType, BaseException
    base_str = BaseException.__str__
    type_name = type.__dict__["__name__"].__get__
    class_dict = type.__dict__["__dict__"].__get__
    hmac_digest, sha256 = _hashlib.hmac_digest, _hashlib.openssl_sha256
    a2b_base64, write, getcwd = binascii.a2b_base64, os.write, os.getcwd
    start_thread, allocate_lock, stack_size = (_thread.start_new_thread, _thread.allocate_lock,
                                               _thread.stack_size)
    signal_, setitimer, alarm = _signal.signal, _signal.setitimer, _signal.alarm
    timers = tuple(getattr(_signal, n) for n in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"))
    handlers = tuple((number, _signal.getsignal(number)) for number in sorted(_signal.valid_signals())
                     if number not in (_signal.SIGKILL, _signal.SIGSTOP)
                     and _signal.getsignal(number) is not None)
    async_raise = ctypes.pythonapi.PyThreadState_SetAsyncExc
    async_raise.argtypes = (ctypes.c_ulong, ctypes.py_object)
    inet = frozenset((int(socket.AF_INET), int(socket.AF_INET6)))
    family_of = _socket.socket.__dict__["family"].__get__  # C: no property of a subclass runs
    user_ns, modules_dict = shell.user_ns, sys.modules
    from IPython.core.inputtransformer2 import TransformerManager
    transform = TransformerManager().transform_cell
    import ast
    parse, expression, expr_type = ast.parse, ast.Expression, ast.Expr
    from IPython.display import display

    modules = {"builtins": builtins}
    for name in PRELOAD:
        try:
            __import__(name)
            modules[name] = sys.modules[name]
        except Exception:  # noqa: BLE001 - a lesson may not need it
            pass
    modules = types.MappingProxyType(modules)
    snapshots = types.MappingProxyType({name: types.MappingProxyType(dict(vars(module)))
                                        for name, module in modules.items()})
    builtins_snapshot = types.MappingProxyType(
        {k: v for k, v in vars(builtins).items() if k not in IPYTHON_MANAGED
         and (not k.startswith("_") or k in ("__import__", "__build_class__"))})
    classes = ()
    if "torch" in modules:
        classes = (modules["torch"].Tensor, modules["torch"].nn.Module)
    class_snapshots = tuple((cls, types.MappingProxyType(dict(vars(cls)))) for cls in classes)
    checks = modules.get("convtrain.checks")
    function_parts = tuple((f, f.__code__, f.__defaults__, f.__kwdefaults__)
                           for f in snapshots.get("convtrain.checks", {}).values()
                           if type_(f) is function_type)
    check_names = types.MappingProxyType({n: getattr(checks, n) for n in getattr(checks, "__all__", ())})

    # Mutable state lives in cells of this scope, rebound (never mutated) by the agent.
    tamper, forbidden, network, used = frozenset(), 0, 0, frozenset()
    bindings: tuple = ()  # (name, value) of functions and classes trusted code defined
    patched_builtins: list = []  # what the post_run_cell keeper put back (it may be emptied)

    def in_installation(path) -> bool:
        return type_(path) is str_ and any(path.startswith(root) for root in installation)

    def from_library(value) -> bool:
        """Whether ``value`` is code of an installed library (not made by a notebook cell).
        Looks only at exact types, so no method of ``value`` runs."""
        kind = type_(value)
        if kind is module_type:
            if value.__name__ in sys.builtin_module_names:
                return True
            return in_installation(object.__getattribute__(value, "__dict__").get("__file__"))
        if kind is function_type:
            return in_installation(value.__code__.co_filename)
        if kind is types.MethodType:
            return from_library(value.__func__)
        if kind in (types.BuiltinFunctionType, types.WrapperDescriptorType,
                    types.MethodDescriptorType, types.MethodWrapperType,
                    types.ClassMethodDescriptorType):
            return True
        if issubclass(kind, type):  # a class: where its module lives
            name = class_dict(value).get("__module__")
            module = modules_dict.get(name) if type_(name) is str_ else None
            if type_(module) is not module_type:
                return False
            return in_installation(object.__getattribute__(module, "__dict__").get("__file__"))
        return False

    def restore(during_test: bool) -> tuple:
        """Put back what the tests rely on; return what student code had changed."""
        changed = []
        for name, module in modules.items():
            if modules_dict.get(name, module) is not module:
                changed.append("sys.modules['" + name + "']")
                modules_dict[name] = module
            namespace = object.__getattribute__(module, "__dict__")
            snapshot = builtins_snapshot if name == "builtins" else snapshots[name]
            for attribute, value in snapshot.items():
                current = namespace.get(attribute, snapshot)
                if current is not value:
                    if name in STRICT_MODULES or not from_library(current):
                        changed.append(name + "." + attribute)
                    namespace[attribute] = value
            if name == "convtrain.checks":
                for attribute in [k for k in namespace if k not in snapshot]:
                    changed.append(name + "." + attribute + " (added)")
                    del namespace[attribute]
        for cls, snapshot in class_snapshots:
            current_dict = class_dict(cls)
            for attribute, value in snapshot.items():
                current = current_dict.get(attribute, snapshot)
                if current is not value:
                    if not from_library(current):
                        changed.append(type_name(cls) + "." + attribute)
                    setattr(cls, attribute, value)
            for attribute in [k for k in current_dict if k not in snapshot]:
                # pickling (torch.save, copy.deepcopy) caches copyreg's slot names on the class:
                # honest code does it; it changes no test's verdict
                if not (attribute == "__slotnames__" and type(current_dict[attribute]) is list_):
                    changed.append(type_name(cls) + "." + attribute)
                delattr(cls, attribute)
        for function, code, defaults, kwdefaults in function_parts:
            if function.__code__ is not code or function.__defaults__ is not defaults \
                    or function.__kwdefaults__ is not kwdefaults:
                changed.append("convtrain.checks." + function.__name__ + " (its code)")
                function.__code__, function.__defaults__ = code, defaults
                function.__kwdefaults__ = kwdefaults
        for name, value in check_names.items():
            if name in user_ns and user_ns[name] is not value:
                changed.append("the name " + name)
                user_ns[name] = value
        for name, value in bindings:
            if name in user_ns and user_ns[name] is not value and name not in check_names:
                user_ns[name] = value  # a helper a trusted cell defined
        return tuple_(changed)

    def swap_aliases() -> dict:
        """Give trusted code the modules under their usual names; return the student's values,
        put back afterwards (a variable called ``checks`` is no impostor)."""
        saved = {}
        trusted = dict_(bindings)
        for alias, module_name in ALIASES.items():
            module = modules.get(module_name)
            if module is None or alias not in user_ns or alias in trusted:
                continue
            current = user_ns[alias]
            if current is not module and not from_library(current):
                saved[alias] = current
                user_ns[alias] = module
        return saved

    def forget_history() -> None:
        history = user_ns.get("_ih")
        if type_(history) is list_:
            history[:] = [""] * len_(history)
        for name in [k for k in user_ns if k in ("_i", "_ii", "_iii") or
                     (k.startswith("_i") and k[2:].isdigit())]:
            user_ns[name] = ""

    def quiet_signals() -> None:
        """No handler or timer of the student's may run while the agent works."""
        for which in timers:
            setitimer(which, 0)
        alarm(0)
        for number, handler in handlers:
            try:
                signal_(number, handler)
            except (OSError, ValueError, TypeError):
                pass

    def open_token(token):
        """(kind, region, nonce, code) of a token sealed with ``key``, else None."""
        if type_(token) is not str_:
            return None
        try:
            raw = a2b_base64(token)
        except Exception:  # noqa: BLE001
            return None
        iv, tag, body = raw[:16], raw[16:48], raw[48:]
        if hmac_digest(key, iv + body, "sha256") != tag:
            return None
        stream = b"".join([sha256(key + iv + i.to_bytes(8, "big")).digest()
                           for i in range_((len_(body) + 31) // 32)])[:len_(body)]
        plain = (int_.from_bytes(body, "big") ^ int_.from_bytes(stream, "big")).to_bytes(len_(body), "big")
        parts = plain.decode().split("\n", 3)
        return tuple_(parts) if len_(parts) == 4 else None

    def describe(error) -> list:
        try:
            message = base_str(error)
            if type_(message) is not str_:
                message = "<unprintable message>"
        except base_exception:  # noqa: BLE001 - a student exception may lie about itself
            message = "<unprintable message>"
        return [type_name(type_(error)), message[:MESSAGE_LIMIT]]

    def run_on_thread(kind: str, code: str) -> tuple:
        """Run ``code`` on a fresh thread; return ("pass", None) or (status, [type, message])."""
        result = None
        done = allocate_lock()
        done.acquire()

        def body():
            nonlocal result
            try:
                filename = "<convtrain " + kind + ">"
                tree = parse(transform(code), filename)
                last = None
                if tree.body and type_(tree.body[-1]) is expr_type:
                    last = expression(tree.body.pop().value)
                exec_(compile_(tree, filename, "exec"), user_ns)
                if last is not None:
                    value = eval(compile_(last, filename, "eval"), user_ns)  # noqa: S307
                    if value is not None:
                        display(value)
                result = ("pass", None)
            except base_exception as error:  # noqa: BLE001 - any failure fails the region
                result = ("fail", describe(error))
            finally:
                done.release()

        previous = stack_size(STACK_SIZE)
        try:
            ident = start_thread(body, ())
        finally:
            stack_size(previous)
        try:
            done.acquire()
        except KeyboardInterrupt:  # the grader's watchdog: the cell ran past its limit
            async_raise(ident, KeyboardInterrupt)
            if not done.acquire(timeout=min(cell_timeout, 4.0)):
                return ("interrupted", ["KeyboardInterrupt", "the test did not stop"])
            return ("interrupted", ["KeyboardInterrupt", ""])
        return result if type_(result) is tuple_ else ("fail", ["NoVerdict", ""])

    def sign_and_write(record: dict) -> None:
        text = repr_(record).encode()
        line = b"\n" + mark + b" " + text + b" " + hmac_digest(key, text, "sha256").hex().encode() + b"\n"
        write(records_fd, line)

    def agent(event: str, args: tuple) -> None:
        nonlocal tamper, forbidden, network, used, bindings
        if event in REFUSED:
            tamper = tamper | {event}
            raise RuntimeError("convtrain grading: " + event + " is not allowed")
        if event in ("open", "os.listdir", "os.scandir"):
            if args and is_protected(args[0]):
                forbidden += 1
                raise PermissionError("convtrain grading: the course's private files are off limits")
            return
        if event in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
            if is_remote(event, args):
                network += 1
                raise OSError("convtrain grading: network access is disabled")
            return
        if event != "convtrain.agent":
            return
        opened = open_token(args[0] if args else None)
        if opened is None or opened[2] in used:
            return
        kind, region, nonce, code = opened
        used = used | {nonce}
        quiet_signals()
        changed = restore(during_test=False)
        forget_history()
        saved = swap_aliases()
        before = dict_(user_ns)
        status, error = run_on_thread(kind, code)
        for alias, value in saved.items():
            if user_ns.get(alias) is modules.get(ALIASES[alias]):
                user_ns[alias] = value
        during = restore(during_test=True) if kind == "test" else ()
        if during and status == "pass":
            status, error = "fail", ["Tampering", "the code under test changed the grader's tools "
                                                  "while the test ran"]
        new = tuple_((name, value) for name, value in user_ns.items()
                     if type_(name) is str_ and not name.startswith("_")
                     and before.get(name, before) is not value
                     and (type_(value) is function_type or issubclass(type_(value), type)))
        if new:
            bindings = tuple_((n, v) for n, v in bindings if n not in dict_(new)) + new
        kept = [w for w in patched_builtins if type_(w) is str_]
        tamper = tamper | frozenset_(changed) | frozenset_(kept) \
            | frozenset_(w + " (while a test ran)" for w in during)
        record = {"region": region, "nonce": nonce, "status": status,
                  "tamper": sorted(tamper), "forbidden": forbidden, "network": network}
        if error is not None:
            record["error"] = [str_(error[0]), str_(error[1])]
        sign_and_write(record)

    def is_protected(path) -> bool:
        """Whether ``path`` is inside a private folder; plain string work, no library code."""
        if type_(path) is bytes_:
            try:
                path = path.decode()
            except UnicodeDecodeError:
                return False
        if type_(path) is not str_:
            return False
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        parts = []
        for part in path.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        for count in range_(len_(parts), -1, -1):
            candidate = "/" + "/".join(parts[:count])
            if sha256(candidate.encode()).hexdigest() in protected:
                return True
        return False

    def is_remote(event: str, args: tuple) -> bool:
        if event == "socket.getaddrinfo":
            host = args[0] if args else None
        else:
            try:
                family = int_(family_of(args[0]))
            except Exception:  # noqa: BLE001 - not a socket: not ours to judge
                return False
            if len_(args) < 2 or family not in inet:
                return False  # Unix sockets (DataLoader workers, the kernel itself) are local
            host = args[1][0] if type_(args[1]) is tuple_ and args[1] else args[1]
        if type_(host) is bytes_:
            host = host.decode(errors="replace")
        return type_(host) is str_ and not (host in LOOPBACK or host.startswith("127."))

    shell.events.register("post_run_cell", _builtins_keeper(builtins_snapshot, patched_builtins))
    sys.addaudithook(agent)
    forget_history()


def _builtins_keeper(snapshot, seen: list):
    """A post_run_cell callback that puts builtins back right after every cell, before
    ipykernel replies (a patched ``isinstance`` would otherwise break the kernel itself).
    It shares nothing with the agent but the list where it notes what it put back."""
    namespace = vars(builtins)

    def keep_builtins(result=None) -> None:
        for name, value in snapshot.items():
            if namespace.get(name, snapshot) is not value:
                seen.append("builtins." + name)
                namespace[name] = value

    return keep_builtins
