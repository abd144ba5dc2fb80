"""Unit tests for convtrain.train: fit, evaluate, predict, train_steps and History."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from convtrain import train
from convtrain.train import History


def separable_problem(n: int = 128, seed: int = 0, flip: bool = False):
    """Two classes of 4-dimensional points told apart by the sign of their first coordinate."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    return x, (1 - y) if flip else y


def loader(x, y, batch_size=32, shuffle=False):
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                      generator=generator)


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(16, 2))


def test_fit_learns_a_separable_problem_and_records_every_epoch():
    model = small_model()
    train_loader = loader(*separable_problem(seed=0), shuffle=True)
    val_loader = loader(*separable_problem(seed=1))
    before = train.evaluate(model, val_loader)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train.fit(model, train_loader, val_loader, epochs=4, optimizer=optimizer,
                        progress=False)
    for values in history.as_dict().values():
        assert len(values) == 4
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_loss[-1] < 0.5 * before["loss"]
    assert history.val_acc[-1] > 0.9
    assert all(s > 0 for s in history.seconds) and not history.stopped_early
    assert history.val_loss[-1] == pytest.approx(train.evaluate(model, val_loader)["loss"])


def test_fit_sets_train_mode_for_training_and_eval_mode_for_validation():
    modes = []

    class RecordsMode(nn.Linear):
        def forward(self, x):
            modes.append(self.training)
            return super().forward(x)

    torch.manual_seed(0)
    model = RecordsMode(4, 2)
    x, y = separable_problem(n=64)
    train.fit(model, loader(x, y), loader(x, y), epochs=1,
              optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)
    assert modes == [True, True, False, False]  # two training batches, then two validation batches


def test_fit_records_the_learning_rate_each_epoch_trained_with():
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = train.fit(model, loader(*separable_problem()), epochs=3, optimizer=optimizer,
                        scheduler=scheduler, progress=False)
    assert history.lr == pytest.approx([0.1, 0.05, 0.025])
    assert all(math.isnan(v) for v in history.val_loss + history.val_acc)
    assert history.best_epoch == min(range(3), key=history.train_loss.__getitem__)


def test_fit_can_step_the_scheduler_every_batch():
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
    train.fit(model, loader(*separable_problem()), epochs=1, optimizer=optimizer,
              scheduler=scheduler, scheduler_interval="batch", progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 / 5)  # 4 batches stepped


def test_early_stopping_stops_and_restores_the_best_weights():
    # Validation labels are the opposite of training labels: the better the model fits
    # the training data, the worse its validation loss, so the best epoch is the first.
    model = small_model()
    train_loader = loader(*separable_problem(seed=0), shuffle=True)
    val_loader = loader(*separable_problem(seed=1, flip=True))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train.fit(model, train_loader, val_loader, epochs=10, optimizer=optimizer,
                        early_stopping=2, progress=False)
    assert history.stopped_early and history.epochs == history.best_epoch + 3
    assert history.val_loss[history.best_epoch] < history.val_loss[-1]
    restored = train.evaluate(model, val_loader)["loss"]
    assert restored == pytest.approx(history.val_loss[history.best_epoch])


def test_early_stopping_without_validation_is_an_error():
    model = small_model()
    with pytest.raises(ValueError, match="val_loader"):
        train.fit(model, loader(*separable_problem()), epochs=1, early_stopping=1,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False)


