"""Unit tests for convtrain.lr_finder: the learning-rate range test."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from convtrain.lr_finder import lr_range_test


def problem(n: int = 256, seed: int = 0):
    """Two classes of 4-dimensional points told apart by the sign of their first coordinate."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    return x, (x[:, 0] > 0).long()


def loader(x, y, batch_size=32):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(16, 2))


def test_learning_rates_grow_log_linearly_from_lr_min_to_lr_max():
    lrs, losses = lr_range_test(small_model(), loader(*problem()), lr_min=1e-4, lr_max=1e-1, steps=31,
                                diverge=1e9)
    assert len(lrs) == len(losses) == 31
    assert all(type(value) is float for value in lrs + losses)
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-1)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert ratios == pytest.approx([1000 ** (1 / 30)] * 30)


def test_loss_falls_then_the_test_stops_once_it_runs_away():
    lrs, losses = lr_range_test(small_model(), loader(*problem()), lr_min=1e-3, lr_max=1e4, steps=200)
    assert len(lrs) < 200, "a learning rate of 1e4 must make the loss run away"
    assert min(losses) < 0.5 * losses[0], "somewhere in the range the loss should fall"
    assert not math.isfinite(losses[-1]) or losses[-1] > 4 * losses[0]
    assert all(math.isfinite(loss) and loss <= 4 * losses[0] for loss in losses[:-1])


def test_model_weights_buffers_mode_and_gradients_are_restored():
    model = small_model()
    model.eval()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    lr_range_test(model, loader(*problem()), lr_min=1e-3, lr_max=10.0, steps=40)
    assert not model.training and all(not module.training for module in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())


def test_restores_the_model_even_when_training_fails():
    model = small_model()
    before = {key: value.clone() for key, value in model.state_dict().items()}

    def broken_loss(logits, labels):
        if broken_loss.calls == 3:
            raise RuntimeError("boom")
        broken_loss.calls += 1
        return nn.functional.cross_entropy(logits, labels)

    broken_loss.calls = 0
    with pytest.raises(RuntimeError, match="boom"):
        lr_range_test(model, loader(*problem()), broken_loss, steps=10)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_loader_is_cycled_and_the_optimizer_and_loss_are_used():
    x, y = problem(n=64)
    made = []

    def make_optimizer(parameters):
        made.append(torch.optim.Adam(parameters, lr=1.0))
        return made[-1]

    calls = []

    def loss_fn(logits, labels):
        calls.append(len(labels))
        return nn.functional.cross_entropy(logits, labels)

    lrs, _ = lr_range_test(small_model(), loader(x, y, batch_size=16), loss_fn, lr_min=1e-5, lr_max=1e-3,
                           steps=10, optimizer=make_optimizer)
    assert len(lrs) == 10 and calls == [16] * 10  # 4 batches per pass: the loader ran 3 times
    assert len(made) == 1 and made[0].param_groups[0]["lr"] == pytest.approx(1e-3)


@pytest.mark.parametrize("settings", [dict(lr_min=0.0), dict(lr_min=1.0, lr_max=0.1), dict(steps=1),
                                      dict(diverge=1.0)])
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError):
        lr_range_test(small_model(), loader(*problem()), **settings)
