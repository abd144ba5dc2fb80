"""`make rehearsal`: every lesson in the full profile, on a CPU, offline, against stand-ins.

The full profile needs a GPU, the Kaggle fruits dataset and torchvision's ImageNet
weights, none of which CI has. The rehearsal runs its code paths anyway, against
stand-ins in the real layouts, found by the real lookup code:

- the fruits: :func:`build_fruits_standin` writes a miniature of Kaggle's
  ``dataset/{train,test}/<six classes>/*.png`` (file names with spaces, an RGBA image
  in each split, photo-like sizes), which ``convtrain.data.locate_fruits`` finds
  through ``$CONVTRAIN_FRUITS_DIR``;
- the weights: :func:`build_weight_standins` saves randomly initialised state dicts of
  ResNet18 and VGG19 in torch's hub cache (``$TORCH_HOME/hub/checkpoints/``) under the
  file names torchvision downloads them to (``resnet18-f37072fd.pth``, ...), so
  ``convtrain.models.backbone("resnet18")`` loads them as it would the real ones;
- the sizes: ``$CONVTRAIN_PROFILE_OVERRIDES`` (:data:`OVERRIDES`, and
  :data:`LESSON_OVERRIDES` on top for lesson 05's ResNet18 and VGG19) shrinks image
  counts, steps, epochs and seeds to the fast profile's, keeping the full profile's 224-px
  images and batch size, so each lesson takes a minute or a few;
- the claims: with ``CONVTRAIN_REHEARSAL=1`` a claim made with
  ``ct.claim(..., needs="pretrained weights")`` or ``needs="real data"`` is recorded as
  *not checkable in a rehearsal*; every other claim is asserted as usual.

FiftyOne (lesson 05) gets a database of its own in the scratch folder. Each solution
notebook then runs with ``convtrain.instructor.headless.execute_notebook``; the executed
notebooks are written to ``artifacts/rehearsal/``, the claims to
``artifacts/claims/rehearsal.jsonl`` (replaced at each rehearsal). It prints one line per
lesson with its wall time, the claims table with the claims it could not check, and the
total time; exit status 1 when a notebook fails (or a claim fails, or a lesson reached
for the network)::

    python -m convtrain.instructor.rehearsal [LESSON ...] [--overrides TEXT] [--keep DIR]

On a machine with a GPU the rehearsal runs there (AMP and channels_last for real);
set ``CONVTRAIN_DEVICE=cpu`` to rehearse what CI runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlparse

from convtrain.instructor import claims_table, course

# The profile's sizes in a rehearsal: the full profile's 224-px images, batch size and
# DataLoader workers; the fast profile's numbers of images, steps and epochs, so a claim
# about a training run is measured on a run as long as in CI's fast profile (which checks
# the claims on three seeds; here one seed, as the training runs at 224 px dominate).
OVERRIDES = "n_train=256,n_val=64,epochs=3,steps=60,seeds=1"
# Lessons that need other sizes, on top of OVERRIDES. 06: its ensembles have cfg.seeds
# members, an odd number above 1. 05: ResNet18 and VGG19 train at 224 px for `steps`
# epochs of n_train // 16 images, each epoch validated on n_val images (its claims about
# these runs need the pretrained weights); it times batches of batch_size images.
LESSON_OVERRIDES = {
    "05_transfer_learning": "n_train=96,n_val=16,batch_size=16,steps=4",
    "06_ensembling": "seeds=3",
}
TRAIN_PER_CLASS = 54  # (n_train + n_val) / 6: the train split holds both
TEST_PER_CLASS = 5
CLAIMS_FILE = Path("artifacts") / "claims" / "rehearsal.jsonl"
EXECUTED_FOLDER = Path("artifacts") / "rehearsal"
CELL_TIMEOUT = 1800  # seconds per cell: VGG19 at 224 px on two CPU cores is slow

# Fresh and rotten apples, bananas and oranges: the fruit's colour, its shape (width,
# height as fractions of the image), and for rotten ones the colour of their spots.
_FRUIT_COLOURS = {"apples": (190, 30, 35), "banana": (235, 205, 50), "oranges": (245, 140, 25)}
_FRUIT_SHAPES = {"apples": (0.55, 0.55), "banana": (0.8, 0.3), "oranges": (0.6, 0.6)}
_NAME_PREFIXES = ("", "rotated_by_15_", "translation_", "vertical_flip_", "rotated_by_45_")


# --------------------------------------------------------------------------- stand-ins


def build_fruits_standin(root: str | Path, train_per_class: int = TRAIN_PER_CLASS,
                         test_per_class: int = TEST_PER_CLASS, seed: int = 0) -> Path:
    """Write a miniature of the Kaggle fruits dataset under ``root``; return ``root/dataset``.

    The layout is Kaggle's: ``root/dataset/{train,test}/<class>/<name>.png`` for the six
    classes of ``convtrain.data.FRUIT_CLASSES``. File names are like the real ones, with
    spaces (``"Screen Shot 2018-06-08 at 4.59.44 PM.png"``, ``"rotated_by_15_Screen
    Shot ..."``); sizes vary between about 150 and 450 pixels a side, as photos and
    screenshots do; the first image of ``rottenapples`` in each split is RGBA (a cut-out
    on a transparent background), the others RGB. Each class is a fruit-coloured ellipse
    (rotten ones darker, with brown spots) on a noisy light background, so a network can
    learn something from them; they are still no stand-in for the real photos' content.

    Args:
        root: folder to write into (created; ``root/dataset`` must not exist yet).
        train_per_class, test_per_class: images per class in each split.
        seed: the same seed writes the same images.
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    from convtrain.data import FRUIT_CLASSES

    dataset = Path(root) / "dataset"
    rng = np.random.default_rng(seed)
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        for class_index, name in enumerate(FRUIT_CLASSES):
            folder = dataset / split / name
            folder.mkdir(parents=True)
            rotten, fruit = name.startswith("rotten"), name.removeprefix("fresh").removeprefix("rotten")
            for i in range(per_class):
                width, height = (int(v) for v in rng.integers(150, 450, size=2))
                background = rng.integers(200, 250, size=3)
                pixels = np.broadcast_to(background, (height, width, 3)).astype(np.float64)
                image = Image.fromarray(pixels.astype(np.uint8))
                draw = ImageDraw.Draw(image)
                colour = np.array(_FRUIT_COLOURS[fruit]) * (0.55 if rotten else 1.0)
                colour = np.clip(colour + rng.normal(0, 12, size=3), 0, 255)
                shape_w, shape_h = _FRUIT_SHAPES[fruit]
                centre = (width * rng.uniform(0.4, 0.6), height * rng.uniform(0.4, 0.6))
                box = [centre[0] - width * shape_w / 2, centre[1] - height * shape_h / 2,
                       centre[0] + width * shape_w / 2, centre[1] + height * shape_h / 2]
                draw.ellipse(box, fill=tuple(int(c) for c in colour))
                for _ in range(int(rng.integers(4, 9)) if rotten else 0):
                    x, y = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
                    r = rng.uniform(4, 0.08 * min(width, height) + 5)
                    draw.ellipse([x - r, y - r, x + r, y + r], fill=(70, 45, 20))
                image = image.filter(ImageFilter.GaussianBlur(1.5))
                noisy = np.asarray(image, dtype=np.float64) + rng.normal(0, 6, size=(height, width, 3))
                image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
                if name == "rottenapples" and i == 0:
                    mask = Image.new("L", image.size, 0)
                    ImageDraw.Draw(mask).ellipse(box, fill=255)
                    image.putalpha(mask)
                image.save(folder / _file_name(split, class_index, i), compress_level=1)  # fast
    return dataset


def _file_name(split: str, class_index: int, i: int) -> str:
    """A Kaggle-like name with spaces, unique within its folder."""
    seconds = 1000 * (split == "test") + 60 * class_index + i
    hour = 1 + (seconds // 3600) % 12
    return (f"{_NAME_PREFIXES[i % len(_NAME_PREFIXES)]}Screen Shot 2018-06-0{1 + i % 9} at "
            f"{hour}.{seconds // 60 % 60:02d}.{seconds % 60:02d} {'AM' if i % 2 else 'PM'}.png")


def imagenet_backbones() -> list[str]:
    """The backbones of ``convtrain.models`` whose weights torchvision downloads (ResNet18, VGG19)."""
    from convtrain.models import backbone_weights
    from convtrain.models.backbones import BACKBONES

    return [name for name in BACKBONES if getattr(backbone_weights(name), "url", None)]


def weight_file_name(name: str) -> str:
    """The file torch's hub cache keeps backbone ``name``'s weights in: the last part of
    its torchvision ``Weights.url``, as ``torch.hub.load_state_dict_from_url`` names it.

    >>> weight_file_name("resnet18")
    'resnet18-f37072fd.pth'
    """
    from convtrain.models import backbone_weights

    return os.path.basename(urlparse(backbone_weights(name).url).path)


def build_weight_standins(torch_home: str | Path, names: Sequence[str] | None = None,
                          seed: int = 0) -> dict[str, Path]:
    """Save randomly initialised weights for each backbone in ``names`` where torchvision
    looks for its downloaded weights; return ``{name: file}``.

    Each file is the ``state_dict`` of ``convtrain.models.backbone(name, pretrained=False)``
    (the real architecture, torchvision's own initialisation, seeded with ``seed``) at
    ``torch_home/hub/checkpoints/<weight_file_name(name)>``. With ``TORCH_HOME`` set to
    ``torch_home``, ``backbone(name)`` loads it instead of downloading (torchvision checks
    the file's hash only when it downloads).

    Args:
        torch_home: the folder ``$TORCH_HOME`` will name.
        names: backbones (default: :func:`imagenet_backbones`).
        seed: the same seed writes the same weights; the global random state is untouched.
    """
    import torch

    from convtrain.models import backbone

    folder = Path(torch_home) / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in names if names is not None else imagenet_backbones():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            state = backbone(name, pretrained=False).state_dict()
        path = folder / weight_file_name(name)
        partial = path.with_name(f".partial-{path.name}")
        torch.save(state, partial)
        partial.replace(path)  # never a half-written file under the name torchvision loads
        files[name] = path
        del state
    return files


def merge_overrides(*texts: str) -> str:
    """Profile overrides (``"n_train=48,steps=6"``) combined; a later text wins for a field.

    >>> merge_overrides("n_train=48,steps=6", "steps=4, seeds=1")
    'n_train=48,steps=4,seeds=1'
    """
    from convtrain.runtime import parse_overrides

    merged: dict[str, int] = {}
    for text in texts:
        merged.update(parse_overrides(text))
    return ",".join(f"{field}={value}" for field, value in merged.items())


def lesson_overrides(lesson: str, overrides: str = OVERRIDES) -> str:
    """The profile overrides ``lesson`` is rehearsed with: ``overrides``, then its own
    :data:`LESSON_OVERRIDES` when ``overrides`` is the default."""
    if overrides != OVERRIDES:
        return overrides
    return merge_overrides(overrides, LESSON_OVERRIDES.get(lesson, ""))


def rehearsal_environment(scratch: str | Path, fruits_dir: str | Path, torch_home: str | Path,
                          claims_file: str | Path, overrides: str = OVERRIDES) -> dict[str, str]:
    """The environment variables a notebook's kernel rehearses the full profile under.

    Args:
        scratch: a temporary folder for the convtrain cache and FiftyOne's database.
        fruits_dir: a folder holding the fruits stand-in (:func:`build_fruits_standin`).
        torch_home: the folder holding ``hub/checkpoints`` (:func:`build_weight_standins`).
        claims_file: where the lessons' claims are appended, one JSON line each.
        overrides: the profile's sizes (``$CONVTRAIN_PROFILE_OVERRIDES``).
    """
    scratch = Path(scratch)
    return {
        "CONVTRAIN_PROFILE": "full",
        "CONVTRAIN_PROFILE_OVERRIDES": overrides,
        "CONVTRAIN_REHEARSAL": "1",
        "CONVTRAIN_FRUITS_DIR": str(fruits_dir),
        "CONVTRAIN_CACHE": str(scratch / "convtrain-cache"),  # nothing is downloaded or extracted
        "TORCH_HOME": str(torch_home),
        "CONVTRAIN_CLAIMS_FILE": str(claims_file),
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_DATABASE_DIR": str(scratch / "fiftyone-db"),
        "FIFTYONE_DATABASE_VALIDATION": "false",
    }


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """Set ``variables`` in ``os.environ`` (kernels inherit them) and restore it afterwards."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def failing_cell(notebook_path: Path, error: BaseException) -> str:
    """Where a notebook failed: ``cell 35 (grade id), line 5: AssertionError: ...``."""
    import nbformat

    summary = f"{getattr(error, 'ename', type(error).__name__)}: {getattr(error, 'evalue', error)}"
    summary = summary.strip().splitlines()[0] if summary.strip() else type(error).__name__
    match = re.search(r"-{18}\n(.*?)\n-{18}", str(error), re.DOTALL)
    if not match:
        return summary
    cells = nbformat.read(notebook_path, as_version=4).cells
    for index, cell in enumerate(cells):
        if cell.cell_type == "code" and cell.source.strip() == match.group(1).strip():
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            return f"cell {index}{f' ({grade_id})' if grade_id else ''}: {summary}"
    return summary


def run_lessons(root: Path, lessons: Sequence[str], out: Path, overrides: str = OVERRIDES,
                timeout: int = CELL_TIMEOUT) -> dict[str, tuple[float, BaseException | None]]:
    """Execute each solution notebook with the current environment and the lesson's profile
    overrides (:func:`lesson_overrides`); print a line per lesson.

    Returns ``{lesson: (wall seconds, the error or None)}``; an executed notebook is
    written to ``out/<lesson>.ipynb`` when it ran to the end.
    """
    from convtrain.instructor.headless import execute_notebook

    results: dict[str, tuple[float, BaseException | None]] = {}
    for lesson in lessons:
        path = root / "solutions" / lesson / f"{lesson}.ipynb"
        sizes = lesson_overrides(lesson, overrides)
        started, cpu_before = time.perf_counter(), _children_cpu_seconds()
        error = None
        try:
            with environment({"CONVTRAIN_PROFILE_OVERRIDES": sizes}):
                execute_notebook(path, out / f"{lesson}.ipynb", timeout=timeout)
        except Exception as caught:  # noqa: BLE001 - a cell's error, a timeout, a dead kernel
            error = caught
        finally:
            stop_own_kernels()
        seconds, cpu = time.perf_counter() - started, _children_cpu_seconds() - cpu_before
        results[lesson] = (seconds, error)
        verdict = "ok    " if error is None else "FAILED"
        own = f"  [{sizes}]" if sizes != overrides else ""
        where = "" if error is None else f"  {failing_cell(path, error)}"
        print(f"{verdict} {lesson:<28} {seconds:6.0f} s  (CPU {cpu:6.0f} s){own}{where}", flush=True)
    return results


def stop_own_kernels(timeout: float = 10) -> list[int]:
    """Stop the Jupyter kernels this process started that still run; return their ids.

    nbclient leaves a kernel running when it is given the kernel's manager, as
    ``execute_notebook`` does (it shuts down only kernels whose manager it made), so each
    lesson's kernel, with its models in memory, would live until this process ends. They
    are asked to stop (SIGTERM), killed after ``timeout`` seconds, and waited for.
    """
    import psutil

    kernels = []
    for child in psutil.Process().children():
        try:
            if any("ipykernel_launcher" in part for part in child.cmdline()):
                kernels.append(child)
        except psutil.Error:  # exited meanwhile
            continue
    for kernel in kernels:
        with contextlib.suppress(psutil.Error):
            kernel.terminate()
    _, alive = psutil.wait_procs(kernels, timeout=timeout)
    for kernel in alive:
        with contextlib.suppress(psutil.Error):
            kernel.kill()
    psutil.wait_procs(alive, timeout=timeout)
    return [kernel.pid for kernel in kernels]


def _children_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process's finished children: the lessons' kernels
    and their DataLoader workers. On a busy machine it says what a lesson costs, its wall
    time what it took there."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def claims_report(claims_file: Path) -> tuple[str, int]:
    """The claims table of a rehearsal, with the list of claims it could not check, and the
    number of claims that failed."""
    if not claims_file.is_file() or not claims_file.read_text(encoding="utf-8").strip():
        return f"no claims recorded in {claims_file} (no lesson made one through ct.claim)", 0
    entries = claims_table.read([claims_file])
    unchecked = [e for e in entries if claims_table.status(e) == "not checkable in a rehearsal"]
    failed = [e for e in entries if e.get("held") is False]
    held = len(entries) - len(unchecked) - len(failed)
    lines = [claims_table.markdown(entries), "",
             f"{len(entries)} claims: {held} held, {len(failed)} failed, "
             f"{len(unchecked)} not checkable in a rehearsal"]
    if unchecked:
        lines += ["", "not checkable in a rehearsal (stand-ins are no real weights or data):"]
        lines += [f"  {e.get('lesson')}: {e['id']} (needs {e.get('needs')}): {e.get('why')}"
                  for e in unchecked]
    return "\n".join(lines), len(failed)


def network_reached(torch_home: Path, scratch: Path, weight_files: dict[str, Path]) -> list[str]:
    """What a lesson downloaded although a stand-in was there: files the rehearsal did not write."""
    checkpoints = torch_home / "hub" / "checkpoints"
    ours = {path.name for path in weight_files.values()}
    found = [f"torch hub cache: {path.name}" for path in sorted(checkpoints.iterdir())
             if path.name not in ours]
    cache = scratch / "convtrain-cache"
    if cache.exists():
        found += [f"convtrain cache: {path.name}" for path in sorted(cache.iterdir())]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convtrain.instructor.rehearsal",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    parser.add_argument("--overrides", default=OVERRIDES,
                        help="the profile's sizes for every lesson, as CONVTRAIN_PROFILE_OVERRIDES "
                             f"(default: {OVERRIDES}, and for some lessons {LESSON_OVERRIDES})")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    parser.add_argument("--keep", type=Path, help="build the stand-ins in this folder and keep them")
    args = parser.parse_args(argv)

    from convtrain import runtime

    root = course.repo_root()
    known = course.lessons(root / "solutions")
    unknown = sorted(set(args.lessons) - set(known))
    if unknown:
        print(f"rehearsal: no such lesson: {', '.join(unknown)}", file=sys.stderr)
        return 2
    lessons = args.lessons or known
    try:
        cfg = runtime.profile("full", overrides=args.overrides)
        for lesson in lessons:
            runtime.profile("full", overrides=lesson_overrides(lesson, args.overrides))
    except ValueError as error:
        print(f"rehearsal: {error}", file=sys.stderr)
        return 2
    published = (root / CLAIMS_FILE).resolve()  # a copy of this run's claims, at its end

    started, cpu_before = time.perf_counter(), _children_cpu_seconds()
    with contextlib.ExitStack() as stack:
        if args.keep:
            scratch = args.keep.resolve()
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
        else:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="convtrain-rehearsal-")))
        fruits = build_fruits_standin(scratch / "fruits")
        torch_home = scratch / "torch"
        weight_files = build_weight_standins(torch_home)
        # this run's own file: rehearsals running at the same time never mix their claims
        claims_file = scratch / "claims.jsonl"
        claims_file.unlink(missing_ok=True)
        variables = rehearsal_environment(scratch, scratch / "fruits", torch_home, claims_file,
                                          args.overrides)
        stack.enter_context(environment(variables))
        from convtrain.data import locate_fruits

        if locate_fruits().resolve() != fruits.resolve():
            print(f"rehearsal: the fruits lookup found {locate_fruits()}, not the stand-in at "
                  f"{fruits} (a dataset attached under /kaggle/input wins)", file=sys.stderr)
            return 2
        images = sum(1 for _ in fruits.rglob("*.png"))
        print(f"rehearsal of the full profile ({cfg.image_size} px, n_train={cfg.n_train}, "
              f"n_val={cfg.n_val}, batch_size={cfg.batch_size}, epochs={cfg.epochs}, "
              f"steps={cfg.steps}, seeds={cfg.seeds}, num_workers={cfg.num_workers}) in {scratch}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
              f"stand-ins: {images} fruit images in {fruits}; weights "
              f"{', '.join(path.name for path in weight_files.values())} in "
              f"{weight_files[next(iter(weight_files))].parent} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
        results = run_lessons(root, lessons, root / EXECUTED_FOLDER, args.overrides, args.timeout)
        downloads = network_reached(torch_home, scratch, weight_files)
        published.parent.mkdir(parents=True, exist_ok=True)
        if claims_file.is_file():
            shutil.copyfile(claims_file, published)
        else:
            published.unlink(missing_ok=True)
        claims_file = published

    failures = {lesson: error for lesson, (_, error) in results.items() if error is not None}
    for lesson, error in failures.items():
        print(f"\n---- {lesson} failed:\n{_tail(str(error), 60)}", file=sys.stderr)
    report, failed_claims = claims_report(claims_file)
    print(f"\n{report}")
    for found in downloads:
        print(f"rehearsal: a lesson wrote {found}: it did not use the stand-in", file=sys.stderr)
    total, cpu = time.perf_counter() - started, _children_cpu_seconds() - cpu_before
    print(f"\nmake rehearsal: {len(results) - len(failures)} of {len(results)} lessons ran in "
          f"{total:.0f} s ({total / 60:.1f} min; lessons' CPU time {cpu:.0f} s, load average "
          f"{os.getloadavg()[1]:.1f} over the last 5 min on {os.cpu_count()} CPUs); claims in "
          f"{claims_file}, executed notebooks in {root / EXECUTED_FOLDER}")
    return 1 if failures or failed_claims or downloads else 0


def _tail(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``, ANSI colours removed."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
    return "\n".join(([f"[... {len(plain) - lines} lines]"] if len(plain) > lines else [])
                     + plain[-lines:])


if __name__ == "__main__":
    sys.exit(main())
