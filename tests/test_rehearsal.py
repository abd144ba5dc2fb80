"""convtrain.instructor.rehearsal: the stand-ins of the full-profile rehearsal are found and
loaded by the library's real code (the fruits lookup, torchvision's weight cache), offline."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import torch
import torchvision.models as tvm
from nbclient.exceptions import CellExecutionError
from PIL import Image

import convtrain as ct
from convtrain import runtime
from convtrain.claims import ClaimError
from convtrain.data import kaggle_fruits
from convtrain.instructor import course, rehearsal


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No /kaggle/input, no credentials, no kagglehub, no weight downloads, no sockets."""
    monkeypatch.setattr(kaggle_fruits, "KAGGLE_INPUT", tmp_path / "kaggle" / "input" / "dataset")
    monkeypatch.setenv("CONVTRAIN_CACHE", str(tmp_path / "cache"))
    for name in ("CONVTRAIN_FRUITS_DIR", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE",
                 "CONVTRAIN_PROFILE_OVERRIDES", "CONVTRAIN_REHEARSAL", "CONVTRAIN_CLAIMS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", None)

    def refuse(*args, **kwargs):
        raise AssertionError(f"the network was reached: {args[:2]}")

    monkeypatch.setitem(sys.modules, "kagglehub", types.SimpleNamespace(dataset_download=refuse))
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return tmp_path


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return rehearsal.build_fruits_standin(tmp_path_factory.mktemp("fruits"))


# ----------------------------------------------------------------- the fruits


def test_fruits_standin_has_the_kaggle_layout(standin):
    assert standin.name == "dataset"
    for split, per_class in (("train", rehearsal.TRAIN_PER_CLASS), ("test", rehearsal.TEST_PER_CLASS)):
        folders = sorted(p.name for p in (standin / split).iterdir())
        assert folders == ["freshapples", "freshbanana", "freshoranges",
                           "rottenapples", "rottenbanana", "rottenoranges"]
        modes = []
        for folder in folders:
            files = sorted((standin / split / folder).iterdir())
            assert len(files) == per_class and all(f.suffix == ".png" for f in files)
            assert all(" " in f.name and f.name.count("Screen Shot") == 1 for f in files)
            for path in files:
                with Image.open(path) as image:
                    assert 150 <= min(image.size) and max(image.size) < 450
                    modes.append(image.mode)
        assert modes.count("RGBA") == 1 and set(modes) == {"RGB", "RGBA"}, split
    assert any(p.name.startswith("rotated_by_15_") for p in standin.rglob("*.png"))


def test_fruits_standin_is_found_by_the_real_lookup_through_the_variable(standin, offline, monkeypatch):
    monkeypatch.setenv("CONVTRAIN_FRUITS_DIR", str(standin.parent))
    assert ct.data.locate_fruits() == standin
    train = ct.data.fruits("train")
    assert train.classes == list(ct.data.FRUIT_CLASSES)
    assert len(train) == 6 * rehearsal.TRAIN_PER_CLASS
    assert {train[i][0].mode for i in range(len(train))} == {"RGB"}  # the RGBA file too
    assert not (offline / "cache" / "fruits").exists()  # nothing copied or downloaded


def test_fruits_standin_is_large_enough_for_the_rehearsal_profile(standin, offline, monkeypatch):
    monkeypatch.setenv("CONVTRAIN_FRUITS_DIR", str(standin.parent))
    cfg = ct.profile("full", overrides=rehearsal.OVERRIDES)
    train, val = (ct.data.profile_dataset(cfg, split) for split in ("train", "val"))
    assert (len(train), len(val)) == (cfg.n_train, cfg.n_val)
    assert not set(train.indices) & set(val.indices)
    assert len(ct.data.profile_dataset(cfg, "test")) == 6 * rehearsal.TEST_PER_CLASS