def test_fit_shows_a_progress_bar_only_when_asked(capsys):
    model = small_model()
    train_loader = loader(*separable_problem())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train.fit(model, train_loader, epochs=1, optimizer=optimizer, progress=False)
    assert capsys.readouterr().err == ""
    train.fit(model, train_loader, epochs=1, optimizer=optimizer, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err


def test_fit_explains_a_loader_that_does_not_yield_pairs():
    model = small_model()
    with pytest.raises(TypeError, match=r"\(images, labels\)"):
        train.fit(model, [torch.randn(8, 4)], epochs=1, progress=False,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_evaluate_matches_a_direct_computation_and_restores_the_mode():
    model = small_model().train()
    x, y = separable_problem(n=100)
    result = train.evaluate(model, loader(x, y, batch_size=30))
    assert model.training
    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert result["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-5)
    assert result["accuracy"] == pytest.approx(float((logits.argmax(1) == y).double().mean()))


def test_predict_returns_probabilities_in_loader_order():
    model = small_model()
    x, y = separable_problem(n=70)
    probabilities = train.predict(model, loader(x, y, batch_size=32))
    assert probabilities.shape == (70, 2) and probabilities.dtype == torch.float32
    assert probabilities.device.type == "cpu" and model.training
    torch.testing.assert_close(probabilities.sum(1), torch.ones(70))
    with torch.no_grad():
        expected = torch.softmax(model.eval()(x), dim=1)
    torch.testing.assert_close(probabilities, expected)
    images_only = [x[:40], x[40:]]
    torch.testing.assert_close(train.predict(model, images_only), expected)


def test_train_steps_takes_the_same_steps_for_the_same_seed():
    x, y = separable_problem(n=100)

    def run(seed):
        model = small_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return train.train_steps(model, x, y, optimizer, steps=12, batch_size=32, seed=seed)

    losses = run(seed=0)
    assert len(losses) == 12 and all(type(v) is float for v in losses)
    assert losses == run(seed=0)
    assert losses != run(seed=1)
    assert sum(losses[-3:]) < sum(losses[:3])


def test_train_steps_rejects_inconsistent_inputs():
    x, y = separable_problem(n=10)
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="length"):
        train.train_steps(model, x, y[:5], optimizer, steps=1, batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        train.train_steps(model, x, y, optimizer, steps=1, batch_size=11)


def test_history_best_epoch_and_table():
    history = History(train_loss=[1.0, 0.6, 0.4], train_acc=[0.5, 0.7, 0.8],
                      val_loss=[0.9, 0.5, 0.7], val_acc=[0.6, 0.8, 0.7],
                      lr=[0.1, 0.1, 0.01], seconds=[1.0, 1.0, 1.0])
    assert history.best_epoch == 1 and history.epochs == 3
    rows = history.as_table().splitlines()
    assert len(rows) == 4 and rows[2].lstrip().startswith("2*")
    with pytest.raises(ValueError, match="empty"):
        _ = History().best_epoch


def test_fit_accepts_a_loader_without_a_length():
    model = small_model()
    x, y = separable_problem(n=64)
    batches = ((x[i:i + 32], y[i:i + 32]) for i in range(0, 64, 32))  # a generator: no len()
    history = train.fit(model, batches, epochs=1, progress=True,
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert history.epochs == 1 and 0.0 <= history.train_acc[0] <= 1.0


# ---- checkpoints: save_checkpoint / load_checkpoint, keep_best, checkpoint= and resume= ----

def trained(seed: int = 0, epochs: int = 3, **fit_options):
    model = small_model(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train.fit(model, loader(*separable_problem(seed=0), shuffle=True),
                        loader(*separable_problem(seed=1)), epochs=epochs, optimizer=optimizer,
                        progress=False, **fit_options)
    return model, optimizer, history


def test_a_restored_checkpoint_gives_bit_identical_predictions(tmp_path):
    model, optimizer, _ = trained()
    path = train.save_checkpoint(tmp_path / "sub" / "model.pt", model, optimizer, epoch=3,
                                 note="plain values only")
    restored = small_model(seed=1)  # other random weights, same architecture
    fresh_optimizer = torch.optim.SGD(restored.parameters(), lr=0.1, momentum=0.9)
    state = train.load_checkpoint(path, restored, fresh_optimizer)
    assert (state["epoch"], state["note"]) == (3, "plain values only")
    x = torch.randn(50, 4)
    assert torch.equal(train.predict(restored, [x]), train.predict(model, [x]))
    saved_momentum = optimizer.state_dict()["state"]
    for key, value in fresh_optimizer.state_dict()["state"].items():
        assert torch.equal(value["momentum_buffer"], saved_momentum[key]["momentum_buffer"])
    assert not list(tmp_path.glob("sub/*.partial"))


def test_a_checkpoint_loads_with_weights_only(tmp_path):
    model, optimizer, history = trained(epochs=1)
    path = train.save_checkpoint(tmp_path / "m.pt", model, optimizer, epoch=1,
                                 history=history.as_dict())
    assert sorted(torch.load(path, weights_only=True)) == ["epoch", "history", "model", "optimizer"]


def test_loading_an_optimizer_from_a_checkpoint_without_one_is_an_error(tmp_path):
    model = small_model()
    path = train.save_checkpoint(tmp_path / "m.pt", model, epoch=0)
    with pytest.raises(ValueError, match="no optimizer state"):
        train.load_checkpoint(path, model, torch.optim.SGD(model.parameters(), lr=0.1))


@pytest.mark.parametrize("monitor", ["val_loss", "val_acc"])
def test_keep_best_ends_with_the_best_epochs_weights_and_checkpoints_them(tmp_path, monitor):
    path = tmp_path / "best.pt"
    model, _, history = trained(epochs=6, keep_best=monitor, checkpoint=path)
    if monitor == "val_loss":
        best = min(range(6), key=history.val_loss.__getitem__)
    else:
        best = max(range(6), key=lambda i: (history.val_acc[i], -i))
    state = train.load_checkpoint(path, small_model(seed=3))
    assert state["epoch"] == best + 1
    assert len(state["history"]["val_loss"]) == best + 1
    val = train.evaluate(model, loader(*separable_problem(seed=1)))
    assert val["loss"] == pytest.approx(history.val_loss[best], rel=1e-6)
    restored = small_model(seed=3)
    train.load_checkpoint(path, restored)
    x = torch.randn(20, 4)
    assert torch.equal(train.predict(restored, [x]), train.predict(model, [x]))


def test_keep_best_needs_a_validation_loader_and_a_known_measure():
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="val_loader"):
        train.fit(model, loader(*separable_problem()), epochs=1, optimizer=optimizer,
                  keep_best="val_loss", progress=False)
    with pytest.raises(ValueError, match="keep_best"):
        train.fit(model, loader(*separable_problem()), loader(*separable_problem()), epochs=1,
                  optimizer=optimizer, keep_best="accuracy", progress=False)


def test_resume_continues_the_epoch_count_and_the_optimizer_state(tmp_path):
    """3 epochs, a checkpoint, then resume to 5: the same numbers as 5 epochs in one go.

    (Without dropout and shuffling: the random state is not part of a checkpoint.)"""
    def run(epochs, **options):
        model = small_model(seed=0)
        model[3].p = 0.0
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        history = train.fit(model, loader(*separable_problem(seed=0)),
                            loader(*separable_problem(seed=1)), epochs=epochs,
                            optimizer=optimizer, scheduler=scheduler, progress=False, **options)
        return model, optimizer, history

    straight_model, _, straight = run(5)
    path = tmp_path / "last.pt"
    _, first_optimizer, first = run(3, checkpoint=path)
    assert train.load_checkpoint(path, small_model())["epoch"] == 3
    logged = []

    class Recorder:
        def log_epoch(self, epoch, metrics):
            logged.append(epoch)

    model, optimizer, resumed = run(5, resume=path, loggers=[Recorder()])
    assert logged == [4, 5]
    assert resumed.epochs == 5 and resumed.train_loss[:3] == first.train_loss
    assert resumed.lr == pytest.approx(straight.lr) and resumed.lr[3] == 0.1 * 0.5 ** 3
    assert len(optimizer.state) == len(first_optimizer.state)  # the momentum came back
    assert resumed.val_loss == pytest.approx(straight.val_loss, rel=1e-5)
    x = torch.randn(20, 4)
    assert torch.allclose(train.predict(model, [x]), train.predict(straight_model, [x]), atol=1e-6)


def test_resume_when_every_epoch_is_done_trains_nothing(tmp_path):
    path = tmp_path / "last.pt"
    model, _, first = trained(epochs=2, checkpoint=path)
    _, _, again = trained(epochs=2, resume=path)
    assert again.train_loss == first.train_loss


def test_fit_calls_every_logger_once_per_epoch_with_its_metrics():
    calls = []

    class Recorder:
        def log_epoch(self, epoch, metrics):
            calls.append((epoch, dict(metrics)))

    _, _, history = trained(epochs=3, loggers=[Recorder(), Recorder()])
    assert [epoch for epoch, _ in calls] == [1, 1, 2, 2, 3, 3]
    first = calls[0][1]
    assert sorted(first) == ["accuracy/train", "accuracy/val", "loss/train", "loss/val", "lr",
                             "seconds"]
    assert [metrics["loss/val"] for _, metrics in calls[::2]] == history.val_loss
    assert [metrics["accuracy/train"] for _, metrics in calls[::2]] == history.train_acc
