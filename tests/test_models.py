"""Reference networks (shapes, structure, gradients) and the SpectralClassifier LightningModule."""

from __future__ import annotations

import importlib
import itertools
import math
from pathlib import Path
from types import ModuleType

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lightning_spectral.data import MNISTDigitsDataModule
from lightning_spectral.models import (
    FCN,
    NETWORKS,
    ResNet18,
    RippelDeepCNN,
    RippelGenericCNN,
    SpectralClassifier,
    SpectralPoolingCNN,
    build_network,
    spectral_pooling_sizes,
)
from lightning_spectral.nn import BandLimitedConv1d, BandLimitedConv2d, SpectralPool2d

TINY = {
    "generic_k3": (
        lambda: RippelGenericCNN(1, 10, 28, channels=(4, 8), hidden_features=(16, 8)),
        (2, 1, 28, 28),
    ),
    "generic_k5_rect": (
        lambda: RippelGenericCNN(3, 5, (20, 14), 5, channels=(4, 8), hidden_features=(16, 8)),
        (2, 3, 20, 14),
    ),
    "deep_k3": (lambda: RippelDeepCNN(3, 10, 3, channels=(4, 8)), (2, 3, 32, 32)),
    "deep_k5_bn": (
        lambda: RippelDeepCNN(1, 4, 5, channels=(4, 8), batch_norm=True),
        (2, 1, 28, 28),
    ),
    "spectral_pooling": (
        lambda: SpectralPoolingCNN(3, 10, 3, 0.85, 32, base_channels=4, growth=2),
        (2, 3, 32, 32),
    ),
    "spectral_pooling_dropout": (
        lambda: SpectralPoolingCNN(
            1, 10, 2, 0.5, 28, base_channels=4, growth=2, dropout_alpha=0.3, dropout_beta=0.15
        ),
        (2, 1, 28, 28),
    ),
    "fcn": (lambda: FCN(1, 3, channels=(4, 8, 4)), (2, 1, 150)),
    "fcn_multivariate": (lambda: FCN(6, 4, channels=(4, 8, 4)), (2, 6, 37)),
    "resnet18": (lambda: ResNet18(3, 10, width=4), (2, 3, 32, 32)),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_forward_backward_tiny(name: str):
    factory, shape = TINY[name]
    torch.manual_seed(0)
    net = factory()
    net.train()
    out = net(torch.randn(shape))
    assert out.shape == (shape[0], net.num_classes)
    assert out.dtype == torch.float32
    F.cross_entropy(out, torch.tensor([0, 1])).backward()
    for pname, param in net.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


# ---- structure against the papers --------------------------------------------------------


def _convs(net: nn.Module) -> list[tuple[int, tuple[int, ...]]]:
    return [
        (m.out_channels, m.kernel_size)
        for m in net.modules()
        if isinstance(m, (nn.Conv1d, nn.Conv2d))
    ]


@pytest.mark.parametrize("k", [3, 5])
def test_generic_cnn_is_eq6(k: int):
    net = RippelGenericCNN(kernel_size=k)
    assert _convs(net) == [(96, (k, k)), (192, (k, k))]
    pools = [m for m in net.modules() if isinstance(m, nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2), (3, 2)]
    linears = [(m.in_features, m.out_features) for m in net.modules() if isinstance(m, nn.Linear)]
    # 32 -> 16 -> 8 after the two stride-2 pools.
    assert linears == [(192 * 8 * 8, 1024), (1024, 512), (512, 10)]
    features = net.features(torch.zeros(1, 3, 32, 32))
    assert features.shape == (1, 192, 8, 8)


@pytest.mark.parametrize("k", [3, 5])
def test_deep_cnn_is_eq7(k: int):
    net = RippelDeepCNN(num_classes=100, kernel_size=k)
    kk = (k, k)
    spatial = [(96, kk), (96, kk), (192, kk), (192, kk), (192, kk)]
    assert _convs(net) == [*spatial, (192, (1, 1)), (100, (1, 1))]
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 2
    assert net(torch.zeros(1, 3, 24, 40)).shape == (1, 100)


def test_spectral_pooling_cnn_is_eq5():
    net = SpectralPoolingCNN(num_layers=8, gamma=0.85)
    widths = [c for c, _ in _convs(net)]
    # 96 + 32 m filters for m = 1..M, capped at 288, then C^(96+32M)_1x1 and C^10_1x1.
    assert widths == [128, 160, 192, 224, 256, 288, 288, 288, 288, 10]
    assert [k for _, k in _convs(net)] == [(3, 3)] * 8 + [(1, 1)] * 2
    pools = [m for m in net.modules() if isinstance(m, SpectralPool2d)]
    assert len(pools) == 8
    # Each pool is followed by a ReLU, as every convolution is.
    layers = list(net.features)
    for i, layer in enumerate(layers):
        if isinstance(layer, SpectralPool2d):
            assert isinstance(layers[i + 1], nn.ReLU)


def test_spectral_pooling_cnn_map_sizes_follow_the_formula():
    net = SpectralPoolingCNN(3, 10, 4, 0.7, 32, base_channels=4, growth=2)
    assert net.map_sizes == [(22, 22), (15, 15), (10, 10), (7, 7)]
    seen: list[tuple[int, int]] = []
    for module in net.modules():
        if isinstance(module, SpectralPool2d):
            module.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[-2:])))
    net(torch.randn(1, 3, 32, 32))
    assert seen == net.map_sizes


