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
``isolate`` is true).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

MIB = 1024 * 1024
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts",
                "/etc/localtime", "/etc/timezone", "/etc/passwd", "/etc/group",
                "/etc/nsswitch.conf", "/etc/hosts", "/etc/mime.types", "/etc/matplotlibrc")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; "
                "Fedora: `dnf install bubblewrap`)")


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
    set_limits(int(config.get("memory_mb", 4096)), int(config.get("file_mb", 512)))
    command = command_for(config, argv[2:])
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
