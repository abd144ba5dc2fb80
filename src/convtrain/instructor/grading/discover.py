"""Find the submissions and tell which assignment each notebook is.

Accepted layouts (a folder, or a ``.zip`` of one, as LMSs export them):

- ``SUBMISSIONS/<student_id>/<anything>.ipynb`` (deeper folders are fine too, e.g.
  nbgrader's ``submitted/<student_id>/<assignment>/<notebook>.ipynb``);
- flat ``SUBMISSIONS/<student_id>_<anything>.ipynb`` (Canvas, Moodle, Blackboard:
  the student id is the text before the first ``_``);
- a zip whose only top-level entry is a folder holding one of the above.

The file name is only a hint: "Copy of 02_dropout.ipynb", "02_dropout (1).ipynb" and
"jdoe_12345_02_dropout.ipynb" are all recognised by content (:func:`identify`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import zipfile
from pathlib import Path, PurePosixPath

from convtrain.instructor.course import nbgrader_meta
from convtrain.instructor.grading.gradebook import Assignment

IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
MAX_ZIP_BYTES = 2 * 1024**3  # a cohort's notebooks, outputs included, fit easily in 2 GiB


@dataclasses.dataclass(frozen=True)
class Submission:
    """One notebook file handed in by one student."""

    student_id: str
    path: Path
    label: str  # the path inside SUBMISSIONS, for logs and feedback
    sha256: str


def unpack(source: Path, scratch: Path) -> Path:
    """The folder to search: ``source`` itself, or its notebooks extracted from a zip.

    Only ``.ipynb`` members are extracted; absolute or ``..`` member names and archives
    larger than 2 GiB uncompressed are refused (``ValueError``).
    """
    if source.is_dir():
        return source
    if not zipfile.is_zipfile(source):
        raise ValueError(f"{source} is neither a folder nor a zip file of submissions.")
    target = scratch / "unzipped"
    with zipfile.ZipFile(source) as archive:
        members = [m for m in archive.infolist() if m.filename.endswith(".ipynb")]
        if sum(member.file_size for member in members) > MAX_ZIP_BYTES:
            raise ValueError(f"{source} holds more than 2 GiB of notebooks; unzip and split it.")
        for member in members:
            name = PurePosixPath(member.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts:
                raise ValueError(f"{source} contains an unsafe path: {member.filename!r}")
            destination = target.joinpath(*name.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(archive.read(member))
    return _skip_wrapper_folder(target)


def _skip_wrapper_folder(folder: Path) -> Path:
    entries = [entry for entry in folder.iterdir() if not _ignored(entry.name)] \
        if folder.is_dir() else []
    if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].glob("*.ipynb")) \
            and any(entry.is_dir() for entry in entries[0].iterdir()):
        return entries[0]
    return folder


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_PARTS


def discover(root: Path) -> list[Submission]:
    """Every notebook under ``root`` with the student it belongs to, sorted by student, path."""
    found = []
    for path in sorted(root.rglob("*.ipynb")):
        relative = path.relative_to(root)
        if any(_ignored(part) for part in relative.parts):
            continue
        if len(relative.parts) > 1:
            student = relative.parts[0]
        else:
            student = path.stem.split("_", 1)[0].strip()
        found.append(Submission(student_id=student or path.stem, path=path,
                                label=relative.as_posix(),
                                sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    return sorted(found, key=lambda sub: (sub.student_id, sub.label))


# --------------------------------------------------------------------------- identification

def normalize(source: str) -> str:
    """Cell text compared for identity: line endings, trailing spaces and blank edges ignored."""
    lines = [line.rstrip() for line in source.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def fingerprint(source: str) -> str:
    return hashlib.sha1(normalize(source).encode()).hexdigest()


def clean_name(filename: str) -> str:
    """A file name without what Colab and LMSs add: "Copy of ", " (1)", ".ipynb".

    >>> clean_name("Copy of 02_dropout (1).ipynb")
    '02_dropout'
    """
    stem = re.sub(r"\.ipynb$", "", filename, flags=re.IGNORECASE)
    stem = re.sub(r"^(copy of |kopie von |copie de )+", "", stem, flags=re.IGNORECASE)
    return re.sub(r"\s*\(\d+\)$", "", stem).strip()


def content_matches(cells: list, assignment: Assignment) -> int:
    """How many of the assignment's given cells this notebook contains (by grade_id or text)."""
    ids = {nbgrader_meta(cell).get("grade_id") for cell in cells}
    texts = {fingerprint(cell.get("source", "")) for cell in cells}
    return sum(1 for spec in assignment.cells
               if spec.name in ids or (normalize(spec.release_source)
                                       and fingerprint(spec.release_source) in texts))


def identify(cells: list, filename: str, assignments: dict[str, Assignment]) -> Assignment | None:
    """The assignment a notebook is, by content first and by name second; None if neither.

    A notebook counts as a match by content when it shares at least two given cells
    (grade_id or text) with an assignment; the best match wins, the name breaks ties.
    A notebook with too little content left is matched by its (cleaned) file name.
    """
    name = clean_name(filename)

    def named(assignment: Assignment) -> bool:
        return assignment.notebook == name or name.endswith(f"_{assignment.notebook}")

    ranked = sorted(assignments.values(),
                    key=lambda a: (content_matches(cells, a), named(a), a.name), reverse=True)
    if ranked and content_matches(cells, ranked[0]) >= 2:
        return ranked[0]
    return next((assignment for assignment in ranked if named(assignment)), None)
