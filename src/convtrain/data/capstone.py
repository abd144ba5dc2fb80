"""The capstone's data (lesson 09): training and validation in memory, the held-out test apart.

The notebook gets :func:`capstone_split` (train and validation); only the capstone's
hidden tests call :func:`capstone_heldout`, the split they score the saved model on.

- fast: scikit-learn's digits at ``cfg.capstone_image_size`` px, 3 channels: train is the
  fixed 60 % train split, validation the 20 % val split, the held-out test the 20 % test
  split (:func:`convtrain.data.digits`; all 1,797 images ship with scikit-learn, so the
  held-out digits are public: see the lesson's instructor notes);
- full: the fruits (:func:`convtrain.data.profile_dataset`): train and validation are
  ``cfg.n_train`` / ``cfg.n_val`` images of Kaggle's train split, the held-out test
  ``cfg.n_val`` images of its test split, each resized (shorter side) and center-cropped
  to ``cfg.capstone_image_size`` px.

Every split is a :class:`~convtrain.data.offline.TensorImageDataset` of float32 images
``(3, S, S)`` in ``[0, 1]`` held in memory, ``classes`` naming its labels; set its
``transform`` (e.g. augmentation) on the training split only.

>>> import convtrain as ct
>>> train, val = capstone_split(ct.profile("fast"))
>>> len(train), len(val), tuple(train.images.shape[1:]), len(train.classes)
(1078, 359, (3, 32, 32), 10)
"""

from __future__ import annotations

import torch

from convtrain.data.offline import TensorImageDataset, digits

__all__ = ["capstone_heldout", "capstone_split"]


def capstone_split(cfg) -> tuple[TensorImageDataset, TensorImageDataset]:
    """The capstone's ``(train, val)`` datasets in profile ``cfg`` (see the module's text)."""
    return _split(cfg, "train"), _split(cfg, "val")


def capstone_heldout(cfg) -> TensorImageDataset:
    """The held-out test split the capstone's hidden tests score the saved model on.

    Disjoint from both parts of :func:`capstone_split`. A notebook never needs it:
    choose and tune everything on the validation split.
    """
    return _split(cfg, "test")


def _split(cfg, split: str) -> TensorImageDataset:
    size = cfg.capstone_image_size
    if cfg.dataset == "digits":
        return digits(split, image_size=size, channels=3)
    if cfg.dataset == "fruits":
        from torchvision import transforms

        from convtrain.data import profile_dataset  # the package imports this module

        resize = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size),
                                     transforms.ToTensor()])
        dataset = profile_dataset(cfg, split, transform=resize)
        pairs = [dataset[i] for i in range(len(dataset))]
        images = torch.stack([image for image, _ in pairs])
        labels = torch.tensor([label for _, label in pairs], dtype=torch.int64)
        return TensorImageDataset(images, labels, dataset.classes)
    raise ValueError(f"profile {cfg.name!r} names an unknown dataset {cfg.dataset!r}")
