"""Where a student's kernel runs: an allow-list sandbox built by bubblewrap.

The policy, in one place:

- **visible, read-only**: the system's programs and libraries (``/usr`` and the
  top-level links into it), a few harmless files of ``/etc`` (the loader cache,
  fonts, time zone, users), the Python installation and the convtrain package;
- **visible, writable**: the notebook's own scratch folder (its data files, home,
  temporary folder, caches, the kernel's sockets), thrown away afterwards;
- **nothing else**: no other path of the machine exists inside (not ``/root`` or
  ``/home``, not ``/tmp``, not the course, the gradebook, other clones or other
  students), no network (an empty network namespace), its own PID namespace
  (every process it starts dies with the kernel; none can see or signal ours).

`bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``, the sandbox of
Flatpak; Debian and Ubuntu package ``bubblewrap``) builds it: an empty root with
chosen binds, fresh namespaces and ``--die-with-parent``. Where it is missing or
cannot make namespaces, grading falls back to the audit hook of ``kernel_agent``
alone, says so, and ``--require-isolation`` refuses to run.

Run as a script, so it imports nothing of convtrain (and not torch)::

    python sandbox.py '{"memory_mb": 4096, "isolate": true, ...}' -- python -m ipykernel_launcher -f conn.json

It sets the resource limits, then ``exec``s the command (inside ``bwrap`` when
``isolate`` is true). The grader imports it for the policy itself: :func:`choose`
decides the :class:`Isolation` of a grading run (what is hidden, what is read-only,
sandbox or audit hook alone) and :func:`kernel_config` turns it into that JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile

MIB = 1024 * 1024
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts",
                "/etc/localtime", "/etc/timezone", "/etc/passwd", "/etc/group",
                "/etc/nsswitch.conf", "/etc/hosts", "/etc/mime.types", "/etc/matplotlibrc")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; "
                "Fedora: `dnf install bubblewrap`)")


FILE_MB = 512  # the largest file a kernel may write


@dataclasses.dataclass(frozen=True)
class Isolation:
    """How kernels are kept apart: ``sandboxed`` runs them in bubblewrap (``read_only`` is
    what they may read besides the system and their scratch folder); ``hide`` are the
    private paths the audit hook refuses (in every mode); ``why_not`` says why there is
    no sandbox."""

    sandboxed: bool
    hide: tuple[str, ...]
    read_only: tuple[str, ...]
    why_not: str | None = None

    def describe(self) -> str:
        if self.sandboxed:
            return "bubblewrap sandbox (allow-list files, no network, own PID namespace) + audit hook"
        return f"audit hook only ({self.why_not or 'sandbox turned off'})"


def installation_paths() -> tuple[str, ...]:
    """What a kernel reads besides the system: this Python's installation and the
    convtrain package, each both as named and as the target of any link on the way."""
    import site

    import convtrain

    paths = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(convtrain.__file__)),
             *site.getsitepackages()]
    paths += [os.path.realpath(path) for path in paths]
    return tuple(sorted({os.path.abspath(path) for path in paths if os.path.isdir(path)}))


def choose(private_paths, use_sandbox: bool = True, probe_dir: str | None = None,
           memory_mb: int = 4096) -> Isolation:
    """The isolation of a grading run: the sandbox when ``use_sandbox`` and it can be built
    here (tried once in a folder under ``probe_dir``), else the audit hook alone, saying why.
    ``private_paths`` are hidden in either mode."""
    isolation = Isolation(sandboxed=False, hide=tuple(sorted({str(p) for p in private_paths})),
                          read_only=installation_paths(), why_not="--no-sandbox was given")
    if not use_sandbox:
        return isolation
    with tempfile.TemporaryDirectory(prefix="cvg-probe-", dir=probe_dir) as folder:
        why_not = probe(kernel_config(folder, memory_mb, dataclasses.replace(isolation,
                                                                             sandboxed=True)))
    return dataclasses.replace(isolation, sandboxed=why_not is None, why_not=why_not)


def kernel_config(scratch, memory_mb: int, isolation: Isolation) -> dict:
    """The JSON this script takes for a kernel working in ``scratch``."""
    return {"memory_mb": memory_mb, "file_mb": FILE_MB, "scratch": str(scratch),
            "isolate": isolation.sandboxed, "read_only": list(isolation.read_only)}


def set_limits(memory_mb: int, file_mb: int) -> None:
    import resource

    for limit, value in ((resource.RLIMIT_DATA, memory_mb * MIB),
                         (resource.RLIMIT_FSIZE, file_mb * MIB),
                         (resource.RLIMIT_CORE, 0)):
        _soft, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, hard))


def _installation_binds(paths: list[str]) -> list[str]:
    """Read-only binds of ``paths`` at their real place, and the links that lead to them
    (a venv that is a link to a cache folder, say), recreated inside."""
    real = sorted({os.path.realpath(path) for path in paths if os.path.exists(path)})
    outermost = [path for path in real
                 if not any(path != other and path.startswith(other + os.sep) for other in real)]
    args = []
    for path in outermost:
        args += ["--ro-bind", path, path]
    links = {}
    for path in paths:
        prefix = ""
        for part in os.path.abspath(path).strip(os.sep).split(os.sep):
            prefix += os.sep + part
            if os.path.islink(prefix):
                links[prefix] = os.path.realpath(prefix)
    for link, target in sorted(links.items()):
        args += ["--symlink", target, link]
    return args


def bwrap_arguments(config: dict) -> list[str]:
    """The ``bwrap`` command line (without the command) for ``config``."""
    scratch = config["scratch"]
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grading",
            # ipykernel exits when its parent looks gone, and inside a PID namespace the
            # parent is always 1: say so (--die-with-parent ends it with its real parent).
            "--setenv", "JPY_PARENT_PID", "1"]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in SYSTEM_FILES:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp"]
    args += _installation_binds(list(config.get("read_only", [])))
    args += ["--bind", scratch, scratch, "--chdir", scratch]
    return args


def command_for(config: dict, command: list[str]) -> list[str]:
    return [*bwrap_arguments(config), "--", *command] if config.get("isolate") else command


def probe(config: dict) -> str | None:
    """None when the sandbox of ``config`` can be built here, else why not (one sentence)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return f"bwrap was not found on PATH: {INSTALL_HINT}"
    try:
        result = subprocess.run([*bwrap_arguments(config), "--", sys.executable, "-c", "print(42)"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"bwrap could not start: {error}"
    if result.returncode != 0 or result.stdout.strip() != "42":
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return (f"bwrap could not build the sandbox ({reason}); run as root, or enable "
                "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or in "
                "a container grant CAP_SYS_ADMIN")
    return None


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: sandbox.py CONFIG_JSON -- COMMAND ...")
    config = json.loads(argv[0])
    set_limits(int(config.get("memory_mb", 4096)), int(config.get("file_mb", FILE_MB)))
    command = command_for(config, argv[2:])
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