@settings(max_examples=30, deadline=None)
@given(size=st.integers(4, 64), layers=st.integers(1, 15), gamma=st.floats(0.25, 0.85))
def test_spectral_pooling_sizes_property(size: int, layers: int, gamma: float):
    try:
        sizes = spectral_pooling_sizes(size, layers, gamma)
    except ValueError as err:
        assert "shrinks below 1x1" in str(err)
        assert math.floor(gamma**layers * size) <= layers  # only tiny final maps collapse
        return
    heights = [size] + [h for h, _ in sizes]
    for before, after in itertools.pairwise(heights):
        assert after == math.floor(gamma * before + 1e-9)
    # The compounded floors lose less than 1 / (1 - gamma) against gamma^M H.
    assert gamma**layers * size - 1 / (1 - gamma) < heights[-1] <= gamma**layers * size + 1e-6


def test_spectral_pooling_sizes_rejects_bad_arguments():
    # 8 -> 4 -> 2 -> 1 -> 0
    with pytest.raises(ValueError, match="shrinks below 1x1 at pooling layer 4 of 5"):
        spectral_pooling_sizes(8, 5, 0.5)
    with pytest.raises(ValueError, match="gamma"):
        spectral_pooling_sizes(32, 2, 1.0)
    with pytest.raises(ValueError, match="num_layers"):
        spectral_pooling_sizes(32, 0, 0.5)


def test_spectral_pooling_cnn_frequency_dropout_per_layer():
    net = SpectralPoolingCNN(1, 10, 3, 0.8, 28, base_channels=4, growth=2,
                             dropout_alpha=0.3, dropout_beta=0.15)  # fmt: skip
    pools = [m for m in net.modules() if isinstance(m, SpectralPool2d)]
    expected = [0.3 + (m / 3) * (0.15 - 0.3) for m in (1, 2, 3)]
    assert [p.dropout_min for p in pools] == pytest.approx(expected)
    assert len({p.dropout_seed for p in pools}) == 3
    x = torch.randn(2, 1, 28, 28)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    reference = net(x)
    net.train()
    assert not torch.allclose(net(x), reference)
    without = SpectralPoolingCNN(1, 10, 3, 0.8, 28, base_channels=4, growth=2)
    assert all(m.dropout_min is None for m in without.modules() if isinstance(m, SpectralPool2d))
    with pytest.raises(ValueError, match="together"):
        SpectralPoolingCNN(dropout_alpha=0.3)


def test_fcn_is_wang_et_al():
    net = FCN(in_channels=1, num_classes=5)
    assert _convs(net) == [(128, (8,)), (256, (5,)), (128, (3,))]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in net.modules()) == 3
    # "Same" padding keeps the length through every block, for odd and even lengths.
    for length in (24, 25, 150):
        assert net.features(torch.zeros(2, 1, length)).shape == (2, 128, length)
    assert net.classifier.in_features == 128 and net.classifier.out_features == 5


def test_resnet18_matches_the_standard_cifar_model():
    net = ResNet18()
    assert sum(p.numel() for p in net.parameters()) == 11_173_962
    assert isinstance(net.stem[0], nn.Conv2d) and net.stem[0].kernel_size == (3, 3)
    assert net.stem[0].stride == (1, 1)
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())
    x = torch.zeros(1, 3, 32, 32)
    sizes = []
    x = net.stem(x)
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        x = stage(x)
        sizes.append(tuple(x.shape[1:]))
    assert sizes == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: RippelGenericCNN(kernel_size=4), "odd"),
        (lambda: RippelGenericCNN(channels=(8,)), "channels"),
        (lambda: RippelGenericCNN(dropout=1.0), "dropout"),
        (lambda: FCN(channels=(4, 8), kernel_sizes=(8, 5, 3)), "equal length"),
        (lambda: ResNet18(width=0), "width"),
        (lambda: SpectralPoolingCNN(num_layers=15, gamma=0.5), "shrinks below 1x1"),
    ],
)
def test_networks_reject_bad_configuration(factory, match: str):
    with pytest.raises(ValueError, match=match):
        factory()


