"""Unit tests for convtrain.models: the small networks, the backbones and the tools around them."""

import copy
import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from convtrain import data, models
from convtrain.models import backbones

# ----------------------------------------------------------------------------- small networks


@pytest.mark.parametrize("in_channels, widths, size", [(1, (16, 32), 8), (3, (8, 16, 32), 32)])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_simple_cnn_maps_images_to_logits(in_channels, widths, size, batchnorm):
    net = models.SimpleCNN(in_channels, num_classes=7, widths=widths, batchnorm=batchnorm)
    assert net(torch.rand(5, in_channels, size, size)).shape == (5, 7)
    n_batchnorms = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert n_batchnorms == (len(widths) if batchnorm else 0)


def test_simple_cnn_dropout_acts_only_in_train_mode():
    torch.manual_seed(0)
    net, x = models.SimpleCNN(dropout=0.5), torch.rand(4, 1, 8, 8)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


@pytest.mark.parametrize("kwargs", [{"widths": ()}, {"dropout": 1.0}, {"dropout": -0.1}])
def test_simple_cnn_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        models.SimpleCNN(**kwargs)


def test_deep_net_plain_and_residual_share_layers_and_differ_only_by_the_shortcut():
    torch.manual_seed(0)
    plain = models.DeepNet(4, 8, in_channels=3, num_classes=5)
    residual = models.DeepNet(4, 8, in_channels=3, num_classes=5, residual=True)
    residual.load_state_dict(plain.state_dict())  # same parameters, so only the wiring differs
    assert models.count_parameters(plain) == models.count_parameters(residual)
    x = torch.rand(2, 3, 8, 8)

    def manual_forward(net, with_shortcut):
        h = net.stem(x)
        for block in net.blocks:
            h = h + block(h) if with_shortcut else block(h)
        return net.fc(net.pool(net.head_relu(net.head_norm(h))).flatten(1))

    torch.testing.assert_close(plain(x), manual_forward(plain, False))
    torch.testing.assert_close(residual(x), manual_forward(plain, True))
    assert not torch.allclose(plain(x), residual(x))


def test_deep_net_without_shortcuts_loses_the_signal_with_depth():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 8, 8)
    last_std = {}
    for residual in (False, True):
        net = models.DeepNet(20, 16, residual=residual)
        activations = list(models.record_activations(net, x).values())
        last_std[residual] = float(activations[-1].std())
    assert last_std[False] < 0.2 * last_std[True], last_std


