"""The FiftyOne App on the lesson's data, checked in headless Chromium.

The dataset is the fast profile's: real digits written as PNGs with
``convtrain.data.write_image_folder``, their labels as ``ground_truth`` and the offline
``tiny_digits`` backbone's predictions (with confidences) as ``predictions``.

FiftyOne starts a MongoDB (``mongod``) and an App server as child processes. To check
that closing the session leaves neither behind, the App runs in a separate Python
process (this file run as a script, see :func:`serve`) with its own database folder,
so the test can find *its* ``mongod`` among everyone else's by that folder.

    python tests/test_fiftyone_app.py <work dir> <port>    # serve until stdin closes
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser import chromium_page, free_port, needs_chromium, stop_process, wait_for_http

HERE = Path(__file__).resolve().parent
N_SAMPLES = 24
LABEL_FIELDS = ("ground_truth", "predictions")


# --- the App process -------------------------------------------------------------------

def build_dataset(name: str, image_dir: Path):
    """A FiftyOne dataset of ``N_SAMPLES`` digit PNGs with ground truth and predictions."""
    import fiftyone as fo
    import torch

    import convtrain as ct

    cfg = ct.profile()
    classes = ct.models.backbone_weights("tiny_digits").meta["categories"]  # digits 0-4
    test = ct.data.digits("test", image_size=cfg.image_size, channels=3, classes=range(len(classes)))
    images = torch.stack([test[i][0] for i in range(N_SAMPLES)])  # (N, 3, 32, 32) in [0, 1]
    labels = [test[i][1] for i in range(N_SAMPLES)]
    ct.data.write_image_folder(images, labels, classes, image_dir)

    model = ct.models.backbone("tiny_digits").eval()
    preprocess = ct.models.backbone_weights("tiny_digits").transforms()
    with torch.no_grad():
        probabilities = model(torch.stack([preprocess(x) for x in images])).softmax(dim=1)
    confidence, predicted = probabilities.max(dim=1)

    dataset = fo.Dataset(name)
    dataset.add_samples([
        fo.Sample(filepath=str(image_dir / classes[label] / f"{i}.png"),
                  ground_truth=fo.Classification(label=classes[label]),
                  predictions=fo.Classification(label=classes[int(guess)], confidence=float(conf)))
        for i, (label, guess, conf) in enumerate(zip(labels, predicted, confidence))
    ])
    return dataset


def serve(work_dir: Path, port: int) -> None:
    """Launch the App on ``port``, write ``ready.json``, serve until stdin closes, shut down."""
    import fiftyone as fo

    dataset = build_dataset(f"convtrain-digits-{port}", work_dir / "images")
    session = fo.launch_app(dataset, port=port, address="127.0.0.1", remote=True, auto=False)
    (work_dir / "ready.json").write_text(json.dumps({"dataset": dataset.name, "count": len(dataset)}))
    sys.stdin.read()  # the test closes our stdin when it is done with the browser
    session.close()
    dataset.delete()


# --- the test --------------------------------------------------------------------------

def processes_using(folder: Path) -> list[int]:
    """Pids of running processes whose command line mentions ``folder`` (e.g. ``mongod --dbpath``)."""
    import psutil

    pids = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(str(folder) in part for part in cmdline) and process.pid != os.getpid():
            pids.append(process.pid)
    return pids


def mongod_pids(db_dir: Path) -> list[int]:
    import psutil

    pids = []
    for pid in processes_using(db_dir):
        try:
            if "mongod" in psutil.Process(pid).name():
                pids.append(pid)
        except psutil.NoSuchProcess:
            continue
    return pids


def wait_until(condition, *, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@pytest.fixture
def app(tmp_path):
    """The App process on a free port: yields ``(port, ready info, database folder, process)``."""
    port, db_dir, log = free_port(), tmp_path / "db", tmp_path / "app.log"
    env = dict(os.environ, FIFTYONE_DATABASE_DIR=str(db_dir), FIFTYONE_DO_NOT_TRACK="true",
               FIFTYONE_DATABASE_VALIDATION="false", CONVTRAIN_PROFILE="fast")
    with open(log, "w") as log_file:
        process = subprocess.Popen([sys.executable, __file__, str(tmp_path), str(port)],
                                   stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                                   env=env, cwd=HERE, start_new_session=True)
    try:
        ready = tmp_path / "ready.json"
        if not wait_until(lambda: ready.exists() or process.poll() is not None, timeout=240):
            pytest.fail("the App did not start within 240 s\n" + log.read_text()[-3000:])
        if process.poll() is not None:
            pytest.fail(f"the App process exited with {process.returncode}\n" + log.read_text()[-3000:])
        yield port, json.loads(ready.read_text()), db_dir, process
    finally:
        stop_process(process)
        for pid in mongod_pids(db_dir):  # never leak a database, even when the test failed
            os.kill(pid, 9)


@pytest.mark.fiftyone
@pytest.mark.browser
@pytest.mark.xdist_group(name="browser")
@needs_chromium
def test_app_shows_samples_and_label_fields_and_leaves_no_database(app, artifacts):
    port, ready, db_dir, process = app
    assert ready["count"] == N_SAMPLES, f"the dataset holds {ready['count']} samples, not {N_SAMPLES}"
    running_mongods = mongod_pids(db_dir)
    assert running_mongods, f"no mongod runs on {db_dir}: the App is not using the test's database"

    url = f"http://127.0.0.1:{port}/datasets/{ready['dataset']}"
    wait_for_http(url, timeout=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200 and b"<html" in response.read().lower()

    shots = artifacts / "browser"
    shots.mkdir(exist_ok=True)
    with chromium_page() as page:
        page.goto(url)
        page.get_by_text(f"{N_SAMPLES} samples").first.wait_for(timeout=120_000)
        tiles = page.locator("[data-cy=looker]")  # one per sample shown in the grid
        page.wait_for_function(f"() => document.querySelectorAll('[data-cy=looker]').length >= {N_SAMPLES}",
                               timeout=60_000)
        shown_fields = [field for field in LABEL_FIELDS
                        if page.locator(f"[data-cy=sidebar-field-{field}]").is_visible()]
        dismiss = page.get_by_text("Dismiss", exact=True)
        if dismiss.is_visible():  # an advertisement that would hide part of the grid
            dismiss.click()
        page.wait_for_timeout(1000)  # let the thumbnails paint for the screenshot
        page.screenshot(path=shots / "fiftyone-app.png")
        tile_count = tiles.count()

    assert tile_count == N_SAMPLES, f"the grid shows {tile_count} samples, not {N_SAMPLES}"
    assert shown_fields == list(LABEL_FIELDS), (
        f"the sidebar lists label fields {shown_fields}; expected {list(LABEL_FIELDS)}")

    process.stdin.close()  # serve() closes the session and exits
    process.wait(timeout=60)
    assert process.returncode == 0, f"the App process exited with {process.returncode}"
    assert wait_until(lambda: not mongod_pids(db_dir), timeout=30), (
        f"mongod {mongod_pids(db_dir)} still runs on {db_dir} after the App closed")


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
