"""Operator check (Dziedzic et al. 2019, Sec. 3.2): the package's transform size vs the paper's.

The package transforms a band-limited convolution at the padded input size ``Np`` (34 for a 32x32
map, a 3x3 filter and padding 1). The paper's code transforms at the full size
``Np + max(K - 1, G - 1)`` with ``G`` the output (gradient) size, 65 here, so that the input
spectrum can be reused against the output gradient. Both are exact at compression 0; at the same
compression they are different operators, because the band is a fraction of a spectrum about
twice as long per axis. The paper's operator is the package's option
``bandlimited_conv2d(..., transform_size="full")``; the script checks it against an explicit
construction (the input zero-extended on the bottom/right to the paper's size, the default
operator called with no further padding, the output cropped back) and records the largest
difference. For each compression the script records the relative l2 difference between the two
operators and of each from the exact ``F.conv2d``, on smooth maps (white noise blurred by a
Gaussian of ``--sigma`` pixels) and on white noise, over ``--seeds``; the spectrum sizes of
both; and the band-quantisation facts quoted on the concepts page.

Then it trains the classifiers of experiment 3 (``accuracy_vs_compression.py``: same settings,
same cache, so the default-size models are reused) with ``BandLimitCallback(...,
transform_size="full")`` at ``--train-compressions`` over ``--train-seeds`` and compares their
test accuracy with the default size's: does the choice of operator change what a user
measures?
"""

from __future__ import annotations

from typing import Any

import _common
import numpy as np
import torch
import torch.nn.functional as F

from lightning_spectral.functional import (
    band_chain,
    band_for,
    bandlimited_conv2d,
    conv_spec,
    transform_shape,
)

NAME = "operator_difference"
COMPRESSIONS = [0.0, 0.25, 0.5, 0.75, 0.9]


def smooth_maps(shape: tuple[int, ...], sigma: float, generator: torch.Generator) -> torch.Tensor:
    """White noise blurred by a Gaussian of ``sigma`` pixels (circularly), unit variance."""
    noise = torch.randn(shape, generator=generator, dtype=torch.float64)
    h, w = shape[-2:]
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    gain = torch.exp(-2 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))
    out = torch.fft.irfft2(torch.fft.rfft2(noise) * gain, s=(h, w))
    return out / out.std()


