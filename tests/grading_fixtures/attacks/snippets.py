"""Pieces of student code the attacks in ``catalog.py`` share.

Everything here is source text that runs *inside the student's kernel*. A student who
has read ``src/convtrain/grading`` knows the guard's marker, the name of its injected
object and how the grader is started, so the attacks may use all of that. ``%%T%%``
(a random hex token of the test session) and ``%%D%%`` (random digits) are filled in
by ``catalog.render``; they only name the attacker's own files and processes.
"""

# The nonce line the grader appends to every test region, as a regex over cell text.
NONCE_RE = r'''_PASS = re.compile(r"@@convtrain-guard@@ pass [0-9a-f]{16}")
'''

# Wrong answers that do not raise: the tests fail honestly on them (score 0), but the
# tests get as far as calling the checks, which is what many tricks need.
JUNK = {
    "double": "def double(x):\n    return x\n",
    "count": "def count_positive(values):\n    return 0\n",
    "mean": "def noisy_mean(values):\n    return 0.0\n",
}

# Where the grader is and what it was given: the kernel's ancestor that runs
# `convtrain grade`, its argv (submissions, --out, --course) and `/proc/<pid>/root`,
# the grader's own view of the file system (no tmpfs over the private folders there).
GRADER = r'''
import os, sys

def _grader():
    pid = os.getpid()
    for _ in range(8):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            break
        if pid <= 1:
            break
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
        except OSError:
            continue
        if "grade" in argv:
            return pid, argv
    return os.getppid(), []

def _grader_paths():
    pid, argv = _grader()
    paths = {"pid": pid, "outside": f"/proc/{pid}/root"}
    if "grade" in argv:
        rest, positional, index = argv[argv.index("grade") + 1:], [], 0
        while index < len(rest):
            if rest[index] in ("--out", "--course", "--jobs", "--timeout-cell",
                               "--timeout-notebook", "--memory-mb"):
                paths[rest[index][2:]] = rest[index + 1] if index + 1 < len(rest) else ""
                index += 2
            elif rest[index].startswith("--"):
                index += 1
            else:
                positional.append(rest[index])
                index += 1
        if positional:
            paths["submissions"] = positional[0]
    if paths.get("course"):
        paths["root"] = os.path.dirname(paths["course"].rstrip("/"))
        paths["solutions"] = os.path.join(paths["root"], "solutions")
        paths["release"] = os.path.join(paths["root"], "workshops")
    return paths
'''

# Reads a file with libc's open/read: no Python `open`, so no audit event.
CTYPES_READ = r'''
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)

def _c_read(path):
    fd = _libc.open(os.fsencode(path), os.O_RDONLY)
    if fd < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), path)
    chunks, buffer = [], ctypes.create_string_buffer(1 << 16)
    while True:
        count = _libc.read(fd, buffer, 1 << 16)
        if count <= 0:
            break
        chunks.append(buffer.raw[:count])
    _libc.close(fd)
    return b"".join(chunks)
'''

# Turns a stolen notebook into definitions, and a visible-test failure into a leak.
STEAL = r'''
import json
LEAK = []

def _cells(raw, solution_only=True):
    notebook = json.loads(raw)
    for cell in notebook["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code":
            continue
        if "BEGIN SOLUTION" in source or (not solution_only and meta.get("solution")):
            yield source

STOLEN = []

def _use_stolen():
    for source in STOLEN:
        try:
            exec(source, globals())
        except Exception as error:
            LEAK.append(f"exec: {type(error).__name__}")
'''

# The last answer: its visible test fails with whatever was stolen in the message,
# the one channel from the kernel into the feedback a student can read.
LEAKING_MEAN = '''def noisy_mean(values):
    raise RuntimeError("LEAK " + " | ".join(map(str, LEAK)))
'''

SOLUTION_THEFT_ANSWERS = {"double": "_use_stolen()\n", "count": "_use_stolen()\n", "mean": LEAKING_MEAN}

# A file written where it would outlive the kernel; reports what happened.
PLANT = r'''
import os, subprocess

def _plant(path, text="# cvk%%T%% persistence probe (harmless)\n"):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as handle:
            handle.write(text)
        return f"wrote {path}"
    except OSError as error:
        return f"{path}: {type(error).__name__}"

def _plant_sh(path, text="# cvk%%T%% persistence probe (harmless)"):
    """The same with the shell: no Python `open`, so no audit event."""
    result = subprocess.run(["sh", "-c", 'mkdir -p "$(dirname "$1")" && printf "%s\\n" "$2" >> "$1"',
                             "plant", path, text], capture_output=True, text=True)
    return f"sh {path}: {result.returncode} {result.stderr.strip()[:80]}"
'''

# Gives the calling process a recognizable name in /proc/<pid>/comm.
PRCTL = r'''
import ctypes

def _name(title):
    ctypes.CDLL(None).prctl(15, title.encode(), 0, 0, 0)  # PR_SET_NAME
'''

# Flips the arguments of convtrain's checks so that actual == expected, from a trace or
# profile function (CPython 3.11: write f_locals, then PyFrame_LocalsToFast).
AGREE = r'''
import ctypes, sys, threading
import convtrain.checks as _checks
_TARGETS = {_checks.check_close.__code__, _checks.check_equal.__code__}

def _agree(frame):
    local = frame.f_locals
    local["actual"] = local["expected"]
    ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
'''
