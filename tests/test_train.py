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
