"""Experiment 2 (Rippel et al. 2015, Fig. 5): convergence with spectrally parametrized filters.

For Rippel's generic (Eq. 6) and deep (Eq. 7) CNNs with 3x3 and 5x5 filters (narrowed for a
CPU), each seed trains twice from the *same* initial network and batch order with Adam: once
with ordinary (spatial) filters and once after
``lightning_spectral.transforms.parametrize_spectral_`` (filters stored and learned as their
real spectrum; the initial filters map exactly, so both runs start from the same function). The
validation error (MNIST digits, 400 held-out images) is measured every ``1 / --evals-per-epoch``
epoch. Rippel's measure: the spatial run's best validation error ``b`` and the time ``t_sp``
at which it first reaches it; the spectral run's first time ``t_fr`` at or below ``b``;
speedup ``t_sp / t_fr`` (no value if the spectral run never reaches ``b``).
"""

from __future__ import annotations

import time
from typing import Any

import _common
import numpy as np
import torch
import torch.nn.functional as F

NAME = "spectral_parametrization_convergence"
ARCHITECTURES = ["generic", "deep"]
KERNELS = [3, 5]


def build(arch: str, kernel: int, width: int) -> torch.nn.Module:
    from lightning_spectral.models import RippelDeepCNN, RippelGenericCNN

    if arch == "generic":
        return RippelGenericCNN(
            in_channels=1,
            num_classes=10,
            input_size=28,
            kernel_size=kernel,
            channels=(width, 2 * width),
            hidden_features=(8 * width, 4 * width),
        )
    return RippelDeepCNN(
        in_channels=1, num_classes=10, kernel_size=kernel, channels=(width, 2 * width)
    )


@torch.no_grad()
def error_rate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    wrong = sum(
        int((model(x[i : i + 500]).argmax(1) != y[i : i + 500]).sum())
        for i in range(0, y.numel(), 500)
    )
    model.train()
    return wrong / y.numel()


def train_curve(
    model: torch.nn.Module, data: dict[str, torch.Tensor], args: Any, seed: int
) -> tuple[list[float], list[float]]:
    """Adam training; returns ``(epochs, validation errors)`` at each evaluation point."""
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    x, y = data["train_x"], data["train_y"]
    generator = torch.Generator().manual_seed(seed)
    times, errors = [0.0], [error_rate(model, data["val_x"], data["val_y"])]
    model.train()
    for epoch in range(args.epochs):
        batches = list(torch.randperm(y.numel(), generator=generator).split(args.batch_size))
        batches = batches[: args.limit_batches]
        marks = {
            round(len(batches) * (i + 1) / args.evals_per_epoch)
            for i in range(args.evals_per_epoch)
        }
        for step, index in enumerate(batches, start=1):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
            if step in marks:
                times.append(epoch + step / len(batches))
                errors.append(error_rate(model, data["val_x"], data["val_y"]))
    return times, errors


def speedup(times: list[float], spatial: list[float], spectral: list[float]) -> dict[str, Any]:
    """Rippel's matching point: when each run first reaches the spatial run's best error."""
    best = min(spatial)
    t_spatial = times[spatial.index(best)]
    hit = next((t for t, e in zip(times, spectral, strict=True) if e <= best), None)
    return {
        "spatial_best_error": best,
        "spectral_best_error": min(spectral),
        "t_spatial": t_spatial,
        "t_spectral": hit,
        "speedup": None if hit is None or hit == 0 else t_spatial / hit,
    }


def run(args: Any) -> dict[str, Any]:
    from lightning_spectral import transforms

    dm = _common.make_datamodule("mnist", args.batch_size)
    data = {
        "train_x": dm.train_set.inputs,
        "train_y": dm.train_set.targets,
        "val_x": dm.val_set.inputs,
        "val_y": dm.val_set.targets,
    }
    results: dict[str, Any] = {}
    for arch in args.architectures:
        for kernel in args.kernels:
            runs = []
            for seed in args.seeds:
                _common.seed_everything(seed)
                spatial_model = build(arch, kernel, args.width)
                initial = {k: v.clone() for k, v in spatial_model.state_dict().items()}
                started = time.perf_counter()
                times, spatial = train_curve(spatial_model, data, args, seed)
                spectral_model = build(arch, kernel, args.width)
                spectral_model.load_state_dict(initial)
                transforms.parametrize_spectral_(spectral_model)
                _, spectral = train_curve(spectral_model, data, args, seed)
                match = speedup(times, spatial, spectral)
                runs.append(
                    {
                        "seed": seed,
                        "epochs": times,
                        "spatial_error": spatial,
                        "spectral_error": spectral,
                        **match,
                    }
                )
                print(
                    f"[{arch} {kernel}x{kernel} seed {seed}] speedup {match['speedup']} "
                    f"({time.perf_counter() - started:.0f}s)",
                    flush=True,
                )
            values = [r["speedup"] for r in runs if r["speedup"] is not None]
            results[f"{arch}_{kernel}x{kernel}"] = {
                "architecture": arch,
                "kernel_size": kernel,
                "runs": runs,
                "speedup_mean": float(np.mean(values)) if values else None,
                "speedup_std": float(np.std(values)) if values else None,
                "speedup_min": min(values) if values else None,
                "speedup_max": max(values) if values else None,
                "seeds_not_reached": sum(r["speedup"] is None for r in runs),
            }
    return results


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    n = len(results)
    fig, axes = plt.subplots(1, n + 1, figsize=(3.6 * (n + 1), 3.6), squeeze=False)
    for ax, (key, res) in zip(axes[0][:n], results.items(), strict=True):
        for r in res["runs"]:
            first = r is res["runs"][0]
            ax.plot(
                r["epochs"],
                100 * np.array(r["spatial_error"]),
                color="C3",
                alpha=0.7,
                lw=1,
                label="spatial" if first else None,
            )
            ax.plot(
                r["epochs"],
                100 * np.array(r["spectral_error"]),
                color="C0",
                alpha=0.7,
                lw=1,
                label="spectral" if first else None,
            )
            if r["t_spectral"] is not None:
                ax.plot(r["t_spectral"], 100 * r["spatial_best_error"], "D", color="C0", ms=5)
            ax.plot(r["t_spatial"], 100 * r["spatial_best_error"], "D", color="C3", ms=5)
        ax.set_yscale("log")
        ax.set_title(key.replace("_", " "), fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation error (%)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    ax = axes[0][n]
    labels = list(results)
    for i, key in enumerate(labels):
        values = [r["speedup"] for r in results[key]["runs"] if r["speedup"] is not None]
        ax.plot([i] * len(values), values, "o", color="C0", alpha=0.6)
        if values:
            ax.errorbar(
                i + 0.15, np.mean(values), yerr=np.std(values), fmt="s", color="k", capsize=3
            )
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xticks(range(len(labels)), [k.replace("_", "\n") for k in labels], fontsize=8)
    ax.set_ylabel("speedup (spatial / spectral epochs)")
    ax.set_title("speedup per seed, mean $\\pm$ std", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--architectures", nargs="+", default=ARCHITECTURES, choices=ARCHITECTURES)
    p.add_argument("--kernels", type=int, nargs="+", default=KERNELS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--evals-per-epoch", type=int, default=4)
    p.add_argument("--width", type=int, default=8, help="first-layer filters (paper: 96)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    args = p.parse_args(argv)
    if args.smoke:
        args.kernels, args.seeds, args.epochs, args.evals_per_epoch, args.limit_batches = (
            [3],
            [0],
            1,
            2,
            4,
        )
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
