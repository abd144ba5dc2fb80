"""Where the code runs: device, seeds, the fast/full profile, and the environment.

>>> import torch, convtrain as ct
>>> cfg = ct.profile("fast")    # ct.profile() reads CONVTRAIN_PROFILE (default: full on CUDA)
>>> cfg.name, cfg.dataset
('fast', 'digits')
>>> ct.seed_everything(0)
>>> model = torch.nn.Linear(2, 1).to(ct.device("cpu"))
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

    @property
    def is_fast(self) -> bool:
        return self.name == "fast"


PROFILES = {
    "fast": Profile(
        name="fast", dataset="digits", backbone="tiny_digits", image_size=32,
        n_train=512, n_val=256, batch_size=64, epochs=3, steps=60, seeds=3, num_workers=0,
    ),
    "full": Profile(
        name="full", dataset="fruits", backbone="resnet18", image_size=224,
        n_train=4096, n_val=1024, batch_size=64, epochs=5, steps=500, seeds=5, num_workers=2,
    ),
}


def profile(name: str | None = None) -> Profile:
    """Return the profile named ``name``, else ``$CONVTRAIN_PROFILE``, else full on CUDA / fast.

    Raises:
        ValueError: for an unknown name, listing the valid ones.

    >>> profile("fast").image_size
    32
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
    return PROFILES[chosen]


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
