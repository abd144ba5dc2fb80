"""Kaggle's "fruits fresh and rotten for classification", for the full profile.

Six classes (fresh/rotten apples, bananas, oranges), about 13.6k PNGs in
``dataset/{train,test}/<class>/*.png``. :func:`locate_fruits` looks, in order:

1. the dataset attached to a Kaggle notebook (``/kaggle/input/...``);
2. a folder or ``.zip`` you give (``root=`` or ``$CONVTRAIN_FRUITS_DIR``);
3. the convtrain cache (``~/.cache/convtrain/fruits``);
4. a download with ``kagglehub``, using the Colab secrets (or environment variables)
   ``KAGGLE_USERNAME`` and ``KAGGLE_KEY``, into the cache.

If all four fail, the error says exactly what to do.

>>> train = fruits("train")          # doctest: +SKIP
>>> train.classes                    # doctest: +SKIP
['freshapples', 'freshbanana', 'freshoranges', 'rottenapples', 'rottenbanana', 'rottenoranges']
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from convtrain.data.downloads import atomic_directory, cache_dir, extract_zip
from convtrain.data.folders import image_folder

KAGGLE_HANDLE = "sriramr/fruits-fresh-and-rotten-for-classification"
KAGGLE_INPUT = Path("/kaggle/input/fruits-fresh-and-rotten-for-classification/dataset")
FRUITS_DIR_VARIABLE = "CONVTRAIN_FRUITS_DIR"
FRUIT_CLASSES = ("freshapples", "freshbanana", "freshoranges",
                 "rottenapples", "rottenbanana", "rottenoranges")
FRUIT_SPLITS = ("train", "test")

WHAT_TO_DO = (
    "Do one of these:\n"
    "  • Colab: open the key icon (Secrets) in the left sidebar, add KAGGLE_USERNAME and "
    "KAGGLE_KEY (from kaggle.com → Settings → API → Create New Token), allow this notebook "
    "access, then rerun the cell.\n"
    "  • Kaggle: in the notebook's right panel, Add Input → search \"fruits fresh and rotten "
    "for classification\" (sriramr) → Add.\n"
    "  • Anywhere: run the offline fast profile instead: %env CONVTRAIN_PROFILE=fast, then "
    "restart the kernel."
)


class FruitsUnavailableError(RuntimeError):
    """The fruits dataset was found nowhere and could not be downloaded."""


def is_fruits_root(folder: Path) -> bool:
    """True if ``folder`` holds ``train/`` and ``test/``, each with the six class folders."""
    return all((folder / split / name).is_dir() for split in FRUIT_SPLITS for name in FRUIT_CLASSES)


def find_fruits_root(folder: str | Path, max_depth: int = 3) -> Path | None:
    """The folder at or below ``folder`` (at most ``max_depth`` levels) laid out as the dataset."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if is_fruits_root(folder):
        return folder
    if max_depth == 0:
        return None
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = find_fruits_root(child, max_depth - 1)
        if found is not None:
            return found
    return None


def kaggle_credentials() -> tuple[str, str] | None:
    """``(username, key)`` from Colab Secrets, else the environment; ``None`` if either is missing.

    Never print the key.
    """
    username, key = _colab_secret("KAGGLE_USERNAME"), _colab_secret("KAGGLE_KEY")
    username = username or os.environ.get("KAGGLE_USERNAME")
    key = key or os.environ.get("KAGGLE_KEY")
    return (username, key) if username and key else None


def _colab_secret(name: str) -> str | None:
    try:
        from google.colab import userdata
    except ImportError:
        return None
    try:
        return userdata.get(name)
    except Exception:  # noqa: BLE001 - SecretNotFoundError, NotebookAccessError, ...
        return None


def _has_kaggle_json() -> bool:
    folders = [os.environ.get("KAGGLE_CONFIG_DIR"), Path.home() / ".kaggle",
               Path.home() / ".config" / "kaggle"]
    return any(folder and (Path(folder) / "kaggle.json").is_file() for folder in folders)


