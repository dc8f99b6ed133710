"""Experiment 6 (Dziedzic et al. 2019, Fig. 6): robustness to Gaussian input noise.

Models trained with fixed compression 0, 0.5 and 0.85 (the cached models of experiment 3,
trained if missing) classify test inputs perturbed by i.i.d. Gaussian noise of standard
deviation ``sigma`` from 0 to 2, added to the normalised inputs (MNIST pixels standardised with
the training mean/std; UCR series z-normalised), so ``sigma = 1`` is noise as strong as the
signal's standard deviation. Each model is tested at its own training compression. The same
noise draws are used for every model; the accuracy is averaged over ``--noise-draws`` draws.
Each compression is trained with ``--seeds`` (default 0, 1, 2); curves are the mean over seeds
with the sample standard deviation and range.
"""

from __future__ import annotations

from typing import Any

import _common
import numpy as np

NAME = "noise_robustness"
COMPRESSIONS = [0.0, 0.5, 0.85]
SIGMAS = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
DATASETS = ["mnist", "GunPoint"]


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for dataset in args.datasets:
        test_x, test_y = _common.load_test_set(dataset, limit=200 if args.smoke else None)
        specs = [
            _common.default_spec(dataset, args.smoke, seed, compression=c, epochs=args.epochs)
            for c in args.compressions
            for seed in args.seeds
        ]
        trained = _common.train_grid(specs, args.cache_dir, label=dataset)
        curves = {}
        for c in args.compressions:
            runs = [t for t in trained if t.spec.compression == c]
            table = np.array(
                [
                    [
                        np.mean(
                            [
                                _common.evaluate(
                                    t.model, test_x, test_y, noise_sigma=s, noise_seed=draw
                                )
                                for draw in range(args.noise_draws)
                            ]
                        )
                        for s in args.sigmas
                    ]
                    for t in runs
                ]
            )
            columns = [_common.spread(table[:, j]) for j in range(table.shape[1])]
            curves[f"{c:g}"] = {
                "compression": c,
                "accuracy_mean": [col["mean"] for col in columns],
                "accuracy_std_over_seeds": [col["std"] for col in columns],
                "accuracy_min": [col["min"] for col in columns],
                "accuracy_max": [col["max"] for col in columns],
                "accuracy_per_seed": table.tolist(),
            }
        results[dataset] = {
            "test_samples": int(test_y.numel()),
            "sigmas": list(args.sigmas),
            "curves": curves,
        }
    return results


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(4.8 * n, 3.8), squeeze=False)
    for ax, (dataset, res) in zip(axes[0], results.items(), strict=True):
        for curve in res["curves"].values():
            mean = 100 * np.array(curve["accuracy_mean"])
            ax.plot(
                res["sigmas"],
                mean,
                "o-",
                ms=3,
                label=f"trained & tested at {100 * curve['compression']:g}%",
            )
            if len(args.seeds) > 1:  # the range over seeds
                low, high = (100 * np.array(curve[k]) for k in ("accuracy_min", "accuracy_max"))
                ax.fill_between(res["sigmas"], low, high, alpha=0.2, lw=0)
        ax.set_xlabel(r"noise $\sigma$ (normalised input units)")
        ax.set_ylabel("test accuracy (%)")
        span = f", mean and range over {len(args.seeds)} seeds" if len(args.seeds) > 1 else ""
        ax.set_title(f"{dataset} (n_test={res['test_samples']}{span})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS, help="'mnist' and/or UCR names")
    p.add_argument("--compressions", type=_common.float_list, default=COMPRESSIONS)
    p.add_argument("--sigmas", type=_common.float_list, default=SIGMAS)
    p.add_argument("--noise-draws", type=int, default=3, help="noise draws averaged")
    p.add_argument("--seeds", type=int, nargs="+", default=_common.SEEDS, help="training seeds")
    p.add_argument("--epochs", type=int, default=None, help="override per-dataset epochs")
    args = p.parse_args(argv)
    if args.smoke:
        args.datasets, args.compressions, args.sigmas, args.noise_draws, args.seeds = (
            ["mnist", "ItalyPowerDemand"],
            [0.0, 0.5],
            [0.0, 1.0],
            1,
            [0, 1],
        )
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