def test_deep_net_with_batchnorm_has_one_per_block_plus_head():
    net = models.DeepNet(3, 8, batchnorm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 4
    with pytest.raises(ValueError, match="depth"):
        models.DeepNet(0, 8)


def test_residual_block_shapes_and_shortcuts():
    same = models.ResidualBlock(8, 8)
    down = models.ResidualBlock(8, 16, stride=2)
    assert isinstance(same.shortcut, nn.Identity)
    assert isinstance(down.shortcut, nn.Sequential)
    assert same(torch.rand(2, 8, 7, 7)).shape == (2, 8, 7, 7)
    assert down(torch.rand(2, 8, 7, 7)).shape == (2, 16, 4, 4)


def test_residual_block_with_silenced_main_path_passes_the_input_through_relu():
    block = models.ResidualBlock(8, 8).eval()
    nn.init.zeros_(block.bn2.weight)  # main path now outputs bn2's bias, which is zero
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_dense_block_concatenates_its_input_with_every_new_layer():
    block = models.DenseBlock(6, growth_rate=4, num_layers=3)
    x = torch.randn(2, 6, 5, 5)
    out = block(x)
    assert out.shape == (2, block.out_channels, 5, 5) and block.out_channels == 6 + 3 * 4
    assert torch.equal(out[:, :6], x)


# ----------------------------------------------------------------------------- tiny_digits backbone


@pytest.fixture(scope="module")
def tiny_test_split():
    """The held-out digits 0-4 as uint8 (N, 3, 8, 8), the input the weights' transforms expect."""
    test = data.digits("test", image_size=8, channels=3, classes=range(5))
    return (test.images * 255).round().to(torch.uint8), test.labels


def _accuracy(model, images, labels):
    with torch.no_grad():
        return float((model(images).argmax(1) == labels).double().mean())


def test_tiny_backbone_is_accurate_with_its_own_preprocessing(tiny_test_split):
    raw, labels = tiny_test_split
    model = models.backbone("tiny_digits").eval()
    weights = models.backbone_weights("tiny_digits")
    images = torch.stack([weights.transforms()(image) for image in raw])
    assert images.shape == (len(raw), 3, 32, 32) and images.dtype == torch.float32
    assert _accuracy(model, images, labels) > 0.95
    assert weights.meta["categories"] == ["0", "1", "2", "3", "4"]
    assert weights.meta["num_params"] == models.count_parameters(model)
    assert next(iter(weights.meta["_metrics"].values()))["acc@1"] > 95


def test_tiny_backbone_suffers_from_mismatched_normalization_and_batch_size_one(tiny_test_split):
    raw, labels = tiny_test_split
    model = models.backbone("tiny_digits").eval()
    upsampled = torch.nn.functional.interpolate(raw.float() / 255, size=32, mode="bilinear")
    mean = torch.tensor(models.TINY_DIGITS_MEAN)[:, None, None]
    std = torch.tensor(models.TINY_DIGITS_STD)[:, None, None]
    imagenet_mean = torch.tensor(data.IMAGENET_MEAN)[:, None, None]
    imagenet_std = torch.tensor(data.IMAGENET_STD)[:, None, None]
    matched = _accuracy(model, (upsampled - mean) / std, labels)
    mismatched = _accuracy(model, (upsampled - imagenet_mean) / imagenet_std, labels)
    assert matched - mismatched > 0.3, (matched, mismatched)

    model.train()  # BatchNorm now normalizes each single image with its own statistics
    one_by_one = torch.cat([model((image[None] - mean) / std) for image in upsampled[:40]])
    accuracy_batch_1 = float((one_by_one.argmax(1) == labels[:40]).double().mean())
    assert accuracy_batch_1 < 0.5, accuracy_batch_1


def test_tiny_backbone_transforms_accept_pil_and_uint8_alike(tiny_test_split):
    raw, _ = tiny_test_split
    transform = models.backbone_weights("tiny_digits").transforms()
    pil = torchvision.transforms.v2.functional.to_pil_image(raw[0])
    torch.testing.assert_close(transform(pil), transform(raw[0]))


def test_tiny_backbone_rejects_weights_that_do_not_match_the_recorded_hash(monkeypatch):
    monkeypatch.setattr(backbones, "TINY_DIGITS_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="pretrain_tiny_backbone.py"):
        models.backbone("tiny_digits")
    monkeypatch.setattr(backbones, "TINY_DIGITS_FILE", "missing.pt")
    with pytest.raises(FileNotFoundError, match="pretrain_tiny_backbone.py"):
        models.backbone("tiny_digits")


def test_tiny_backbone_without_pretraining_is_random():
    pretrained, random = models.backbone("tiny_digits"), models.backbone("tiny_digits", pretrained=False)
    assert not torch.equal(pretrained.fc.weight, random.fc.weight)


# ----------------------------------------------------------------------------- torchvision backbones


def test_resnet18_architecture_matches_torchvision_parameter_count():
    model = models.backbone("resnet18", pretrained=False)
    expected = models.backbone_weights("resnet18").meta["num_params"]
    assert models.count_parameters(model) == expected
    assert model.fc.out_features == 1000


def test_vgg19_head_is_replaced_in_the_classifier():
    with torch.device("meta"):  # the architecture without allocating its 143 M parameters
        model = models.backbone("vgg19", pretrained=False)
        assert models.count_parameters(model) == models.backbone_weights("vgg19").meta["num_params"]
        models.replace_head(model, 4)
    assert model.classifier[-1].out_features == 4 and model.classifier[-1].in_features == 4096
    groups = models.head_param_groups(model, lr=0.01)
    assert [p.shape for p in groups[1]["params"]] == [(4, 4096), (4,)]


def test_pretrained_torchvision_backbone_offline_is_a_clear_error(monkeypatch):
    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", no_network)
    with pytest.raises(RuntimeError, match="CONVTRAIN_PROFILE=fast") as error:
        models.backbone("resnet18")
    assert "internet" in str(error.value)


def test_unknown_backbone_lists_the_valid_names():
    with pytest.raises(ValueError, match="tiny_digits, resnet18, vgg19"):
        models.backbone("resnet50")


# ----------------------------------------------------------------------------- adapting a backbone


def test_replace_head_gives_a_fresh_trainable_layer():
    model = models.backbone("tiny_digits")
    old_head = model.fc
    models.freeze(model)
    models.replace_head(model, 3)
    assert model.fc is not old_head and model.fc.out_features == 3
    assert model.fc.in_features == old_head.in_features
    assert all(p.requires_grad for p in model.fc.parameters())
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3)


def test_replace_head_explains_when_there_is_no_head():
    with pytest.raises(ValueError, match="classification head"):
        models.replace_head(nn.Sequential(nn.Conv2d(1, 1, 3)), 2)


def test_freeze_trains_only_the_head_and_keeps_batchnorm_statistics():
    torch.manual_seed(0)
    model = models.replace_head(models.backbone("tiny_digits"), 5)
    models.freeze(model, except_=("fc",))
    before = copy.deepcopy(model.state_dict())
    assert models.count_parameters(model, trainable_only=True) == 64 * 5 + 5

    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    loss = nn.functional.cross_entropy(model(torch.rand(8, 3, 32, 32)), torch.arange(8) % 5)
    loss.backward()
    optimizer.step()

    assert model.training and not any(bn.training for bn in bns)
    after = model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"fc.weight", "fc.bias"}  # running_mean/var and num_batches_tracked too