def locate_fruits(root: str | Path | None = None) -> Path:
    """The folder holding ``train/`` and ``test/``, found (or downloaded) in the order of the module doc.

    Args:
        root: a folder containing the dataset, or the ``.zip`` downloaded from the Kaggle
            page (extracted once into the cache). Defaults to ``$CONVTRAIN_FRUITS_DIR``.

    Raises:
        FruitsUnavailableError: with the three ways to fix it.
    """
    searched = [str(KAGGLE_INPUT)]
    found = find_fruits_root(KAGGLE_INPUT, max_depth=1)
    if found is not None:
        return found
    given = root if root is not None else os.environ.get(FRUITS_DIR_VARIABLE)
    if given:
        searched.append(str(given))
        found = _from_user_path(Path(given).expanduser())
        if found is not None:
            return found
    cached = cache_dir() / "fruits"
    searched.append(str(cached))
    found = find_fruits_root(cached)
    if found is not None:
        return found
    return _download_with_kagglehub(cached, searched)


def _from_user_path(path: Path) -> Path | None:
    if path.is_file() and path.suffix == ".zip":
        return find_fruits_root(extract_zip(path, cache_dir() / "fruits"))
    if path.exists() and not path.is_dir():
        raise FruitsUnavailableError(f"{path} is neither a folder nor a .zip archive")
    found = find_fruits_root(path)
    if path.is_dir() and found is None:
        raise FruitsUnavailableError(
            f"{path} exists but does not hold the fruits dataset: expected "
            f"train/ and test/ folders, each with {', '.join(FRUIT_CLASSES)}"
        )
    return found


def _download_with_kagglehub(destination: Path, searched: list[str]) -> Path:
    where = "Looked in: " + "; ".join(searched) + "."
    credentials = kaggle_credentials()
    on_kaggle = "KAGGLE_KERNEL_RUN_TYPE" in os.environ
    if credentials is None and not on_kaggle and not _has_kaggle_json():
        raise FruitsUnavailableError(
            f"The fruits dataset is not here and there are no Kaggle credentials to download it. "
            f"{where}\n{WHAT_TO_DO}"
        )
    try:
        import kagglehub
    except ImportError:
        raise FruitsUnavailableError(
            f"The fruits dataset is not here and kagglehub is not installed. {where}\n"
            "Install it with: %pip install kagglehub   — or:\n" + WHAT_TO_DO
        ) from None
    try:
        with _credentials_in_environment(credentials), atomic_directory(destination) as work:
            kagglehub.dataset_download(KAGGLE_HANDLE, output_dir=str(work))
            if find_fruits_root(work) is None:
                raise FruitsUnavailableError(f"the Kaggle download of {KAGGLE_HANDLE} has an unexpected layout")
    except FruitsUnavailableError:
        raise
    except Exception as error:  # network, authentication, quota: kagglehub raises many kinds
        raise FruitsUnavailableError(
            f"Downloading {KAGGLE_HANDLE} with kagglehub failed ({type(error).__name__}: {error}). "
            f"{where}\n{WHAT_TO_DO}"
        ) from error
    return find_fruits_root(destination)


@contextlib.contextmanager
def _credentials_in_environment(credentials: tuple[str, str] | None) -> Iterator[None]:
    """Put the credentials where kagglehub reads them, only while it runs."""
    names = ("KAGGLE_USERNAME", "KAGGLE_KEY")
    saved = {name: os.environ.get(name) for name in names}
    if credentials is not None:
        os.environ.update(zip(names, credentials))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fruits(split: str = "train", transform: Callable | None = None, root: str | Path | None = None):
    """One split of the fruits dataset as an ImageFolder of ``(transform(RGB PIL image), label)``.

    Args:
        split: ``"train"`` (about 10.9k images) or ``"test"`` (about 2.7k).
        transform: applied to each RGB PIL image (RGBA files are converted to RGB first).
        root: a folder or .zip holding the dataset; see :func:`locate_fruits`.
    """
    if split not in FRUIT_SPLITS:
        raise ValueError(f"split must be one of {FRUIT_SPLITS}, got {split!r}")
    return image_folder(locate_fruits(root) / split, transform=transform)
