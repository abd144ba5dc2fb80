"""Start a command (the student's kernel) with resource limits and, on Linux, in namespaces.

Run as a script, so it imports nothing of convtrain (and not torch):

    python sandbox.py '{"memory_mb": 4096, ...}' -- python -m ipykernel_launcher -f conn.json

What it does, then ``exec``s the command:

1. resource limits: ``RLIMIT_DATA`` (heap and anonymous memory; a kernel with torch
   loaded uses about 0.8 GiB of it), ``RLIMIT_FSIZE`` (largest file written),
   no core dumps;
2. with ``"isolate": true`` (Linux with user namespaces, see :func:`namespaces_work`):
   ``unshare --user --map-root-user --net --mount`` gives the kernel no network but its
   own loopback, hides the private folders and the temporary folder behind empty
   tmpfs mounts (its own scratch folder is mounted back), and makes the Python
   installation and the convtrain package read-only.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

MIB = 1024 * 1024


def set_limits(memory_mb: int, file_mb: int) -> None:
    import resource

    for limit, value in ((resource.RLIMIT_DATA, memory_mb * MIB),
                         (resource.RLIMIT_FSIZE, file_mb * MIB),
                         (resource.RLIMIT_CORE, 0)):
        _soft, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, hard))


def mount_script(config: dict) -> str:
    """The shell commands run as root of the new namespaces before the kernel starts."""
    q = shlex.quote
    lines = ["set -e", "ip link set lo up 2>/dev/null || true"]
    for path in config.get("hide", []):
        if os.path.isdir(path):
            lines.append(f"mount -t tmpfs -o size=64k,mode=0755 convtrain-hidden {q(path)}")
        elif os.path.isfile(path):  # e.g. the submissions zip
            lines.append(f"mount --bind /dev/null {q(path)}")
    for path in config.get("read_only", []):
        if os.path.isdir(path):
            lines.append(f"mount --bind {q(path)} {q(path)}")
            lines.append(f"mount -o remount,bind,ro {q(path)}")
    scratch, tmp_root = config["scratch"], config.get("tmp_root")
    if tmp_root and scratch.startswith(tmp_root.rstrip("/") + "/"):
        # The working directory keeps the scratch folder reachable while a tmpfs covers the
        # rest of the tmp folder; /proc/self/cwd (not canonicalized: -c) mounts it back.
        lines += [f"cd {q(scratch)}", f"mount -t tmpfs convtrain-tmp {q(tmp_root)}",
                  f"mkdir -p {q(scratch)}", f"mount -c --bind /proc/self/cwd {q(scratch)}"]
    lines += [f"cd {q(scratch)}", 'exec "$@"']
    return "\n".join(lines)


def namespaced(config: dict, command: list[str]) -> list[str]:
    return ["unshare", "--user", "--map-root-user", "--net", "--mount",
            "sh", "-c", mount_script(config), "convtrain-sandbox", *command]


def namespaces_work(config: dict) -> bool:
    """Whether the namespaces and mounts of ``config`` can be set up on this machine
    (unprivileged user namespaces enabled, mounts allowed); tried with ``true``."""
    try:
        result = subprocess.run(namespaced(config, ["true"]), capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: sandbox.py CONFIG_JSON -- COMMAND ...")
    config = json.loads(argv[0])
    command = argv[2:]
    set_limits(int(config.get("memory_mb", 4096)), int(config.get("file_mb", 512)))
    if config.get("isolate"):
        command = namespaced(config, command)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
