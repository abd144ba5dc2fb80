"""Where the code runs: device, seeds, the fast/full profile, and the environment.

>>> import torch, convtrain as ct
>>> cfg = ct.profile("fast")    # ct.profile() reads CONVTRAIN_PROFILE (default: full on CUDA)
>>> cfg.name, cfg.dataset
('fast', 'digits')
>>> ct.seed_everything(0)
>>> model = torch.nn.Linear(2, 1).to(ct.device("cpu"))

A profile's sizes can be overridden, field by field, with ``CONVTRAIN_PROFILE_OVERRIDES``
(``"n_train=48,n_val=24,batch_size=8,steps=6"``): the full-profile rehearsal uses it to run
the full profile's code paths on a CPU in minutes (``make rehearsal``). Only the sizes
can be changed (:data:`SIZE_FIELDS`); the dataset and backbone come with the profile.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys

import numpy as np
import torch

PROFILE_VARIABLE = "CONVTRAIN_PROFILE"
DEVICE_VARIABLE = "CONVTRAIN_DEVICE"
OVERRIDES_VARIABLE = "CONVTRAIN_PROFILE_OVERRIDES"


@dataclasses.dataclass(frozen=True)
class Profile:
    """The sizes a lesson reads, so one notebook runs in seconds on a CPU and for real on a GPU.

    Attributes:
        name: ``"fast"`` (CPU, offline, seconds) or ``"full"`` (GPU, real data and weights).
        dataset: the image-classification dataset lessons train on: ``"digits"`` or ``"fruits"``.
        backbone: the pretrained network for transfer learning: ``"tiny_digits"`` or ``"resnet18"``.
        image_size: side length, in pixels, of the images fed to networks.
        n_train: training samples a lesson uses (a subset where the dataset is larger).
        n_val: validation samples.
        batch_size: mini-batch size.
        epochs: epochs for a full training run in a lesson.
        steps: optimizer steps for quick experiments (e.g. comparing two set-ups).
        seeds: how many seeds a claim "over seeds" is measured on.
        num_workers: DataLoader worker processes.
        capstone_image_size: side length of the capstone's images (lesson 09).
        capstone_budget_s: the capstone's training budget, in seconds (lesson 09).

    The sizes (``image_size`` to ``capstone_budget_s``) can be overridden without editing a
    notebook through ``$CONVTRAIN_PROFILE_OVERRIDES`` (see :func:`profile`).
    """

    name: str
    dataset: str
    backbone: str
    image_size: int
    n_train: int
    n_val: int
    batch_size: int
    epochs: int
    steps: int
    seeds: int
    num_workers: int
    capstone_image_size: int = 32
    capstone_budget_s: int = 60

    @property
    def is_fast(self) -> bool:
        return self.name == "fast"


# The fields CONVTRAIN_PROFILE_OVERRIDES may change, with the smallest value each may take.
SIZE_FIELDS = {"image_size": 1, "n_train": 1, "n_val": 1, "batch_size": 1, "epochs": 1,
               "steps": 1, "seeds": 1, "num_workers": 0,
               "capstone_image_size": 8, "capstone_budget_s": 1}


PROFILES = {
    "fast": Profile(
        name="fast", dataset="digits", backbone="tiny_digits", image_size=32,
        n_train=512, n_val=256, batch_size=64, epochs=3, steps=60, seeds=3, num_workers=0,
        capstone_image_size=32, capstone_budget_s=60,
    ),
    "full": Profile(
        name="full", dataset="fruits", backbone="resnet18", image_size=224,
        n_train=4096, n_val=1024, batch_size=64, epochs=5, steps=500, seeds=5, num_workers=2,
        capstone_image_size=64, capstone_budget_s=600,
    ),
}


def profile(name: str | None = None, overrides: str | None = None) -> Profile:
    """Return the profile named ``name``, else ``$CONVTRAIN_PROFILE``, else full on CUDA / fast.

    Its sizes are then overridden by ``overrides``, else ``$CONVTRAIN_PROFILE_OVERRIDES``
    (see :func:`parse_overrides`); unset or empty, the profile is returned as defined.

    Raises:
        ValueError: for an unknown name, listing the valid ones, or overrides that cannot be
            applied (see :func:`with_overrides`).

    >>> profile("fast").image_size
    32
    >>> profile("full", overrides="n_train=48, n_val=24, batch_size=8").n_train
    48
    """
    chosen = name or os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if not chosen:
        chosen = "full" if torch.cuda.is_available() else "fast"
    if chosen not in PROFILES:
        valid = ", ".join(sorted(PROFILES))
        raise ValueError(
            f"Unknown convtrain profile {chosen!r}. Valid profiles: {valid}. "
            f"Set it with: %env {PROFILE_VARIABLE}=fast  (or unset it for the default)."
        )
    text = overrides if overrides is not None else os.environ.get(OVERRIDES_VARIABLE, "")
    return with_overrides(PROFILES[chosen], parse_overrides(text))


def parse_overrides(text: str) -> dict[str, int]:
    """``"n_train=48,steps=6"`` → ``{"n_train": 48, "steps": 6}``, every field and value checked.

    Items are separated by commas, spaces around them are ignored; an empty text is no
    override. Fields are those of :data:`SIZE_FIELDS`, values whole numbers at least 1
    (``num_workers``: at least 0, ``capstone_image_size``: at least 8).

    Raises:
        ValueError: naming the item that cannot be read, an unknown or repeated field, or a
            value that is not a whole number or too small.

    >>> parse_overrides(" epochs=1, seeds=3 ")
    {'epochs': 1, 'seeds': 3}
    """
    where = f"in {OVERRIDES_VARIABLE}={text!r}"
    overrides: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        field, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not field:
            raise ValueError(f"cannot read {item!r} {where}: write field=value, e.g. n_train=48")
        if field not in SIZE_FIELDS:
            if field in ("name", "dataset", "backbone"):
                raise ValueError(f"{field!r} cannot be overridden {where}: it comes with the "
                                 f"profile; choose the profile with {PROFILE_VARIABLE}=fast|full")
            raise ValueError(f"unknown profile field {field!r} {where}. Fields that can be "
                             f"overridden: {', '.join(SIZE_FIELDS)}")
        if field in overrides:
            raise ValueError(f"{field!r} is given twice {where}")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{field}={value!r} {where} is not a whole number") from None
        if number < SIZE_FIELDS[field]:
            raise ValueError(f"{field}={number} {where}: it must be at least {SIZE_FIELDS[field]}")
        overrides[field] = number
    return overrides


def with_overrides(cfg: Profile, overrides: dict[str, int]) -> Profile:
    """A copy of ``cfg`` with ``overrides`` (from :func:`parse_overrides`) applied.

    The result keeps the contract every profile keeps: ``batch_size <= n_val <= n_train``.

    Raises:
        ValueError: when the overridden sizes break that contract, saying which to set.

    >>> with_overrides(profile("fast"), {"steps": 5}).steps
    5
    """
    if not overrides:
        return cfg
    changed = dataclasses.replace(cfg, **overrides)
    given = ", ".join(f"{field}={value}" for field, value in overrides.items())
    for small, large in (("batch_size", "n_val"), ("n_val", "n_train")):
        if getattr(changed, small) > getattr(changed, large):
            raise ValueError(
                f"{OVERRIDES_VARIABLE} ({given}) leaves the {cfg.name} profile with "
                f"{small}={getattr(changed, small)} > {large}={getattr(changed, large)}; "
                f"every profile has batch_size <= n_val <= n_train: override {small} or {large} too")
    return changed


def device(prefer: str | None = None) -> torch.device:
    """The best available device: ``$CONVTRAIN_DEVICE`` if set, else cuda, then mps, then cpu.

    >>> device("cpu")
    device(type='cpu')
    """
    chosen = prefer or os.environ.get(DEVICE_VARIABLE, "").strip()
    if chosen:
        return torch.device(chosen)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so reruns give the same numbers.

    With ``deterministic=True`` also ask cuDNN and torch for deterministic kernels
    (slower; some operations then raise if they have no deterministic version).

    >>> seed_everything(0); a = torch.rand(2)
    >>> seed_everything(0); bool((a == torch.rand(2)).all())
    True
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def environment() -> str:
    """Where this Python runs: ``"colab"``, ``"kaggle"``, ``"ci"`` or ``"local"``."""
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:
        return "colab"
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ or os.path.isdir("/kaggle/input"):
        return "kaggle"
    if os.environ.get("CI"):
        return "ci"
    return "local"
