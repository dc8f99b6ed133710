"""Experiment 2 (Rippel et al. 2015, Fig. 5): convergence with spectrally parametrized filters.

Rippel's generic (Eq. 6) or deep (Eq. 7) CNN, narrowed for a CPU, is trained from the *same*
initial network and batch order with ordinary (spatial) filters and after
``lightning_spectral.transforms.parametrize_spectral_`` (filters learned as their orthonormal
spectral coordinates, a rotation of the spatial ones). Each parametrization gets its own small
Adam learning-rate grid and its best rate (lowest best validation error, averaged over seeds) is
compared with the other's best: Rippel's measure per seed, the spatial run's best validation
error ``b`` reached at ``t_sp``, the spectral run's first time ``t_fr`` at or below ``b``, speedup
``t_sp / t_fr``. Plain SGD with momentum (in float64) is the control: a rotation leaves SGD's
trajectory unchanged, so the filters must agree to round-off and the speedup must be 1.
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
    model: torch.nn.Module,
    data: dict[str, torch.Tensor],
    args: Any,
    seed: int,
    optimizer: torch.optim.Optimizer,
) -> tuple[list[float], list[float]]:
    """Train with ``optimizer``; returns ``(epochs, validation errors)`` at each evaluation."""
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


def summary(values: list[float | None]) -> dict[str, Any]:
    """Mean, sample std, range and count of the reached speedups (``None``: not reached)."""
    reached = [v for v in values if v is not None]
    return {
        "per_seed": values,
        "mean": float(np.mean(reached)) if reached else None,
        "std": float(np.std(reached, ddof=1)) if len(reached) > 1 else None,
        "min": min(reached) if reached else None,
        "max": max(reached) if reached else None,
        "not_reached": len(values) - len(reached),
    }


def _optimizer(name: str, model: torch.nn.Module, lr: float, args: Any) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=args.sgd_momentum)


def _filters(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat(
        [m.weight.detach().flatten() for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    )


def run_config(arch: str, kernel: int, data: dict[str, torch.Tensor], args: Any) -> dict[str, Any]:
    """Every (optimizer, learning rate, parametrization, seed) run of one network."""
    from lightning_spectral import transforms

    grids = {"adam": list(args.adam_lrs), "sgd": list(args.sgd_lrs)}
    runs: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {}
    times: list[float] = []
    for opt, lrs in grids.items():
        for lr in lrs:
            for seed in args.seeds:
                _common.seed_everything(seed)
                dtype = getattr(torch, args.adam_dtype if opt == "adam" else args.sgd_dtype)
                initial = build(arch, kernel, args.width).to(dtype).state_dict()
                finals = {}
                for param in ("spatial", "spectral"):
                    started = time.perf_counter()
                    model = build(arch, kernel, args.width).to(dtype)
                    model.load_state_dict(initial)
                    if param == "spectral":
                        transforms.parametrize_spectral_(model)
                    inputs = {
                        k: v.to(dtype) if v.is_floating_point() else v for k, v in data.items()
                    }
                    times, errors = train_curve(
                        model, inputs, args, seed, _optimizer(opt, model, lr, args)
                    )
                    finals[param] = _filters(model)
                    runs.setdefault(opt, {}).setdefault(str(lr), {}).setdefault(param, []).append(
                        {"seed": seed, "error": errors, "best_error": min(errors)}
                    )
                    print(
                        f"[{arch} {kernel}x{kernel} {opt} lr={lr} {param} seed {seed}] "
                        f"best {min(errors):.4f} ({time.perf_counter() - started:.0f}s)",
                        flush=True,
                    )
                if opt == "sgd":
                    # The filters after training, spatial vs spectral: equal up to round-off
                    # (the rotation does not change SGD's steps).
                    difference = torch.linalg.vector_norm(finals["spatial"] - finals["spectral"])
                    relative = (difference / torch.linalg.vector_norm(finals["spatial"])).item()
                    runs[opt][str(lr)]["spatial"][-1]["relative_filter_difference"] = relative
    out: dict[str, Any] = {"architecture": arch, "kernel_size": kernel, "epochs": times}
    for opt, by_lr in runs.items():
        mean_best = {
            param: {lr: float(np.mean([r["best_error"] for r in by_lr[lr][param]])) for lr in by_lr}
            for param in ("spatial", "spectral")
        }
        # Best against best: each parametrization at its own best rate (ties: the smaller rate).
        chosen = {
            param: min(by_lr, key=lambda lr, p=param: (mean_best[p][lr], float(lr)))
            for param in mean_best
        }
        pairs = [
            speedup(times, a["error"], b["error"])
            for a, b in zip(
                by_lr[chosen["spatial"]]["spatial"],
                by_lr[chosen["spectral"]]["spectral"],
                strict=True,
            )
        ]
        same_rate = {
            lr: summary(
                [
                    speedup(times, a["error"], b["error"])["speedup"]
                    for a, b in zip(by_lr[lr]["spatial"], by_lr[lr]["spectral"], strict=True)
                ]
            )
            for lr in by_lr
        }
        out[opt] = {
            "runs": by_lr,
            "mean_best_error": mean_best,
            "chosen_lr": {p: float(lr) for p, lr in chosen.items()},
            "pairs": pairs,
            "speedup": summary([p["speedup"] for p in pairs]),
            "speedup_same_lr": same_rate,
        }
    return out


def run(args: Any) -> dict[str, Any]:
    dm = _common.make_datamodule("mnist", args.batch_size)
    data = {
        "train_x": dm.train_set.inputs,
        "train_y": dm.train_set.targets,
        "val_x": dm.val_set.inputs,
        "val_y": dm.val_set.targets,
    }
    return {
        f"{arch}_{kernel}x{kernel}": run_config(arch, kernel, data, args)
        for arch in args.architectures
        for kernel in args.kernels
    }


def _band(
    ax: Any, times: list[float], curves: list[list[float]], color: str, label: str, style: str
) -> None:
    values = 100 * np.array(curves)
    ax.plot(times, values.mean(0), style, color=color, lw=1.5, label=label)
    ax.fill_between(times, values.min(0), values.max(0), color=color, alpha=0.2, lw=0)


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    n = len(results)
    fig, axes = plt.subplots(n, 4, figsize=(15, 3.6 * n), squeeze=False)
    for row, (key, res) in zip(axes, results.items(), strict=True):
        times = res["epochs"]
        for ax, opt in ((row[0], "adam"), (row[2], "sgd")):
            chosen = res[opt]["chosen_lr"]
            # Dashed spectral curves: under SGD they lie exactly on the spatial ones.
            for param, color, style in (("spatial", "C3", "-"), ("spectral", "C0", "--")):
                lr = chosen[param]
                curves = [r["error"] for r in res[opt]["runs"][_lr_key(res[opt], lr)][param]]
                _band(ax, times, curves, color, f"{param}, lr {lr:g}", style)
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_ylabel("validation error (%)")
            name = "Adam, best rate each" if opt == "adam" else "SGD + momentum (control)"
            ax.set_title(f"{key.replace('_', ' ')}: {name}\nmean and range over seeds", fontsize=9)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        ax = row[1]
        for param, color in (("spatial", "C3"), ("spectral", "C0")):
            by_lr = res["adam"]["runs"]
            lrs = sorted(by_lr, key=float)
            best = np.array([[100 * r["best_error"] for r in by_lr[lr][param]] for lr in lrs])
            ax.errorbar(
                [float(lr) for lr in lrs],
                best.mean(1),
                yerr=[best.mean(1) - best.min(1), best.max(1) - best.mean(1)],
                fmt="o-",
                color=color,
                capsize=3,
                label=param,
            )
        ax.set_xscale("log")
        ax.set_xticks([float(lr) for lr in lrs], [f"{float(lr):g}" for lr in lrs])
        ax.minorticks_off()
        ax.set_xlabel("Adam learning rate")
        ax.set_ylabel("best validation error (%)")
        ax.set_title("learning-rate grid: mean and range", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        ax = row[3]
        groups = [("Adam\nbest/best", res["adam"]["speedup"])]
        groups += [
            (f"Adam\nlr {float(lr):g}", s)
            for lr, s in sorted(res["adam"]["speedup_same_lr"].items())
        ]
        groups.append(("SGD", res["sgd"]["speedup"]))
        for i, (_, stats) in enumerate(groups):
            values = [v for v in stats["per_seed"] if v is not None]
            ax.plot([i] * len(values), values, "o", color="C0", alpha=0.6)
            if stats["std"] is not None:
                ax.errorbar(
                    i + 0.15, stats["mean"], yerr=stats["std"], fmt="s", color="k", capsize=3
                )
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_xticks(range(len(groups)), [g for g, _ in groups], fontsize=7)
        ax.set_ylabel("speedup (t_sp / t_fr)")
        ax.set_title("per seed; mean $\\pm$ sample std", fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def _lr_key(block: dict[str, Any], lr: float) -> str:
    return next(k for k in block["runs"] if float(k) == lr)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--architectures", nargs="+", default=["deep"], choices=ARCHITECTURES)
    p.add_argument("--kernels", type=int, nargs="+", default=[3])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--evals-per-epoch", type=int, default=4)
    p.add_argument("--width", type=int, default=8, help="first-layer filters (paper: 96)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--adam-lrs", type=float, nargs="+", default=[3e-3, 1e-2, 3e-2])
    p.add_argument("--sgd-lrs", type=float, nargs="+", default=[0.1], help="SGD control")
    # The control in float64: float32 round-off can grow over a few hundred SGD steps near
    # the stability limit and would blur the identity of the two trajectories.
    p.add_argument("--adam-dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--sgd-dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--sgd-momentum", type=float, default=0.9)
    p.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    args = p.parse_args(argv)
    if args.smoke:
        args.kernels, args.seeds, args.epochs, args.evals_per_epoch, args.limit_batches = (
            [3],
            [0, 1],
            1,
            2,
            4,
        )
        args.adam_lrs, args.sgd_lrs = [1e-3, 3e-3], [0.1]
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
