"""Is data loading the bottleneck? Seconds per epoch fed by the DataLoader vs from memory.

    python benchmarks/bench_dataloader.py [--rounds 5] [--profile fast]

Trains the fast-profile model (``SimpleCNN`` with BatchNorm on the profile's 3-channel
digits) with ``convtrain.train.fit`` for one epoch at a time, alternately fed by

* the real ``DataLoader`` a lesson builds (``cfg.batch_size``, shuffled,
  ``cfg.num_workers`` workers, per-item transform), and
* the same batches collected once beforehand into a Python list (no loading at all),

and prints the fastest epoch of each and their ratio, plus one pass over the DataLoader
alone (no model): the loading cost itself, and the ratio it implies,
``1 + loading / in-memory epoch``, which stays steady when a busy machine makes the
measured ratio jump. A ratio near 1 means the model's
compute, not the data pipeline, sets the pace (goal: <= 1.15). Alternating the two
keeps a busy machine from favouring one of them, and the fastest of several epochs
(as ``timeit`` reports) is the one least disturbed by other processes. Both the wall
time and this process's CPU time are shown: on a shared machine the CPU time is the
steadier measure of the work itself (with ``num_workers > 0`` it misses the workers'
share, so read the wall time there).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

import convtrain as ct
from convtrain.models import SimpleCNN
from convtrain.train import fit

GOAL = 1.15


def epoch_seconds(model, batches, optimizer) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one epoch of ``fit``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fit(model, batches, epochs=1, optimizer=optimizer, progress=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def loading_seconds(loader) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one pass over ``loader`` without a model."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in loader:
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(cfg, transform, rounds: int) -> dict[str, tuple[float, float, float]]:
    """Fastest of ``rounds`` alternating epochs: {"wall"|"cpu": (DataLoader, in memory, loading alone)}."""
    dataset = ct.data.profile_dataset(cfg, "train", transform=transform)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                        num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0)
    in_memory = list(loader)
    ct.seed_everything(0)
    model = SimpleCNN(in_channels=3, num_classes=len(dataset.classes), batchnorm=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    epoch_seconds(model, in_memory, optimizer)  # warm-up: first-call costs are not loading costs
    from_loader, from_memory, loading = [], [], []
    for _ in range(rounds):
        from_loader.append(epoch_seconds(model, loader, optimizer))
        from_memory.append(epoch_seconds(model, in_memory, optimizer))
        loading.append(loading_seconds(loader))
    return {clock: tuple(min(t[i] for t in times) for times in (from_loader, from_memory, loading))
            for i, clock in enumerate(("wall", "cpu"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice); 1 steadies the CPU clock")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = ct.profile(args.profile)
    print(f"profile {cfg.name}: {cfg.n_train} images {cfg.image_size}x{cfg.image_size}, "
          f"batch {cfg.batch_size}, {cfg.num_workers} workers, {torch.get_num_threads()} torch "
          f"threads, fastest of {args.rounds} epochs each")
    normalize = v2.Normalize(mean=[0.3] * 3, std=[0.33] * 3)
    print(f"{'per-item transform':<19} {'clock':<5} {'DataLoader s':>12} {'in memory s':>12} "
          f"{'ratio':>6}  {'loading alone s':>15} {'implied ratio':>13}")
    for name, transform in (("none", None), ("Normalize", normalize)):
        for clock, (loader_s, memory_s, loading_s) in measure(cfg, transform, args.rounds).items():
            ratio = loader_s / memory_s
            verdict = "ok" if ratio <= GOAL else f"above the goal {GOAL}"
            implied = 1 + loading_s / memory_s
            print(f"{name:<19} {clock:<5} {loader_s:>12.3f} {memory_s:>12.3f} {ratio:>6.2f}  "
                  f"{loading_s:>15.3f} {implied:>13.2f}  {verdict}")


if __name__ == "__main__":
    main()