def test_freeze_can_keep_a_whole_stage_trainable_and_unfreeze_undoes_it():
    model = models.backbone("tiny_digits")
    models.freeze(model, except_=("features.2", "fc"))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"features.2.0.weight", "features.2.1.weight", "features.2.1.bias",
                         "fc.weight", "fc.bias"}
    model.train()
    model(torch.rand(2, 3, 32, 32))
    assert model.features[2][1].training and not model.features[0][1].training

    models.freeze(model, except_=("fc",))  # a second call replaces the first choice
    model.train()
    model(torch.rand(2, 3, 32, 32))
    assert not model.features[2][1].training and not model.features[2][0].weight.requires_grad

    models.unfreeze(model)
    model.train()
    model(torch.rand(2, 3, 32, 32))
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in model.modules())


def test_freeze_names_the_problem_when_nothing_matches():
    with pytest.raises(ValueError, match="'head'"):
        models.freeze(models.backbone("tiny_digits", pretrained=False), except_=("head",))


def test_a_frozen_model_can_be_deep_copied_and_still_keeps_batchnorm_in_eval():
    model = models.freeze(models.backbone("tiny_digits", pretrained=False))
    clone = copy.deepcopy(model).train()
    clone(torch.rand(2, 3, 32, 32))
    assert not clone.features[0][1].training


def test_head_param_groups_put_the_head_at_a_higher_learning_rate():
    model = models.backbone("tiny_digits")
    body, head = models.head_param_groups(model, lr=1e-3, head_lr_mult=10.0)
    assert body["lr"] == pytest.approx(1e-3) and head["lr"] == pytest.approx(1e-2)
    assert {id(p) for p in head["params"]} == {id(p) for p in model.fc.parameters()}
    assert len(body["params"]) + len(head["params"]) == len(list(model.parameters()))

    models.freeze(model)
    groups = models.head_param_groups(model, lr=1e-3)
    assert len(groups) == 1 and groups[0]["lr"] == pytest.approx(1e-2)
    torch.optim.SGD(groups, lr=1.0)  # accepted as is by an optimizer


def test_count_parameters_counts_every_scalar():
    layer = nn.Linear(10, 3)
    assert models.count_parameters(layer) == layer.weight.numel() + layer.bias.numel()
    layer.bias.requires_grad_(False)
    assert models.count_parameters(layer, trainable_only=True) == layer.weight.numel()


# ----------------------------------------------------------------------------- looking inside


def test_record_activations_returns_each_relu_output_in_forward_order():
    torch.manual_seed(0)
    net = models.DeepNet(3, 4).eval()
    x = torch.rand(2, 1, 6, 6)
    activations = models.record_activations(net, x)
    assert list(activations) == ["blocks.0.relu", "blocks.1.relu", "blocks.2.relu", "head_relu"]
    torch.testing.assert_close(activations["blocks.0.relu"], torch.relu(net.stem(x)))
    assert not net.training and not net._forward_hooks
    assert all(not m._forward_hooks for m in net.modules())


def test_record_activations_names_a_reused_module_per_call():
    model = models.backbone("resnet18", pretrained=False).eval()
    activations = models.record_activations(model, torch.rand(1, 3, 32, 32))
    assert "layer1.0.relu" in activations and "layer1.0.relu#2" in activations
    assert len(activations) == 1 + 2 * 8  # the stem ReLU and two calls in each of 8 blocks
    with pytest.raises(ValueError, match="Tanh"):
        models.record_activations(model, torch.rand(1, 3, 32, 32), layer_types=(nn.Tanh,))


def test_record_gradients_equals_a_manual_backward_pass_and_leaves_no_grad_behind():
    torch.manual_seed(0)
    net = models.DeepNet(2, 4)
    x, y = torch.rand(3, 1, 6, 6), torch.tensor([0, 1, 2])
    gradients = models.record_gradients(net, x, y)
    assert list(gradients) == ["stem", "blocks.0.conv", "blocks.1.conv", "fc"]
    assert all(p.grad is None for p in net.parameters())
    nn.functional.cross_entropy(net(x), y).backward()
    torch.testing.assert_close(gradients["blocks.1.conv"], net.blocks[1].conv.weight.grad)