def zero_extended_conv(
    x: torch.Tensor, w: torch.Tensor, padding: int, compression: float
) -> torch.Tensor:
    """The paper's operator built by hand: zero-extend to ``Np + max(K - 1, G - 1)``, call the
    default (padded-size) operator without padding, crop the valid outputs."""
    k = w.shape[-1]
    padded = F.pad(x, (padding,) * 4)
    out = padded.shape[-1] - k + 1
    extra = max(k - 1, out - 1)
    extended = F.pad(padded, (0, extra, 0, extra))
    y = bandlimited_conv2d(extended, w, padding=0, compression=compression)
    return y[..., :out, :out]


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def run(args: Any) -> dict[str, Any]:
    size, k, pad = args.size, args.kernel, args.kernel // 2
    padded = size + 2 * pad
    (full,) = transform_shape(conv_spec(1, k, padding=pad, transform_size="full"), (padded,))
    largest_construction_difference = 0.0
    results: dict[str, Any] = {
        "map_size": size,
        "kernel_size": k,
        "padding": pad,
        "package_transform_size": padded,
        "paper_transform_size": full,
        "inputs": {},
    }
    for kind in ("smooth", "white_noise"):
        rows = []
        for c in args.compressions:
            per_seed = []
            for seed in args.seeds:
                generator = torch.Generator().manual_seed(seed)
                shape = (args.batch, args.channels, size, size)
                if kind == "smooth":
                    x = smooth_maps(shape, args.sigma, generator)
                else:
                    x = torch.randn(shape, generator=generator, dtype=torch.float64)
                w = torch.randn(args.filters, args.channels, k, k, generator=generator)
                w = w.double() / (k * args.channels**0.5)
                exact = F.conv2d(x, w, padding=pad)
                ours = bandlimited_conv2d(x, w, padding=pad, compression=c)
                paper = bandlimited_conv2d(x, w, padding=pad, compression=c, transform_size="full")
                largest_construction_difference = max(
                    largest_construction_difference,
                    _relative(paper, zero_extended_conv(x, w, pad, c)),
                )
                per_seed.append(
                    {
                        "seed": seed,
                        "package_vs_paper": _relative(ours, paper),
                        "package_vs_exact": _relative(ours, exact),
                        "paper_vs_exact": _relative(paper, exact),
                    }
                )
            package_band, paper_band = band_for((padded,) * 2, c), band_for((full,) * 2, c)
            row: dict[str, Any] = {
                "compression": c,
                "achieved_package": package_band.compression,
                "achieved_paper": paper_band.compression,
                "kept_coefficients_package": package_band.num_kept,
                "kept_coefficients_paper": paper_band.num_kept,
                "per_seed": per_seed,
            }
            for key in ("package_vs_paper", "package_vs_exact", "paper_vs_exact"):
                values = [r[key] for r in per_seed]
                row[key] = {"mean": float(np.mean(values)), "min": min(values), "max": max(values)}
            rows.append(row)
        results["inputs"][kind] = rows
    chain = sorted({round(b.compression, 6) for b in band_chain((padded, padded))})
    squares = sorted(
        {
            round(1 - (2 * n + 1) * (n + 1) / (padded * (padded // 2 + 1)), 6)
            for n in range(padded // 2)
        }
    )
    results["band_steps"] = {
        "signal_shape": [padded, padded],
        "package_levels": len(chain),
        "package_largest_step": float(np.max(np.diff(chain))),
        "square_band_levels": len(squares),
        "square_band_largest_step": float(np.max(np.abs(np.diff(squares)))),
    }
    # transform_size="full" is the hand-built zero extension (float64 round-off).
    results["option_vs_zero_extension_max"] = largest_construction_difference
    results["one_sided_coefficients"] = {
        "package": band_for((padded,) * 2, 0.0).num_total,
        "paper": band_for((full,) * 2, 0.0).num_total,
    }
    results["training"] = {dataset: _train_both(args, dataset) for dataset in args.train_datasets}
    results["closest_compression_example"] = {
        "signal_shape": [10, 10],
        "requested": 0.8,
        "achieved": band_for((10, 10), 0.8).compression,
    }
    return results


def _train_both(args: Any, dataset: str) -> dict[str, Any]:
    """Test accuracy of the same classifiers trained at the padded and at the full size."""
    test_x, test_y = _common.load_test_set(dataset, limit=200 if args.smoke else None)
    rows = []
    for c in args.train_compressions:
        row: dict[str, Any] = {"compression": c}
        for size in ("padded", "full"):
            specs = [
                _common.default_spec(dataset, args.smoke, seed, compression=c, transform_size=size)
                for seed in args.train_seeds
            ]
            trained = _common.train_grid(specs, args.cache_dir, label=f"{dataset} {size}")
            accuracies = [_common.evaluate(t.model, test_x, test_y) for t in trained]
            row[size] = {
                "accuracy": _common.spread(accuracies),
                "accuracy_per_seed": accuracies,
                "achieved_compression": _common.mean_eval_compression(trained[0].model),
                "train_time_s": _common.spread([t.info["train_time_s"] for t in trained]),
            }
        row["full_minus_padded"] = _common.spread(
            [
                f - p
                for f, p in zip(
                    row["full"]["accuracy_per_seed"],
                    row["padded"]["accuracy_per_seed"],
                    strict=True,
                )
            ]
        )
        rows.append(row)
    return {"test_samples": int(test_y.numel()), "seeds": list(args.train_seeds), "rows": rows}


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    training = results["training"]
    panels = 2 + len(training)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8), squeeze=False)
    for ax, (dataset, block) in zip(axes[0][2:], training.items(), strict=True):
        for offset, (size, color) in enumerate((("padded", "C0"), ("full", "C3"))):
            cs = [100 * r["compression"] + (offset - 0.5) for r in block["rows"]]
            mean = [100 * r[size]["accuracy"]["mean"] for r in block["rows"]]
            low = [
                m - 100 * r[size]["accuracy"]["min"]
                for m, r in zip(mean, block["rows"], strict=True)
            ]
            high = [
                100 * r[size]["accuracy"]["max"] - m
                for m, r in zip(mean, block["rows"], strict=True)
            ]
            ax.errorbar(cs, mean, yerr=[low, high], fmt="o-", color=color, capsize=3, label=size)
        ax.set_xlabel("requested train (= test) compression (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(
            f"{dataset}: trained at each size, mean and range over {len(block['seeds'])} seeds",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="transform_size", title_fontsize=7)
    for ax, (kind, rows) in zip(axes[0][:2], results["inputs"].items(), strict=True):
        cs = [r["compression"] for r in rows]
        for key, color, label in (
            ("package_vs_paper", "k", "package vs paper size"),
            ("package_vs_exact", "C0", f"package ({results['package_transform_size']}) vs exact"),
            ("paper_vs_exact", "C3", f"paper size ({results['paper_transform_size']}) vs exact"),
        ):
            mean = np.array([100 * r[key]["mean"] for r in rows])
            low = np.array([100 * r[key]["min"] for r in rows])
            high = np.array([100 * r[key]["max"] for r in rows])
            ax.errorbar(
                cs,
                mean,
                yerr=[mean - low, high - mean],
                fmt="o-",
                color=color,
                capsize=3,
                label=label,
            )
        ax.set_xlabel("requested compression")
        ax.set_ylabel("relative l2 difference (%)")
        ax.set_title(
            f"{kind.replace('_', ' ')} {results['map_size']}x{results['map_size']}, "
            f"{results['kernel_size']}x{results['kernel_size']} filters",
            fontsize=10,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--compressions", type=_common.float_list, default=COMPRESSIONS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--size", type=int, default=32, help="map size (square, as in the paper)")
    p.add_argument("--kernel", type=int, default=3, help="filter size (odd; padding k // 2)")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--filters", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--sigma", type=float, default=2.0, help="blur of the smooth maps (pixels)")
    p.add_argument(
        "--train-datasets", nargs="+", default=["mnist", "GunPoint"], help="'mnist'/UCR names"
    )
    p.add_argument("--train-compressions", type=_common.float_list, default=[0.5, 0.7, 0.85])
    p.add_argument("--train-seeds", type=int, nargs="+", default=_common.SEEDS)
    args = p.parse_args(argv)
    if args.smoke:
        args.compressions, args.seeds, args.batch, args.size = [0.0, 0.5], [0], 2, 12
        args.train_datasets, args.train_compressions, args.train_seeds = ["mnist"], [0.5], [0]
    return _common.execute(args, NAME, run, plot)


if __name__ == "__main__":
    main()
