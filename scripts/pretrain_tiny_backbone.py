"""Pretrain the offline backbone ``tiny_digits`` and write it into the package.

    python scripts/pretrain_tiny_backbone.py           # train, save, update the constants
    python scripts/pretrain_tiny_backbone.py --check   # train and only compare with what is committed

The source task is scikit-learn's digits 0-4 (3 channels, 32x32), using the fixed
train split of ``convtrain.data.digits``; accuracy is measured on its test split.
Digits 5-9 are never loaded: the transfer-learning lesson uses them as the new task.

Everything is seeded and runs on the CPU with one thread, so a rerun on the same
machine writes the same bytes (another CPU type may differ in the last bits; the
script then records the new SHA-256). It writes
``src/convtrain/weights/tiny_digits_v1.pt`` (a state_dict) and rewrites the block of
constants between the GENERATED markers in ``src/convtrain/models/backbones.py``: the file's
SHA-256 (checked on every load), the normalization mean/std and the test accuracy.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import time
from pathlib import Path

import torch
from torch import nn

from convtrain import data, models, seed_everything
from convtrain.models import backbones
from convtrain.train import evaluate

ROOT = Path(__file__).resolve().parents[1]
BACKBONES_FILE = ROOT / "src" / "convtrain" / "models" / "backbones.py"
WEIGHTS_FILE = ROOT / "src" / "convtrain" / "weights" / backbones.TINY_DIGITS_FILE
SOURCE_CLASSES = range(5)
SEED, EPOCHS, BATCH_SIZE, LR = 0, 12, 32, 0.05


def load_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = data.digits(split, image_size=32, channels=3, classes=SOURCE_CLASSES)
    return dataset.images, dataset.labels


def normalization(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of the training images, rounded so the constants stay readable."""
    mean, std = data.mean_std(images)
    return tuple(round(float(m), 4) for m in mean), tuple(round(float(s), 4) for s in std)


def normalize(images: torch.Tensor, mean, std) -> torch.Tensor:
    return (images - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def train(images: torch.Tensor, labels: torch.Tensor) -> nn.Module:
    seed_everything(SEED)
    model = models.TinyDigitsNet(num_classes=len(SOURCE_CLASSES))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = len(images) // BATCH_SIZE
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LR, total_steps=EPOCHS * steps_per_epoch)
    generator = torch.Generator().manual_seed(SEED)
    model.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(images), generator=generator)
        for step in range(steps_per_epoch):
            index = order[step * BATCH_SIZE:(step + 1) * BATCH_SIZE]
            loss = nn.functional.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"epoch {epoch + 1:2d}/{EPOCHS}: last batch loss {loss.item():.4f}")
    return model.eval()


def serialize(model: nn.Module) -> bytes:
    state = {name: tensor.detach().clone().contiguous() for name, tensor in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def accuracy(model: nn.Module, images, labels, batch_size: int = 256, train_mode: bool = False) -> float:
    """Accuracy in eval mode, or in train mode with ``batch_size`` (to show BN's batch dependence)."""
    if not train_mode:
        return evaluate(model, [(images, labels)])["accuracy"]
    model.train()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(images[start:start + batch_size])
            correct += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    model.eval()
    return correct / len(images)


def report_effects(model: nn.Module, test_images, test_labels, mean, std) -> None:
    """Print the effects the lessons show: normalization mismatch and BatchNorm with batch size 1."""
    matched = normalize(test_images, mean, std)
    imagenet = normalize(test_images, data.IMAGENET_MEAN, data.IMAGENET_STD)
    print(f"accuracy, matched normalization      : {accuracy(model, matched, test_labels):.3f}")
    print(f"accuracy, ImageNet normalization     : {accuracy(model, imagenet, test_labels):.3f}")
    print(f"accuracy, no normalization ([0, 1])  : {accuracy(model, test_images, test_labels):.3f}")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    print("accuracy, train-mode BN, batch size 1: "
          f"{accuracy(model, matched, test_labels, batch_size=1, train_mode=True):.3f}")
    model.load_state_dict(state)  # train-mode forwards moved the running statistics


def write_constants(sha256: str, mean, std, test_accuracy: float) -> None:
    source = BACKBONES_FILE.read_text()
    block = (
        "# BEGIN GENERATED by scripts/pretrain_tiny_backbone.py (do not edit by hand)\n"
        f'TINY_DIGITS_SHA256 = "{sha256}"\n'
        f"TINY_DIGITS_MEAN = {tuple(mean)!r}\n"
        f"TINY_DIGITS_STD = {tuple(std)!r}\n"
        f"TINY_DIGITS_TEST_ACCURACY = {test_accuracy:.4f}  # on the test split of digits 0-4\n"
        "# END GENERATED"
    )
    pattern = re.compile(r"# BEGIN GENERATED by scripts/pretrain_tiny_backbone\.py.*?# END GENERATED", re.S)
    if not pattern.search(source):
        sys.exit(f"Cannot find the GENERATED block in {BACKBONES_FILE}.")
    BACKBONES_FILE.write_text(pattern.sub(lambda _: block, source))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that training reproduces the committed file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()

    train_images, train_labels = load_split("train")
    test_images, test_labels = load_split("test")
    mean, std = normalization(train_images)
    model = train(normalize(train_images, mean, std), train_labels)
    test_accuracy = accuracy(model, normalize(test_images, mean, std), test_labels)
    payload = serialize(model)
    sha256 = hashlib.sha256(payload).hexdigest()
    print(f"trained in {time.perf_counter() - start:.1f} s on {len(train_images)} images; "
          f"test accuracy {test_accuracy:.4f} on {len(test_images)}; mean {mean}, std {std}")
    print(f"{len(payload) / 1024:.0f} KiB, {models.count_parameters(model)} parameters, "
          f"SHA-256 {sha256}")
    report_effects(model, test_images, test_labels, mean, std)

    if args.check:
        same = sha256 == backbones.TINY_DIGITS_SHA256
        print("reproduces the committed weights" if same else
              f"DIFFERS from the committed weights ({backbones.TINY_DIGITS_SHA256})")
        return 0 if same else 1
    WEIGHTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    WEIGHTS_FILE.write_bytes(payload)
    write_constants(sha256, mean, std, test_accuracy)
    print(f"wrote {WEIGHTS_FILE.relative_to(ROOT)} and the constants in {BACKBONES_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