def test_band_limited_rewrite_at_zero_compression_keeps_outputs():
    """The networks' convolutions (incl. FCN's even-kernel "same" padding) are rewritable."""
    torch.manual_seed(0)
    for net, x, conv_type in (
        (FCN(1, 3, channels=(4, 8, 4)), torch.randn(2, 1, 40), BandLimitedConv1d),
        (
            RippelGenericCNN(1, 10, 16, 5, channels=(4, 8), hidden_features=(8, 8)),
            torch.randn(2, 1, 16, 16),
            BandLimitedConv2d,
        ),
    ):
        net.eval()
        expected = net(x)
        for parent in list(net.modules()):
            for child_name, child in parent.named_children():
                if type(child) in (nn.Conv1d, nn.Conv2d):
                    setattr(parent, child_name, conv_type.from_conv(child, compression=0.0))
        assert any(isinstance(m, conv_type) for m in net.modules())
        torch.testing.assert_close(net(x), expected, atol=1e-4, rtol=1e-4)


# ---- registry ----------------------------------------------------------------------------


def test_build_network_by_name():
    assert set(NETWORKS) == {
        "rippel_generic",
        "rippel_deep",
        "spectral_pooling_cnn",
        "fcn",
        "resnet18",
    }
    net = build_network("ResNet18", num_classes=7, width=4)
    assert isinstance(net, ResNet18) and net.num_classes == 7
    assert isinstance(build_network("rippel-deep", channels=(4, 8)), RippelDeepCNN)
    with pytest.raises(ValueError, match="unknown network 'vgg'"):
        build_network("vgg")


# ---- SpectralClassifier -------------------------------------------------------------------


def _tiny_generic(**kwargs) -> dict:
    return {
        "in_channels": 1,
        "num_classes": 10,
        "input_size": 28,
        "channels": [4, 8],
        "hidden_features": [16, 16],
        **kwargs,
    }


@pytest.fixture(scope="module")
def mnist() -> MNISTDigitsDataModule:
    dm = MNISTDigitsDataModule(batch_size=16)
    dm.setup()
    return dm


def _trainer(**kwargs) -> pl.Trainer:
    options = {
        "max_epochs": 1,
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "limit_test_batches": 2,
        "limit_predict_batches": 1,
        "num_sanity_val_steps": 0,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
        "devices": 1,
    }
    options.update(kwargs)
    return pl.Trainer(**options)


