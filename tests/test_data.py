"""convtrain.data: offline data, statistics, splits, image folders, transforms, and the
fruits lookup, all without the network (kagglehub is replaced by a fake)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, random_split

import convtrain as ct
from convtrain import data
from convtrain.data import kaggle_fruits
from convtrain.data.offline import _split_indices

# ----------------------------------------------------------------- digits and photos


def test_load_digits_gives_all_digits_in_unit_range():
    images, labels = data.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert sorted(labels.unique().tolist()) == list(range(10))


def test_load_digits_upsamples_and_repeats_channels():
    small, _ = data.load_digits()
    images, _ = data.load_digits(image_size=32, channels=3)
    assert images.shape == (1797, 3, 32, 32)
    assert torch.equal(images[:, 0], images[:, 2])
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    # bilinear upsampling keeps each image's average brightness close to the original's
    torch.testing.assert_close(images[:, 0].mean(dim=(1, 2)), small[:, 0].mean(dim=(1, 2)),
                               atol=0.02, rtol=0)


def test_load_digits_keeps_and_relabels_classes_in_the_given_order():
    _, all_labels = data.load_digits()
    images, labels = data.load_digits(classes=(8, 3))
    assert len(images) == int(((all_labels == 8) | (all_labels == 3)).sum())
    assert int((labels == 0).sum()) == int((all_labels == 8).sum())
    assert int((labels == 1).sum()) == int((all_labels == 3).sum())


@pytest.mark.parametrize("kwargs", [{"channels": 2}, {"image_size": 0}, {"classes": (1, 1)},
                                    {"classes": (10,)}, {"classes": ()}])
def test_load_digits_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        data.load_digits(**kwargs)


def test_digits_splits_are_fixed_disjoint_stratified_and_cover_everything():
    _, labels = data.load_digits()
    parts = {split: _split_indices(labels, split) for split in ("train", "val", "test")}
    together = torch.cat(list(parts.values()))
    assert sorted(together.tolist()) == list(range(1797))
    assert torch.equal(parts["val"], _split_indices(labels, "val"))
    for digit in range(10):
        members = int((labels == digit).sum())
        in_train = int((labels[parts["train"]] == digit).sum())
        assert abs(in_train - 0.6 * members) <= 1


def test_digits_items_are_image_tensor_and_int_label_with_transform_applied():
    train = data.digits("train", image_size=16, channels=3, transform=lambda x: x * 2)
    image, label = train[0]
    assert image.shape == (3, 16, 16) and type(label) is int
    assert torch.equal(image, train.images[0] * 2)
    assert train.classes == [str(d) for d in range(10)]
    assert len(data.digits("train")) + len(data.digits("val")) + len(data.digits("test")) == 1797
    with pytest.raises(ValueError, match="split"):
        data.digits("validation")


@pytest.mark.parametrize("name", ["chelsea", "camera", "logo"])  # colour, gray, RGBA
def test_sample_image_is_uint8_rgb(name):
    image = data.sample_image(name)
    assert image.dtype == torch.uint8 and image.dim() == 3 and image.shape[0] == 3


def test_sample_image_resizes_and_rejects_unknown_names():
    assert data.sample_image("coffee", size=(50, 60)).shape == (3, 50, 60)
    assert min(data.sample_image("coffee", size=64).shape[1:]) == 64
    with pytest.raises(ValueError, match="chelsea"):
        data.sample_image("kitten")


# ----------------------------------------------------------------- mean_std


def full_tensor_mean_std(x):
    x = x.double()
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), correction=0)


def test_mean_std_equals_the_full_tensor_computation_for_every_input_kind():
    torch.manual_seed(0)
    x = torch.rand(300, 3, 8, 8) * torch.tensor([1.0, 2.0, 0.5]).view(1, 3, 1, 1)
    expected_mean, expected_std = full_tensor_mean_std(x)
    labels = torch.zeros(300, dtype=torch.int64)
    dataset = torch.utils.data.TensorDataset(x, labels)
    for source in (x, dataset, DataLoader(dataset, batch_size=37)):
        mean, std = data.mean_std(source, batch_size=64)
        assert mean.dtype == torch.float64
        torch.testing.assert_close(mean, expected_mean, atol=1e-6, rtol=0)
        torch.testing.assert_close(std, expected_std, atol=1e-6, rtol=0)


def test_mean_std_is_stable_with_a_large_offset():
    """float32 sums of x and x^2 lose the variance here; the streaming float64 merge does not."""
    torch.manual_seed(0)
    x = (1e4 + torch.randn(64, 2, 16, 16, dtype=torch.float64) * 1e-2).float()
    expected_mean, expected_std = full_tensor_mean_std(x)
    mean, std = data.mean_std(x, batch_size=5)
    torch.testing.assert_close(mean, expected_mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(std, expected_std, atol=1e-6, rtol=0)
    naive = ((x**2).mean(dim=(0, 2, 3)) - x.mean(dim=(0, 2, 3)) ** 2).clamp(min=0).sqrt()
    assert float((naive.double() - expected_std).abs().max()) > 1e-3


def test_mean_std_of_digits_matches_the_tensor_and_explains_bad_inputs(tmp_path):
    train = data.digits("train", channels=3)
    mean, std = data.mean_std(train)
    expected_mean, expected_std = full_tensor_mean_std(train.images)
    torch.testing.assert_close(mean, expected_mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(std, expected_std, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="empty"):
        data.mean_std(torch.zeros(0, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        data.mean_std(torch.zeros(3, 4, 4))
    with pytest.raises(TypeError, match="transform"):
        data.mean_std([["not an image"]])
    photos = data.image_folder(data.write_image_folder(torch.rand(2, 3, 4, 4), [0, 1], ["a", "b"], tmp_path))
    with pytest.raises(TypeError, match="got Image.*v2.ToImage"):
        data.mean_std(photos)  # PIL images: explained before the DataLoader fails


# ----------------------------------------------------------------- splits


class ToyImages(torch.utils.data.Dataset):
    """Images whose value is their index, with a torchvision-style `transform` attribute."""

    def __init__(self, n=10, transform=None):
        self.n, self.transform = n, transform

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        image = torch.full((1, 2, 2), float(i))
        return (self.transform(image) if self.transform else image), i


def negate(x):
    return -x


def test_random_split_pitfall_setting_val_transform_changes_training_too():
    train, val = random_split(ToyImages(), [8, 2], generator=torch.Generator().manual_seed(0))
    before = train[0][0].clone()
    val.dataset.transform = negate  # meant for validation only...
    assert torch.equal(train[0][0], -before)  # ...but the training images changed as well


def test_split_dataset_gives_each_split_its_own_transform():
    train, val = data.split_dataset(ToyImages(), [8, 2], transforms=[None, None])
    before = train[0][0].clone()
    val.transform = negate
    assert torch.equal(train[0][0], before)
    assert torch.equal(val[0][0], -torch.full((1, 2, 2), float(val.indices[0])))
    assert not hasattr(val, "dataset")  # the shared source is not offered for mutation


def test_split_dataset_refuses_a_source_with_a_transform_even_if_set_later():
    with pytest.raises(ValueError, match="transform=None"):
        data.split_dataset(ToyImages(transform=negate), [5, 5], transforms=[None, None])
    source = ToyImages()
    train, _ = data.split_dataset(source, [5, 5], transforms=[None, None])
    source.transform = negate
    with pytest.raises(ValueError, match="every split"):
        train[0]


def test_split_dataset_sizes_are_disjoint_complete_and_reproducible():
    parts = data.split_dataset(ToyImages(n=11), [0.6, 0.2, 0.2], transforms=[None] * 3, seed=1)
    assert [len(p) for p in parts] == [7, 2, 2]
    assert sorted(i for p in parts for i in p.indices) == list(range(11))
    again = data.split_dataset(ToyImages(n=11), [0.6, 0.2, 0.2], transforms=[None] * 3, seed=1)
    assert [p.indices for p in parts] == [p.indices for p in again]
    other = data.split_dataset(ToyImages(n=11), [0.6, 0.2, 0.2], transforms=[None] * 3, seed=2)
    assert [p.indices for p in parts] != [p.indices for p in other]


@pytest.mark.parametrize("lengths, transforms, match", [
    ([5, 4], [None, None], "sum to 9"), ([0.5, 0.4], [None, None], "sum to 1"),
    ([5, 5], [None], "one transform per split"),
])
def test_split_dataset_rejects_inconsistent_arguments(lengths, transforms, match):
    with pytest.raises(ValueError, match=match):
        data.split_dataset(ToyImages(), lengths, transforms=transforms)


# ----------------------------------------------------------------- image folders, transforms


def test_write_image_folder_round_trips_through_image_folder(tmp_path):
    images = (torch.rand(6, 3, 5, 7) * 255).to(torch.uint8)
    root = data.write_image_folder(images, [0, 1, 2, 0, 1, 2], ["a", "b", "c"], tmp_path / "x")
    folder = data.image_folder(root)
    assert folder.classes == ["a", "b", "c"] and len(folder) == 6
    image, label = folder[0]
    assert image.mode == "RGB" and image.size == (7, 5)
    first_of_a = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    assert torch.equal(first_of_a, images[0]) and label == 0


def test_image_folder_converts_rgba_and_gray_to_rgb(tmp_path):
    data.write_image_folder(torch.rand(2, 4, 4, 4), [0, 0], ["rgba"], tmp_path)
    data.write_image_folder(torch.rand(2, 1, 4, 4), [0, 0], ["gray"], tmp_path)
    assert {image.mode for image, _ in data.image_folder(tmp_path)} == {"RGB"}
    with pytest.raises(FileNotFoundError):
        data.image_folder(tmp_path / "missing")


def test_explicit_transform_matches_the_weights_transform():
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    photo = data.sample_image("astronaut", size=300)
    pil = Image.fromarray(photo.permute(1, 2, 0).numpy())
    explicit = data.explicit_transform(256, 224, data.IMAGENET_MEAN, data.IMAGENET_STD)
    prescribed = data.imagenet_transform(weights)
    assert tuple(prescribed.mean) == data.IMAGENET_MEAN and tuple(prescribed.std) == data.IMAGENET_STD
    one_pixel_level = 1 / 255 / min(data.IMAGENET_STD)  # uint8 tensor resizes may round apart
    for image, atol in ((pil, 1e-5), (photo, one_pixel_level + 1e-6)):
        expected, actual = prescribed(image), explicit(image)
        assert actual.shape == (3, 224, 224) and actual.dtype == torch.float32
        torch.testing.assert_close(actual, expected, atol=atol, rtol=0)
    with pytest.raises(TypeError, match="weights"):
        data.imagenet_transform("resnet18")


# ----------------------------------------------------------------- profile_dataset


def test_profile_dataset_fast_is_digits_limited_to_the_profile_sizes():
    cfg = ct.profile("fast")
    train = data.profile_dataset(cfg, "train")
    val = data.profile_dataset(cfg, "val", transform=negate)
    assert (len(train), len(val)) == (cfg.n_train, cfg.n_val)
    image, label = train[0]
    assert image.shape == (3, cfg.image_size, cfg.image_size) and type(label) is int
    assert float(val[0][0].max()) <= 0.0  # the transform is applied
    assert len(train.labels.unique()) == 10
    with pytest.raises(ValueError, match="split"):
        data.profile_dataset(cfg, "everything")


def test_profile_dataset_full_draws_validation_from_the_train_split(fruit_env, monkeypatch):
    monkeypatch.setenv("CONVTRAIN_FRUITS_DIR", str(fruit_env.folder))
    cfg = dataclasses.replace(ct.profile("full"), n_train=5, n_val=3)
    train, val, test = (data.profile_dataset(cfg, split) for split in ("train", "val", "test"))
    assert len(train) == 5 and len(val) == 3 and train.classes == list(data.FRUIT_CLASSES)
    train_files = {path for path, _ in data.fruits("train", root=fruit_env.folder).samples}

    def files(subset):
        return {subset.dataset.samples[i][0] for i in subset.indices}

    assert files(val) <= train_files and files(train) <= train_files
    assert not files(val) & files(train), "validation images must not be trained on"
    assert not (files(val) | files(train)) & files(test)
    larger = data.profile_dataset(dataclasses.replace(cfg, n_train=8), "val")
    assert files(larger) == files(val), "the validation set must not depend on n_train"
    assert fruit_env.kagglehub_calls == []


# ----------------------------------------------------------------- fruits: the real layout

SPACED_NAME = "Screen Shot 2018-06-08 at 4.59.44 PM.png"


def build_fruits_miniature(root: Path) -> Path:
    """`root/dataset/{train,test}/<six classes>/*.png` with spaces in names and one RGBA image."""
    dataset = root / "dataset"
    for split, per_class in (("train", 2), ("test", 1)):
        for c, name in enumerate(data.FRUIT_CLASSES):
            folder = dataset / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                colour = (40 * c, 10 * i, 200)
                Image.new("RGB", (100 + i, 100), colour).save(folder / f"{SPACED_NAME[:-4]} ({i}).png")
    Image.new("RGBA", (120, 90), (255, 0, 0, 128)).save(dataset / "train" / "rottenapples" / SPACED_NAME)
    return dataset


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, path.relative_to(folder.parent))
    return archive


@pytest.fixture
def fruit_env(tmp_path, monkeypatch):
    """A machine with no dataset anywhere, no credentials, and a kagglehub that must not be reached."""
    env = types.SimpleNamespace(tmp=tmp_path, kagglehub_calls=[], download=None)
    env.folder = build_fruits_miniature(tmp_path / "mini")
    env.cache = tmp_path / "cache"
    monkeypatch.setenv("CONVTRAIN_CACHE", str(env.cache))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("CONVTRAIN_FRUITS_DIR", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR",
                 "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(kaggle_fruits, "KAGGLE_INPUT", tmp_path / "kaggle" / "input" / "fruits" / "dataset")
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not in Colab

    def dataset_download(handle, path=None, *, force_download=False, output_dir=None):
        env.kagglehub_calls.append((handle, output_dir))
        if env.download is None:
            raise AssertionError("kagglehub was reached although it should not have been")
        return env.download(handle, Path(output_dir))

    monkeypatch.setitem(sys.modules, "kagglehub", types.SimpleNamespace(dataset_download=dataset_download))
    return env


def copy_miniature(env):
    def download(handle, output_dir):
        import shutil

        shutil.copytree(env.folder, output_dir / "dataset")
        return str(output_dir)

    return download


def test_fruits_loads_the_real_layout_with_spaces_and_rgba(fruit_env):
    train = data.fruits("train", root=fruit_env.folder)
    assert train.classes == list(data.FRUIT_CLASSES) and len(train) == 13
    names = [Path(path).name for path, _ in train.samples]
    assert SPACED_NAME in names
    assert {image.mode for image, _ in train} == {"RGB"}
    assert len(data.fruits("test", root=fruit_env.folder.parent)) == 6  # the parent folder works too
    assert fruit_env.kagglehub_calls == []


def test_fruits_prefers_the_attached_kaggle_input(fruit_env, monkeypatch):
    import shutil

    shutil.copytree(fruit_env.folder, kaggle_fruits.KAGGLE_INPUT)
    monkeypatch.setenv("CONVTRAIN_FRUITS_DIR", str(fruit_env.tmp / "nothing here"))
    assert data.locate_fruits() == kaggle_fruits.KAGGLE_INPUT
    assert fruit_env.kagglehub_calls == []


def test_fruits_from_a_zip_is_extracted_once_into_the_cache(fruit_env):
    archive = zip_folder(fruit_env.folder, fruit_env.tmp / "archive.zip")
    root = data.locate_fruits(archive)
    assert root.is_relative_to(fruit_env.cache) and (root / "train" / "freshapples").is_dir()
    archive.unlink()
    assert data.locate_fruits() == root  # the cache is reused, no archive needed
    assert len(data.fruits("test")) == 6
    assert not list(fruit_env.cache.glob(".partial-*"))
    assert fruit_env.kagglehub_calls == []


def test_fruits_downloads_with_kagglehub_and_credentials_from_colab_secrets(fruit_env, monkeypatch):
    secrets = {"KAGGLE_USERNAME": "student", "KAGGLE_KEY": "secret-key-123"}

    def get(name):
        if name not in secrets:
            raise KeyError(name)
        return secrets[name]

    colab = types.ModuleType("google.colab")
    colab.userdata = types.SimpleNamespace(get=get)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert data.kaggle_credentials() == ("student", "secret-key-123")
    seen = {}

    def download(handle, output_dir):
        seen.update(username=os.environ.get("KAGGLE_USERNAME"), key=os.environ.get("KAGGLE_KEY"))
        return copy_miniature(fruit_env)(handle, output_dir)

    fruit_env.download = download
    root = data.locate_fruits()
    assert seen == {"username": "student", "key": "secret-key-123"}  # what kagglehub reads
    assert "KAGGLE_KEY" not in os.environ  # only while kagglehub ran
    assert fruit_env.kagglehub_calls[0][0] == "sriramr/fruits-fresh-and-rotten-for-classification"
    assert root.is_relative_to(fruit_env.cache / "fruits")
    assert len(data.fruits("train")) == 13 and len(fruit_env.kagglehub_calls) == 1  # cached now


def test_kaggle_credentials_come_from_the_environment_or_are_none(fruit_env, monkeypatch):
    assert data.kaggle_credentials() is None
    monkeypatch.setenv("KAGGLE_USERNAME", "student")
    assert data.kaggle_credentials() is None  # a username alone is not enough
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert data.kaggle_credentials() == ("student", "k")


def test_fruits_without_credentials_says_what_to_do_and_never_reaches_kagglehub(fruit_env):
    with pytest.raises(data.FruitsUnavailableError) as caught:
        data.fruits("train")
    text = str(caught.value)
    for fix in ("KAGGLE_USERNAME", "KAGGLE_KEY", "Add Input", "CONVTRAIN_PROFILE=fast"):
        assert fix in text
    assert str(fruit_env.cache / "fruits") in text  # and where it looked
    assert fruit_env.kagglehub_calls == []


def test_fruits_offline_says_what_to_do_and_leaves_no_half_dataset(fruit_env, monkeypatch):
    monkeypatch.setenv("KAGGLE_USERNAME", "student")
    monkeypatch.setenv("KAGGLE_KEY", "secret-key-123")

    def interrupted(handle, output_dir):
        (output_dir / "dataset" / "train").mkdir(parents=True)  # some files arrived, then...
        raise ConnectionError("Failed to resolve 'www.kaggle.com'")

    fruit_env.download = interrupted
    with pytest.raises(data.FruitsUnavailableError) as caught:
        data.fruits("train")
    text = str(caught.value)
    for fix in ("ConnectionError", "KAGGLE_USERNAME", "Add Input", "CONVTRAIN_PROFILE=fast"):
        assert fix in text
    assert "secret-key-123" not in text
    assert not (fruit_env.cache / "fruits").exists()
    assert not list(fruit_env.cache.glob(".partial-*"))


def test_fruits_explains_a_folder_that_is_not_the_dataset(fruit_env):
    (fruit_env.tmp / "photos" / "train").mkdir(parents=True)
    with pytest.raises(data.FruitsUnavailableError, match="freshapples"):
        data.locate_fruits(fruit_env.tmp / "photos")
    with pytest.raises(ValueError, match="split"):
        data.fruits("val", root=fruit_env.folder)


# ----------------------------------------------------------------- downloads


def test_extract_zip_checks_sha256_and_refuses_paths_outside(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("inside/file.txt", "hello")
    digest = data.sha256_of(archive)
    with pytest.raises(ValueError, match="SHA-256"):
        data.extract_zip(archive, tmp_path / "bad", sha256="0" * 64)
    assert not (tmp_path / "bad").exists()
    out = data.extract_zip(archive, tmp_path / "good", sha256=digest.upper())
    assert (out / "inside" / "file.txt").read_text() == "hello"
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zipped:
        zipped.writestr("../escaped.txt", "x")
    with pytest.raises(ValueError, match="outside"):
        data.extract_zip(evil, tmp_path / "evil")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "evil").exists()


def test_download_verifies_the_checksum_and_never_leaves_partial_files(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"weights" * 1000)
    url = source.as_uri()  # file:// needs no network but goes through urllib like https://
    target = data.download(url, tmp_path / "cache" / "w.bin", sha256=data.sha256_of(source))
    assert target.read_bytes() == source.read_bytes()
    with pytest.raises(ValueError, match="SHA-256"):
        data.download(url, tmp_path / "cache" / "other.bin", sha256="f" * 64)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["w.bin"]
    with pytest.raises(ConnectionError, match="CONVTRAIN_PROFILE=fast"):
        data.download((tmp_path / "missing.bin").as_uri(), tmp_path / "cache" / "m.bin")


def test_importing_data_loads_no_heavy_optional_packages():
    code = ("import sys, convtrain.data; heavy = {'fiftyone', 'kagglehub', 'sklearn', 'skimage', "
            "'matplotlib', 'nbgrader'} & set(sys.modules); print(sorted(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
