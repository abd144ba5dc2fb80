"""Downloads and archives: the cache folder, SHA-256 checks, atomic extraction.

"Atomic" means a dataset folder appears under its final name only once it is
complete: a download or extraction that is interrupted leaves a hidden
``.partial-*`` folder (removed on the next attempt), never a half-filled dataset.

>>> cache_dir().name
'convtrain'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

CACHE_VARIABLE = "CONVTRAIN_CACHE"


def cache_dir() -> Path:
    """Where downloads are kept: ``$CONVTRAIN_CACHE``, else ``$XDG_CACHE_HOME/convtrain``, else ``~/.cache/convtrain``."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "convtrain"


def sha256_of(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (works for files larger than memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise ``ValueError`` if the file's SHA-256 is not ``expected`` (hex, any case)."""
    actual = sha256_of(path)
    if actual != expected.lower():
        raise ValueError(f"{path} is corrupt or not the expected file: SHA-256 {actual}, "
                         f"expected {expected.lower()}. Delete it and download again.")


@contextlib.contextmanager
def atomic_directory(destination: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``destination``; rename it there on success.

    On an exception the temporary folder is deleted and ``destination`` is untouched.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "data"
    >>> with atomic_directory(target) as work:
    ...     _ = (work / "a.txt").write_text("done")
    >>> sorted(p.name for p in target.iterdir())
    ['a.txt']
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    for leftover in destination.parent.glob(f".partial-{destination.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".partial-{destination.name}-", dir=destination.parent))
    try:
        yield work
        os.replace(work, destination)  # atomic on one file system
    finally:
        shutil.rmtree(work, ignore_errors=True)


def extract_zip(archive: str | Path, destination: str | Path, *, sha256: str | None = None) -> Path:
    """Extract a .zip archive into ``destination`` atomically; reuse it if it already exists.

    Args:
        archive: the .zip file (e.g. ``archive.zip`` downloaded from a Kaggle dataset page).
        destination: the folder to create.
        sha256: when known, the archive's expected SHA-256, checked before extracting.

    Raises:
        ValueError: wrong checksum, or a member that would land outside ``destination``.
    """
    destination = Path(destination)
    if destination.is_dir():
        return destination
    if sha256 is not None:
        verify_sha256(archive, sha256)
    with zipfile.ZipFile(archive) as zipped, atomic_directory(destination) as work:
        for member in zipped.namelist():
            target = (work / member).resolve()
            if not target.is_relative_to(work.resolve()):
                raise ValueError(f"refusing to extract {member!r}: it points outside {destination}")
        zipped.extractall(work)
    return destination


def download(url: str, destination: str | Path, *, sha256: str | None = None,
             timeout: float = 30.0) -> Path:
    """Download ``url`` to the file ``destination`` (reused if present and its checksum matches).

    The bytes go to ``destination.part`` first and are renamed only after the SHA-256
    (when given) matches, so an interrupted download never looks finished.

    Raises:
        ConnectionError: no network (with what to do); ValueError: checksum mismatch.
    """
    destination = Path(destination)
    if destination.is_file() and (sha256 is None or sha256_of(destination) == sha256.lower()):
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as file:
            shutil.copyfileobj(response, file)
    except OSError as error:  # URLError, timeouts and refused connections are all OSErrors
        partial.unlink(missing_ok=True)
        raise ConnectionError(
            f"could not download {url} ({error}). Check the internet connection, or run the "
            "offline fast profile: %env CONVTRAIN_PROFILE=fast"
        ) from error
    try:
        if sha256 is not None:
            verify_sha256(partial, sha256)
    except ValueError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, destination)
    return destination
