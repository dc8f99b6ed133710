"""Experiment 5 (Dziedzic et al. 2019, Fig. 4): compression over training at constant energy.

Networks are trained with energy-based compression (``BandLimitCallback(mode="energy",
energy=E)``: at the end of every epoch each convolution moves to the smallest low-frequency band
holding ``E`` of the energy of its input spectrum, summed over the epoch; the first epoch runs
at full band). An ``EnergyCompressionMonitor`` logs, per layer and epoch, the physical
compression (fraction of the one-sided spectrum of the padded input that is discarded) of the
band used during that epoch to TensorBoard. This script reads those curves back from the
TensorBoard event files and plots them. The runs are those of experiment 3's energy points
(cached; trained if missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import _common

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


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for dataset in args.datasets:
        test_x, test_y = _common.load_test_set(dataset, limit=200 if args.smoke else None)
        specs = [
            _common.default_spec(
                dataset,
                args.smoke,
                args.seed,
                mode="energy",
                energy=e,
                epochs=args.epochs or (None if args.smoke else EPOCHS.get(dataset)),
            )
            for e in args.energies
        ]
        trained = _common.train_grid(specs, args.cache_dir, label=dataset)
        runs = {}
        for t in trained:
            curves = read_curves(t.info["log_dir"])
            if not curves:
                raise RuntimeError(f"no train_compression curves under {t.info['log_dir']}")
            accuracy = _common.evaluate(t.model, test_x, test_y)  # runs a forward first
            runs[f"{t.spec.energy:g}"] = {
                "energy": t.spec.energy,
                "epochs": len(next(iter(curves.values()))),
                "layer_compression": curves,
                "final_eval_compression": _common.mean_eval_compression(t.model),
                "test_accuracy": accuracy,
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
            for layer, values in run_["layer_compression"].items():
                ax.plot(
                    range(1, len(values) + 1),
                    [100 * v for v in values],
                    lw=1.4,
                    marker="o" if len(values) <= 20 else None,
                    ms=3,
                    drawstyle="steps-post",
                    label=layer.replace("network.", ""),
                )
            ax.set_title(
                f"{dataset}, E={100 * run_['energy']:g}% "
                f"(test acc {100 * run_['test_accuracy']:.1f}%)",
                fontsize=10,
            )
            ax.set_xlabel("epoch")
            if col == 0:
                ax.set_ylabel("physical compression (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, title="layer", title_fontsize=7)
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS, help="'mnist' and/or UCR names")
    p.add_argument("--energies", type=_common.float_list, default=ENERGIES)
    # One seed (not --seeds): the curves are one run's per-layer bands, which seeds would blur.
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument(
        "--epochs", type=int, default=None, help="epochs (default: GunPoint 60, mnist 10)"
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.datasets, args.energies, args.epochs = ["ItalyPowerDemand"], [0.9], 3
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