def test_classifier_trains_tests_and_predicts_on_mnist(
    mnist: MNISTDigitsDataModule, tmp_path: Path
):
    pl.seed_everything(0)
    model = SpectralClassifier(
        "rippel_generic", _tiny_generic(), optimizer="adamw", lr=1e-3, lr_schedule="cosine"
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = _trainer()
    trainer.fit(model, datamodule=mnist)
    assert trainer.global_step == 2
    metrics = trainer.callback_metrics
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert key in metrics and torch.isfinite(metrics[key]), key
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert "network.features.0.weight" in changed
    # The cosine schedule stepped per batch.
    assert trainer.lr_scheduler_configs[0].interval == "step"
    assert trainer.optimizers[0].param_groups[0]["lr"] < 1e-3

    results = trainer.test(model, datamodule=mnist, verbose=False)
    assert 0.0 <= results[0]["test_acc"] <= 1.0
    predictions = trainer.predict(model, dataloaders=mnist.test_dataloader())
    assert len(predictions) == 1 and predictions[0].shape == (16, 10)

    # Chosen by name: the checkpoint alone rebuilds the model.
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    restored = SpectralClassifier.load_from_checkpoint(path, map_location="cpu")
    x = mnist.test_set.inputs[:4]
    model.eval()
    restored.eval()
    torch.testing.assert_close(restored(x), model(x))


def test_classifier_metrics_equal_manual_computation(mnist: MNISTDigitsDataModule):
    torch.manual_seed(1)
    network = RippelDeepCNN(1, 10, 3, channels=(4, 8))
    model = SpectralClassifier(network)
    result = _trainer(limit_val_batches=3).validate(model, datamodule=mnist, verbose=False)[0]
    model.eval()
    logits, labels = [], []
    with torch.no_grad():
        for i, (x, y) in enumerate(mnist.val_dataloader()):
            if i == 3:
                break
            logits.append(network(x))
            labels.append(y)
    logits, labels = torch.cat(logits), torch.cat(labels)
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    assert result["val_acc"] == pytest.approx(accuracy, abs=1e-6)
    assert result["val_loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)


def test_classifier_with_module_instance_is_not_pickled_into_hparams(tmp_path: Path):
    network = FCN(1, 3, channels=(4, 8, 4))
    model = SpectralClassifier(network, lr=0.01)
    assert "network" not in model.hparams and model.hparams.lr == 0.01
    assert model.num_classes == 3
    trainer = _trainer(max_steps=0)
    trainer.strategy.connect(model)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    restored = SpectralClassifier.load_from_checkpoint(path, network=FCN(1, 3, channels=(4, 8, 4)))
    x = torch.randn(2, 1, 30)
    model.eval()
    restored.eval()
    torch.testing.assert_close(restored(x), model(x))


def test_classifier_sgd_multistep_schedule():
    model = SpectralClassifier(
        "fcn",
        {"num_classes": 2, "channels": [4, 4, 4]},
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        lr_schedule="multistep",
        lr_milestones=[100, 140],
    )
    config = model.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["nesterov"] and optimizer.defaults["weight_decay"] == 1e-4
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    assert sorted(scheduler.milestones) == [100, 140]
    assert config["lr_scheduler"]["interval"] == "epoch"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"network": "fcn", "network_kwargs": {"num_classes": 3}, "num_classes": 4}, "num_classes"),
        ({"network": "fcn", "optimizer": "rmsprop"}, "optimizer"),
        ({"network": "fcn", "lr_schedule": "multistep"}, "lr_milestones"),
        ({"network": "fcn", "lr": 0.0}, "lr"),
        ({"network": "nope"}, "unknown network"),
    ],
)
def test_classifier_rejects_bad_configuration(kwargs: dict, match: str):
    with pytest.raises(ValueError, match=match):
        SpectralClassifier(**kwargs)
    with pytest.raises(ValueError, match="network_kwargs"):
        SpectralClassifier(FCN(), network_kwargs={"num_classes": 3})


def test_classifier_from_lightning_cli_saves_a_rebuildable_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lightning_namespace: ModuleType
):
    # Either namespace's LightningCLI: each sets its own "given hyperparameters".
    LightningCLI = importlib.import_module(f"{lightning_namespace.__name__}.cli").LightningCLI

    monkeypatch.setattr("sys.argv", ["lightning-spectral"])  # pytest's own arguments are not ours

    network = {
        "class_path": "lightning_spectral.models.RippelGenericCNN",
        "init_args": _tiny_generic(),
    }
    cli = LightningCLI(
        SpectralClassifier,
        MNISTDigitsDataModule,
        run=False,
        args={
            "model": {"network": network, "lr": 0.005},
            "data": {"batch_size": 8},
            "trainer": {"logger": False, "enable_checkpointing": False, "accelerator": "cpu"},
        },
        save_config_callback=None,
    )
    model = cli.model
    assert isinstance(model.network, RippelGenericCNN) and model.lr == 0.005
    # The config (not the live module) is the hyperparameter, so the checkpoint rebuilds it.
    assert model.hparams["network"]["class_path"].endswith("RippelGenericCNN")
    cli.trainer.strategy.connect(model)
    path = tmp_path / "cli.ckpt"
    cli.trainer.save_checkpoint(path)
    restored = SpectralClassifier.load_from_checkpoint(path)
    assert isinstance(restored.network, RippelGenericCNN)
    x = torch.randn(2, 1, 28, 28)
    model.eval()
    restored.eval()
    torch.testing.assert_close(restored(x), model(x))

    by_name = LightningCLI(
        SpectralClassifier,
        run=False,
        args={"model": {"network": "resnet18", "network_kwargs": {"width": 4, "num_classes": 3}}},
        save_config_callback=None,
        trainer_defaults={"logger": False},
    )
    assert isinstance(by_name.model.network, ResNet18) and by_name.model.num_classes == 3


def test_named_network_receives_num_classes() -> None:
    from lightning_spectral.models import SpectralClassifier

    model = SpectralClassifier(network="fcn", network_kwargs={"in_channels": 1}, num_classes=3)
    assert model.network.num_classes == 3
    assert model(torch.randn(2, 1, 32)).shape == (2, 3)
