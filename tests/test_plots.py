"""Unit tests for convtrain.plots: every figure is returned, titled, labelled and has its legend."""

import io
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from convtrain import plots  # noqa: E402
from convtrain.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def test_importing_plots_does_not_import_matplotlib():
    code = "import sys, convtrain.plots; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_learning_curves_show_train_and_validation_loss_and_accuracy():
    history = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.8], val_loss=[1.1, 0.7],
                      val_acc=[0.4, 0.7], lr=[0.1, 0.1], seconds=[1.0, 1.0])
    fig = plots.learning_curves(history)
    assert isinstance(fig, Figure) and fig._suptitle.get_text() == "Learning curves"
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel()) == ("epoch", "loss")
    assert (acc_ax.get_xlabel(), acc_ax.get_ylabel()) == ("epoch", "accuracy")
    assert legend_texts(loss_ax) == ["train", "validation"]
    assert list(acc_ax.lines[1].get_ydata()) == history.val_acc


def test_learning_curves_without_validation_draw_one_line_and_no_legend():
    history = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.8], val_loss=[float("nan")] * 2,
                      val_acc=[float("nan")] * 2, lr=[0.1, 0.1], seconds=[1.0, 1.0])
    loss_ax = plots.learning_curves(history).axes[0]
    assert len(loss_ax.lines) == 1 and loss_ax.get_legend() is None


@pytest.mark.parametrize("images", [
    torch.rand(10, 3, 8, 8),                                      # float in [0, 1]
    torch.randn(10, 1, 8, 8),                                     # normalized, one channel
    torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8),      # raw pixels
])
def test_image_grid_captions_labels_and_marks_wrong_predictions(images):
    labels, predictions = [0, 1] * 5, [0] * 10
    fig = plots.image_grid(images, labels, predictions, class_names=["cat", "dog"], ncols=4)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 10 and len(fig.axes) == 12  # 3 rows of 4
    assert shown[0].get_title() == "cat → cat" and shown[1].get_title() == "dog → cat"
    red = [ax.title.get_color() == "red" for ax in shown]
    assert red == [label != prediction for label, prediction in zip(labels, predictions)]
    for ax in shown:
        pixels = ax.images[0].get_array()
        assert pixels.min() >= 0 and pixels.max() <= 1
    assert fig._suptitle.get_text().startswith("10 images")
    fig.savefig(io.BytesIO(), format="png")  # renders (layout, glyphs) without error


def test_image_grid_rejects_what_is_not_an_image():
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plots.image_grid(torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match="at least one"):
        plots.image_grid([])


def test_layer_histograms_one_panel_per_layer_with_its_statistics():
    torch.manual_seed(0)
    tensors = {f"layer{i}": torch.randn(500) * 10.0 ** -i for i in range(5)}
    fig = plots.layer_histograms(tensors, title="Activations")
    panels = [ax for ax in fig.axes if ax.patches]
    assert len(panels) == 5 and fig._suptitle.get_text() == "Activations"
    for ax, (name, tensor) in zip(panels, tensors.items()):
        assert ax.get_title().startswith(name)
        assert f"std {tensor.double().std():.2g}" in ax.get_title()
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("value", "count")


def test_stats_by_depth_draws_one_line_per_network_against_depth():
    series = {"plain": [1.0, 0.1, 0.01], "residual": [1.0, 1.2, 1.5]}
    fig = plots.stats_by_depth(series, ylabel="activation std", title="Signal", log=True)
    ax = fig.axes[0]
    assert (ax.get_title(), ax.get_ylabel(), ax.get_yscale()) == ("Signal", "activation std", "log")
    assert "depth" in ax.get_xlabel() and legend_texts(ax) == ["plain", "residual"]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]


def test_line_plot_labels_everything_and_accepts_tensors():
    fig = plots.line_plot({"loss": torch.tensor([2.0, 1.0, 0.5])}, xlabel="step",
                          ylabel="loss", title="Training loss")
    ax = fig.axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Training loss", "step", "loss")
    assert list(ax.lines[0].get_ydata()) == [2.0, 1.0, 0.5]
    assert ax.get_legend() is None  # one series needs no legend
    with pytest.raises(ValueError, match="Nothing to plot"):
        plots.line_plot({}, xlabel="x", ylabel="y", title="t")


def test_confusion_matrix_counts_each_true_and_predicted_pair():
    generator = torch.Generator().manual_seed(0)
    y_true = torch.randint(0, 3, (60,), generator=generator)
    y_pred = torch.randint(0, 3, (60,), generator=generator)
    fig = plots.confusion_matrix(y_true, y_pred, class_names=["a", "b", "c"])
    ax = fig.axes[0]
    shown = {(round(t.get_position()[1]), round(t.get_position()[0])): int(t.get_text())
             for t in ax.texts}
    for i in range(3):
        for j in range(3):
            assert shown[i, j] == int(((y_true == i) & (y_pred == j)).sum())
    accuracy = float((y_true == y_pred).double().mean())
    assert ax.get_title() == f"Confusion matrix (accuracy {accuracy:.3f})"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    fig.savefig(io.BytesIO(), format="png")
    with pytest.raises(ValueError, match="0..1"):
        plots.confusion_matrix([0, 2], [0, 1], class_names=["a", "b"])
