"""Experiment 4 (Dziedzic et al. 2019, Fig. 5): train compression vs inference compression.

Models trained with fixed compression ``c_train`` (the cached models of experiment 3, trained
if missing) are tested at every eval compression ``c_eval``: one trained checkpoint, its
band-limited layers switched to another eval compression with
``lightning_spectral.transforms.set_compression_`` (no retraining). The paper's claim: each
model is most accurate at (or near) its own training compression and degrades smoothly away
from it (the "diagonal effect"). Each train compression is trained with ``--seeds`` (default
0, 1, 2); the matrix holds the mean over seeds, ``accuracy_std`` the sample standard deviation,
and the summary counts the seeds whose best eval compression is their own training one.
"""

from __future__ import annotations

from typing import Any

import _common
import numpy as np

NAME = "train_vs_inference_compression"
TRAIN = [0.0, 0.3, 0.5, 0.7, 0.85]
EVAL = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
DATASETS = ["mnist", "GunPoint"]


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for dataset in args.datasets:
        test_x, test_y = _common.load_test_set(dataset, limit=200 if args.smoke else None)
        specs = [
            _common.default_spec(dataset, args.smoke, seed, compression=c, epochs=args.epochs)
            for c in args.train
            for seed in args.seeds
        ]
        trained = _common.train_grid(specs, args.cache_dir, label=dataset)
        # per_seed[i][s][j]: train compression i, seed s, eval compression j.
        per_seed = [
            [
                [_common.evaluate(t.model, test_x, test_y, eval_compression=c) for c in args.eval]
                for t in trained
                if t.spec.compression == c_train
            ]
            for c_train in args.train
        ]
        matrix = [np.mean(rows, axis=0).tolist() for rows in per_seed]
        spread = [
            np.std(rows, axis=0, ddof=1).tolist() if len(rows) > 1 else [None] * len(args.eval)
            for rows in per_seed
        ]
        summary = []
        for c_train, row, std, rows in zip(args.train, matrix, spread, per_seed, strict=True):
            best = int(np.argmax(row))
            own = args.eval.index(c_train) if c_train in args.eval else None
            entry: dict[str, Any] = {
                "train_compression": c_train,
                "best_eval_compression": args.eval[best],
                "best_accuracy": row[best],
                "accuracy_at_train_compression": None if own is None else row[own],
                "gap_to_best": None if own is None else row[best] - row[own],
                "seeds_best_at_train_compression": None,
                "gap_within_spread": None,
            }
            if own is not None:
                # A seed "peaks on the diagonal" if no eval compression beats its own (ties too).
                entry["seeds_best_at_train_compression"] = sum(r[own] >= max(r) for r in rows)
                if std[own] is not None:
                    entry["gap_within_spread"] = bool(
                        entry["gap_to_best"] <= max(std[own], std[best])
                    )
            summary.append(entry)
        results[dataset] = {
            "test_samples": int(test_y.numel()),
            "train_compressions": list(args.train),
            "eval_compressions": list(args.eval),
            "accuracy": matrix,
            "accuracy_std": spread,
            "accuracy_per_seed": per_seed,
            "seeds": list(args.seeds),
            "summary": summary,
        }
    return results


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(5.2 * n, 8.2), squeeze=False)
    for col, (dataset, res) in enumerate(results.items()):
        acc = 100 * np.array(res["accuracy"])
        std = 100 * np.array(res["accuracy_std"], dtype=float)  # nan with one seed
        ev, tr = res["eval_compressions"], res["train_compressions"]
        ax = axes[0][col]
        for i, c_train in enumerate(tr):
            (line,) = ax.plot(
                [100 * c for c in ev], acc[i], "o-", ms=3, label=f"trained at {100 * c_train:g}%"
            )
            if np.isfinite(std[i]).all():
                ax.fill_between(
                    [100 * c for c in ev],
                    acc[i] - std[i],
                    acc[i] + std[i],
                    color=line.get_color(),
                    alpha=0.12,
                    lw=0,
                )
            if c_train in ev:
                j = ev.index(c_train)
                ax.plot(
                    100 * c_train,
                    acc[i, j],
                    "*",
                    ms=13,
                    color=line.get_color(),
                    markeredgecolor="k",
                )
        ax.set_xlabel("inference (eval) compression (%)")
        ax.set_ylabel("test accuracy (%)")
        seeds = len(res["seeds"])
        ax.set_title(
            f"{dataset}: star = eval at the train compression\n"
            f"mean over {seeds} seed(s)" + (" ± std (band)" if seeds > 1 else ""),
            fontsize=10,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax = axes[1][col]
        image = ax.imshow(acc, aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(ev)), [f"{100 * c:g}" for c in ev], fontsize=8)
        ax.set_yticks(range(len(tr)), [f"{100 * c:g}" for c in tr], fontsize=8)
        for i in range(len(tr)):
            for j in range(len(ev)):
                ax.text(
                    j,
                    i,
                    f"{acc[i, j]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="w" if acc[i, j] < acc.max() - 0.5 * np.ptp(acc) else "k",
                    fontweight="bold" if tr[i] == ev[j] else "normal",
                )
        ax.set_xlabel("eval compression (%)")
        ax.set_ylabel("train compression (%)")
        fig.colorbar(image, ax=ax, label="mean test accuracy (%)")
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=DATASETS, help="'mnist' and/or UCR names")
    p.add_argument("--train", type=_common.float_list, default=TRAIN, help="train compressions")
    p.add_argument("--eval", type=_common.float_list, default=EVAL, help="eval compressions")
    p.add_argument("--seeds", type=int, nargs="+", default=_common.SEEDS, help="training seeds")
    p.add_argument("--epochs", type=int, default=None, help="override per-dataset epochs")
    args = p.parse_args(argv)
    if args.smoke:
        args.datasets, args.train, args.eval, args.seeds = (
            ["mnist", "ItalyPowerDemand"],
            [0.0, 0.5],
            [0.0, 0.5, 0.9],
            [0, 1],
        )
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