def test_fruits_standin_is_reproducible(tmp_path):
    first, again, other = (rehearsal.build_fruits_standin(tmp_path / name, 2, 1, seed=seed)
                           for name, seed in (("a", 0), ("b", 0), ("c", 1)))
    files = sorted(p.relative_to(first) for p in first.rglob("*.png"))
    assert len(files) == 6 * 3
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.png"))
    assert all((first / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert any((first / f).read_bytes() != (other / f).read_bytes() for f in files)
    with pytest.raises(FileExistsError):
        rehearsal.build_fruits_standin(tmp_path / "a")


# ----------------------------------------------------------------- the weights


def test_weight_file_names_are_the_ones_torchvision_downloads_to():
    assert rehearsal.imagenet_backbones() == ["resnet18", "vgg19"]
    assert rehearsal.weight_file_name("resnet18") == "resnet18-f37072fd.pth"
    assert rehearsal.weight_file_name("vgg19") == "vgg19-dcbb9e9d.pth"
    assert rehearsal.weight_file_name("vgg19") == Path(tvm.VGG19_Weights.IMAGENET1K_V1.url).name


@pytest.mark.parametrize("name, head", [
    ("resnet18", "fc"),
    pytest.param("vgg19", "classifier.6", marks=pytest.mark.slow),  # 548 MB of weights
])
def test_weight_standins_load_through_the_backbone_path_without_network(offline, monkeypatch,
                                                                        name, head):
    torch_home = offline / "torch"
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    before = torch.random.get_rng_state()
    files = rehearsal.build_weight_standins(torch_home, [name], seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's random state is kept
    path = Path(torch.hub.get_dir()) / "checkpoints" / rehearsal.weight_file_name(name)
    assert files == {name: path} and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left

    model = ct.models.backbone(name)  # torchvision's weights=IMAGENET1K_V1 path, from the cache
    assert type(model) is type(getattr(tvm, name)(weights=None))
    saved = torch.load(path, weights_only=True)
    assert list(saved) == list(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert model.get_submodule(head).out_features == 1000
    if name == "vgg19":
        assert model.classifier[0].in_features == 512 * 7 * 7  # the 224-px classifier
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 224, 224)).shape == (1, 1000)
    fresh = ct.models.backbone(name, pretrained=False)
    assert not torch.equal(next(fresh.parameters()), next(model.parameters()))  # loaded, not fresh


def test_weight_standins_are_reproducible(offline):
    first = rehearsal.build_weight_standins(offline / "a", ["resnet18"], seed=0)["resnet18"]
    second = rehearsal.build_weight_standins(offline / "b", ["resnet18"], seed=0)["resnet18"]
    other = rehearsal.build_weight_standins(offline / "c", ["resnet18"], seed=1)["resnet18"]
    a, b, c = (torch.load(p, weights_only=True)["conv1.weight"] for p in (first, second, other))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ----------------------------------------------------------------- environment and claims


def test_rehearsal_sizes_keep_224_px_and_fit_every_lesson():
    lessons = course.lessons(course.repo_root() / "solutions")
    assert set(rehearsal.LESSON_OVERRIDES) <= set(lessons)
    for lesson in lessons:
        cfg = ct.profile("full", overrides=rehearsal.lesson_overrides(lesson))
        assert (cfg.name, cfg.dataset, cfg.backbone, cfg.image_size) == (
            "full", "fruits", "resnet18", 224), lesson
        assert cfg.num_workers == runtime.PROFILES["full"].num_workers  # DataLoader workers for real
        assert 6 * rehearsal.TRAIN_PER_CLASS >= cfg.n_train + cfg.n_val, lesson
    for lesson in ("02_dropout", "08_data_and_augmentation"):
        cfg = ct.profile("full", overrides=rehearsal.lesson_overrides(lesson))
        assert cfg.steps >= 6 and cfg.steps % 6 == 0  # six checkpoints, as many steps between
        assert cfg.batch_size <= cfg.n_train // 4  # batches of n_train // 4 training images
    ensembles = ct.profile("full", overrides=rehearsal.lesson_overrides("06_ensembling"))
    assert ensembles.seeds >= 3 and ensembles.seeds % 2 == 1  # members of a vote without ties
    transfer = ct.profile("full", overrides=rehearsal.lesson_overrides("05_transfer_learning"))
    assert transfer.n_train // 16 >= 6  # 05's few-shot training set: one image per class


def test_lesson_overrides_go_on_top_of_the_default_only():
    assert rehearsal.merge_overrides("n_train=48,steps=6", "", "steps=4,seeds=1") == (
        "n_train=48,steps=4,seeds=1")
    assert rehearsal.lesson_overrides("00_building_blocks") == rehearsal.OVERRIDES
    transfer = rehearsal.lesson_overrides("05_transfer_learning")
    assert transfer.startswith("n_train=96,") and "seeds=1" in transfer
    assert rehearsal.lesson_overrides("05_transfer_learning", "steps=7") == "steps=7"
    with pytest.raises(ValueError, match="unknown profile field 'step'"):
        rehearsal.merge_overrides("step=3")


def test_rehearsal_environment_names_every_stand_in(tmp_path):
    env = rehearsal.rehearsal_environment(tmp_path, tmp_path / "fruits", tmp_path / "torch",
                                          tmp_path / "claims.jsonl")
    assert env["CONVTRAIN_PROFILE"] == "full" and env["CONVTRAIN_REHEARSAL"] == "1"
    assert env["CONVTRAIN_PROFILE_OVERRIDES"] == rehearsal.OVERRIDES
    assert env["CONVTRAIN_FRUITS_DIR"] == str(tmp_path / "fruits")
    assert env["TORCH_HOME"] == str(tmp_path / "torch")
    assert env["CONVTRAIN_CLAIMS_FILE"] == str(tmp_path / "claims.jsonl")
    assert env["FIFTYONE_DO_NOT_TRACK"] == "true"
    assert env["FIFTYONE_DATABASE_VALIDATION"] == "false"
    assert Path(env["FIFTYONE_DATABASE_DIR"]).is_relative_to(tmp_path)
    assert Path(env["CONVTRAIN_CACHE"]).is_relative_to(tmp_path)


def test_claims_needing_the_real_thing_are_not_checkable_and_the_rest_are_asserted(tmp_path, capsys):
    claims_file = tmp_path / "claims" / "rehearsal.jsonl"
    env = rehearsal.rehearsal_environment(tmp_path, tmp_path / "fruits", tmp_path / "torch", claims_file)
    saved = dict(os.environ)
    with rehearsal.environment(env):
        assert os.environ["CONVTRAIN_REHEARSAL"] == "1"
        ct.claim("gain", 0.01, expect=">= 0.05", why="fine-tuning beats scratch",
                 needs="pretrained weights", lesson="05_x")
        ct.claim("share", 0.8, expect="> 0.5", why="the first FC layer holds most parameters",
                 lesson="05_x")
        with pytest.raises(ClaimError):
            ct.claim("ratio", 0.97, expect="< 0.8", why="standardized beats [0, 1]", lesson="01_x")
    assert dict(os.environ) == saved
    assert "not checkable in a rehearsal (needs pretrained weights)" in capsys.readouterr().out
    report, failed = rehearsal.claims_report(claims_file)
    assert failed == 1
    assert "3 claims: 1 held, 1 failed, 1 not checkable in a rehearsal" in report
    assert "05_x: gain (needs pretrained weights): fine-tuning beats scratch" in report
    assert rehearsal.claims_report(tmp_path / "none.jsonl") == (
        f"no claims recorded in {tmp_path / 'none.jsonl'} (no lesson made one through ct.claim)", 0)


# ----------------------------------------------------------------- reporting


def test_failing_cell_names_the_cell_its_grade_id_and_the_error(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# x"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("assert x == 2, 'x is not 2'",
                                  metadata={"nbgrader": {"grade_id": "test_x"}}),
    ])
    path = tmp_path / "lesson.ipynb"
    nbformat.write(notebook, path)
    error = CellExecutionError.from_cell_and_msg(
        notebook.cells[2], {"ename": "AssertionError", "evalue": "x is not 2", "traceback": ["tb"]})
    assert rehearsal.failing_cell(path, error) == "cell 2 (test_x): AssertionError: x is not 2"
    assert rehearsal.failing_cell(path, TimeoutError("cell timed out")) == (
        "TimeoutError: cell timed out")


def test_stop_own_kernels_stops_kernels_this_process_started_and_nothing_else():
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                               "ipykernel_launcher"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        assert rehearsal.stop_own_kernels(timeout=5) == [kernel.pid]
        assert kernel.poll() is not None and other.poll() is None
        assert rehearsal.stop_own_kernels() == []
    finally:
        for process in (kernel, other):
            process.kill()
            process.wait()


def test_network_reached_reports_files_the_rehearsal_did_not_write(tmp_path):
    files = rehearsal.build_weight_standins(tmp_path / "torch", ["resnet18"])
    assert rehearsal.network_reached(tmp_path / "torch", tmp_path, files) == []
    (tmp_path / "torch" / "hub" / "checkpoints" / "convnext_tiny-983f1562.pth").write_bytes(b"")
    (tmp_path / "convtrain-cache" / "fruits").mkdir(parents=True)
    assert rehearsal.network_reached(tmp_path / "torch", tmp_path, files) == [
        "torch hub cache: convnext_tiny-983f1562.pth", "convtrain cache: fruits"]
