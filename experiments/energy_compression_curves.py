"""Experiment 5 (Dziedzic et al. 2019, Fig. 4): compression over training at constant energy.

Networks are trained with energy-based compression (``BandLimitCallback(mode="energy",
energy=E)``: at the end of every epoch each convolution moves to the smallest low-frequency band
holding ``E`` of the energy of its input spectrum, summed over the epoch; the first epoch runs
at full band). An ``EnergyCompressionMonitor`` logs, per layer and epoch, the physical
compression (fraction of the one-sided spectrum of the padded input that is discarded) of the
band used during that epoch to TensorBoard. This script reads those curves back from the
TensorBoard event files and plots them. The runs are those of experiment 3's energy points
(cached; trained if missing). Every energy is trained with ``--seeds`` (default 0, 1, 2): the
JSON keeps each seed's curves and, per layer and epoch, their mean and range; ``settled_epoch``
is the first epoch from which a run's bands no longer change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import _common
import numpy as np

NAME = "energy_compression_curves"
ENERGIES = [0.8, 0.9, 0.95]
DATASETS = ["GunPoint", "mnist"]
# Longer than experiment 3's 3 MNIST epochs, to see the curves move (GunPoint: its 60 epochs).
EPOCHS = {"mnist": 10}
_SUFFIX = "/train_compression"


def read_curves(log_dir: str | Path) -> dict[str, list[float]]:
    """Per-layer ``spectral/<layer>/train_compression`` curves from a TensorBoard folder.

    Args:
        log_dir: The ``TensorBoardLogger.log_dir`` of the run.

    Returns:
        layer name -> one value per logged epoch, in step order.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    curves = {}
    for tag in events.Tags()["scalars"]:
        if tag.startswith("spectral/") and tag.endswith(_SUFFIX) and "/mean_" not in tag:
            layer = tag[len("spectral/") : -len(_SUFFIX)]
            curves[layer] = [e.value for e in sorted(events.Scalars(tag), key=lambda e: e.step)]
    return curves


def settled_epoch(curves: dict[str, list[float]]) -> int:
    """First epoch (1-based) from which no layer's compression changes again."""
    epochs = len(next(iter(curves.values())))
    last_change = max(
        (i for values in curves.values() for i in range(1, epochs) if values[i] != values[i - 1]),
        default=0,
    )
    return last_change + 1


def _per_layer(per_seed: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Per layer and epoch: mean, min and max over seeds of the compression."""
    out = {}
    for layer in per_seed[0]:
        table = np.array([curves[layer] for curves in per_seed])
        out[layer] = {
            "mean": table.mean(0).tolist(),
            "min": table.min(0).tolist(),
            "max": table.max(0).tolist(),
            "epoch_2": _common.spread(table[:, 1]) if table.shape[1] > 1 else None,
            "final": _common.spread(table[:, -1]),
        }
    return out


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for dataset in args.datasets:
        test_x, test_y = _common.load_test_set(dataset, limit=200 if args.smoke else None)
        specs = [
            _common.default_spec(
                dataset,
                args.smoke,
                seed,
                mode="energy",
                energy=e,
                epochs=args.epochs or (None if args.smoke else EPOCHS.get(dataset)),
            )
            for e in args.energies
            for seed in args.seeds
        ]
        trained = _common.train_grid(specs, args.cache_dir, label=dataset)
        runs = {}
        for e in args.energies:
            seeds = {}
            for t in (t for t in trained if t.spec.energy == e):
                curves = read_curves(t.info["log_dir"])
                if not curves:
                    raise RuntimeError(f"no train_compression curves under {t.info['log_dir']}")
                accuracy = _common.evaluate(t.model, test_x, test_y)  # runs a forward first
                seeds[str(t.spec.seed)] = {
                    "layer_compression": curves,
                    "settled_epoch": settled_epoch(curves),
                    "final_eval_compression": _common.mean_eval_compression(t.model),
                    "test_accuracy": accuracy,
                }
            per_seed = [run_["layer_compression"] for run_ in seeds.values()]
            runs[f"{e:g}"] = {
                "energy": e,
                "epochs": len(next(iter(per_seed[0].values()))),
                "seeds": seeds,
                "layers": _per_layer(per_seed),
                "settled_epoch": _common.spread([r["settled_epoch"] for r in seeds.values()]),
                "final_eval_compression": _common.spread(
                    [r["final_eval_compression"] for r in seeds.values()]
                ),
                "test_accuracy": _common.spread([r["test_accuracy"] for r in seeds.values()]),
            }
        results[dataset] = {"test_samples": int(test_y.numel()), "runs": runs}
    return results


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    rows = len(results)
    cols = max(len(r["runs"]) for r in results.values())
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.3 * cols, 3.5 * rows), squeeze=False, sharey=True
    )
    for row, (dataset, res) in enumerate(results.items()):
        for col, run_ in enumerate(res["runs"].values()):
            ax = axes[row][col]
            for i, (layer, stats) in enumerate(run_["layers"].items()):
                epochs = range(1, len(stats["mean"]) + 1)
                color = f"C{i}"
                ax.plot(
                    epochs,
                    [100 * v for v in stats["mean"]],
                    lw=1.4,
                    color=color,
                    marker="o" if len(stats["mean"]) <= 20 else None,
                    ms=3,
                    drawstyle="steps-post",
                    label=layer.replace("network.", ""),
                )
                if len(run_["seeds"]) > 1:  # the range over seeds
                    ax.fill_between(
                        epochs,
                        [100 * v for v in stats["min"]],
                        [100 * v for v in stats["max"]],
                        step="post",
                        color=color,
                        alpha=0.15,
                        lw=0,
                    )
            accuracy = run_["test_accuracy"]
            spread = "" if accuracy["std"] is None else f" ± {100 * accuracy['std']:.1f}"
            ax.set_title(
                f"{dataset}, E={100 * run_['energy']:g}% "
                f"(test acc {100 * accuracy['mean']:.1f}{spread}%)",
                fontsize=10,
            )
            ax.set_xlabel("epoch")
            if col == 0:
                ax.set_ylabel("physical compression (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, title="layer", title_fontsize=7)
    seeds = len(next(iter(next(iter(results.values()))["runs"].values()))["seeds"])
    if seeds > 1:
        fig.suptitle(f"mean over {seeds} seeds, shaded: range", fontsize=10)
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS, help="'mnist' and/or UCR names")
    p.add_argument("--energies", type=_common.float_list, default=ENERGIES)
    p.add_argument("--seeds", type=int, nargs="+", default=_common.SEEDS, help="training seeds")
    p.add_argument(
        "--epochs", type=int, default=None, help="epochs (default: GunPoint 60, mnist 10)"
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.datasets, args.energies, args.epochs, args.seeds = (
            ["ItalyPowerDemand"],
            [0.9],
            3,
            [0, 1],
        )
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
