"""Experiment 1 (Rippel et al. 2015, Fig. 4a): how much of an image survives pooling.

Natural photographs shipped with scikit-image and scikit-learn are pooled to fewer parameters
and brought back to full size; the relative l2 error ``||x - x_hat|| / ||x||`` is plotted
against the fraction of parameters kept.

* Spectral pooling to ``s x s`` (any ``s``) with
  :func:`lightning_spectral.functional.spectral_pool2d`, upsampled back by zero-padding the
  centred spectrum (sinc interpolation; an even size's folded Nyquist bin is split evenly
  between the two bins it came from). Pooling followed by this upsampling is a projection onto
  the low frequencies: by Parseval it is the best l2 approximation from ``s x s`` frequencies.
* Max and average pooling with a ``k x k`` window and stride ``k`` (only ``1 / k**2`` of the
  parameters can be kept), upsampled back by nearest-neighbour (each pooled value fills its
  window) and by bilinear interpolation; the plot shows the better of the two per point, i.e.
  the best these poolings achieve here. For average pooling with nearest upsampling this is the
  l2-optimal piecewise-constant approximation.

Each colour channel is a map; the error of an image is taken over all its channels.
"""

from __future__ import annotations

import time
from typing import Any

import _common
import numpy as np
import torch
import torch.nn.functional as F

from lightning_spectral.functional import spectral_pool2d

NAME = "information_preservation"
# Bundled natural photographs (skimage.data function names) + scikit-learn's two samples.
SKIMAGE_IMAGES = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "grass",
    "gravel",
    "brick",
)


def load_images(size: int, limit: int | None = None) -> dict[str, torch.Tensor]:
    """Central ``size x size`` crops of the bundled photographs, float64 in ``[0, 1]``.

    Returns:
        name -> ``(C, size, size)`` tensor (``C`` = 3 for colour, 1 for grey images).
    """
    import skimage.data
    from sklearn.datasets import load_sample_images

    raw: dict[str, np.ndarray] = {n: getattr(skimage.data, n)() for n in SKIMAGE_IMAGES}
    sample = load_sample_images()
    for filename, image in zip(sample.filenames, sample.images, strict=True):
        raw["sklearn_" + filename.rsplit("/", 1)[-1].split(".")[0]] = image
    images = {}
    for name, image in list(raw.items())[:limit]:
        array = image[..., None] if image.ndim == 2 else image
        h, w = array.shape[:2]
        if min(h, w) < size:
            raise ValueError(f"image {name} ({h}x{w}) is smaller than the crop {size}")
        top, left = (h - size) // 2, (w - size) // 2
        crop = array[top : top + size, left : left + size]
        images[name] = torch.from_numpy(crop.astype(np.float64) / 255.0).permute(2, 0, 1)
    return images


def _upsample_last_dim(y: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad the spectrum of a pooled real signal (last dim) back to ``size`` samples."""
    small = y.shape[-1]
    spectrum = torch.fft.rfft(y, dim=-1)
    if small % 2 == 0 and small < size:
        # The pooled Nyquist bin holds X[+n/2] + X[-n/2] (folded): give each half back.
        spectrum[..., -1] *= 0.5
    padded = spectrum.new_zeros(*spectrum.shape[:-1], size // 2 + 1)
    padded[..., : spectrum.shape[-1]] = spectrum
    return torch.fft.irfft(padded * (size / small), n=size, dim=-1)


def spectral_roundtrip(x: torch.Tensor, size: int) -> torch.Tensor:
    """Spectral pooling of ``(C, N, N)`` maps to ``size x size`` and back to ``N x N``."""
    n = x.shape[-1]
    y = spectral_pool2d(x, size)
    y = _upsample_last_dim(y, n)
    return _upsample_last_dim(y.transpose(-1, -2), n).transpose(-1, -2)


def window_roundtrip(x: torch.Tensor, stride: int, kind: str, upsample: str) -> torch.Tensor:
    """Max/average pooling with a ``stride x stride`` window, upsampled back to ``N x N``."""
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    y = pool(x.unsqueeze(0), stride, stride)
    if upsample == "nearest":
        return F.interpolate(y, scale_factor=stride, mode="nearest")[0]
    return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)[0]


def relative_error(x: torch.Tensor, approx: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(x - approx) / torch.linalg.vector_norm(x))


def run(args: Any) -> dict[str, Any]:
    images = load_images(args.size, limit=2 if args.smoke else None)
    n = args.size
    strides = [k for k in range(2, n + 1) if n % k == 0 and k <= args.max_stride]
    # Geometric grid, plus the sizes of the window poolings (same fraction kept).
    grid = {max(1, round(s)) for s in np.geomspace(1, n, args.points)}
    sizes = sorted(grid | {n} | {n // k for k in strides})

    spectral = {"output_size": sizes, "fraction_kept": [s * s / (n * n) for s in sizes]}
    per_image: dict[str, list[float]] = {}
    for name, x in images.items():
        per_image[name] = [relative_error(x, spectral_roundtrip(x, s)) for s in sizes]
    errors = np.array(list(per_image.values()))
    spectral.update(mean=errors.mean(0).tolist(), std=errors.std(0).tolist(), per_image=per_image)

    windowed: dict[str, Any] = {}
    for kind in ("max", "avg"):
        entry: dict[str, Any] = {"stride": strides, "fraction_kept": [1 / k**2 for k in strides]}
        for upsample in ("nearest", "bilinear"):
            table = np.array(
                [
                    [relative_error(x, window_roundtrip(x, k, kind, upsample)) for k in strides]
                    for x in images.values()
                ]
            )
            entry[upsample] = {"mean": table.mean(0).tolist(), "std": table.std(0).tolist()}
        entry["best_mean"] = np.minimum(
            entry["nearest"]["mean"], entry["bilinear"]["mean"]
        ).tolist()
        windowed[kind] = entry

    # Parameters spectral pooling needs to match max pooling's best (stride-2) error.
    best_max = min(windowed["max"]["best_mean"])
    matching = [
        f for f, e in zip(spectral["fraction_kept"], spectral["mean"], strict=True) if e <= best_max
    ]
    same_fraction = [
        {
            "stride": k,
            "fraction_kept": 1 / k**2,
            "spectral": spectral["mean"][sizes.index(n // k)],
            "max": windowed["max"]["best_mean"][i],
            "avg": windowed["avg"]["best_mean"][i],
        }
        for i, k in enumerate(strides)
    ]
    return {
        "images": {k: list(v.shape) for k, v in images.items()},
        "same_fraction": same_fraction,
        "crop": n,
        "spectral": spectral,
        "max": windowed["max"],
        "avg": windowed["avg"],
        "best_max_pool_error": best_max,
        "spectral_fraction_matching_best_max": min(matching) if matching else None,
    }


def plot(results: dict[str, Any], images: dict[str, torch.Tensor], args: Any) -> None:
    plt = _common.pyplot()
    fig, (ax, ax_img) = plt.subplots(1, 2, figsize=(12, 4.6), width_ratios=[1.25, 1])
    sp = results["spectral"]
    f = np.array(sp["fraction_kept"])
    mean, std = np.array(sp["mean"]), np.array(sp["std"])
    ax.plot(f, mean, color="C0", label="spectral pooling (any size)")
    ax.fill_between(f, mean - std, mean + std, color="C0", alpha=0.2, lw=0)
    for kind, color, label in (("max", "C3", "max pooling"), ("avg", "C2", "average pooling")):
        entry = results[kind]
        ax.plot(
            entry["fraction_kept"],
            entry["best_mean"],
            "o--",
            color=color,
            label=f"{label} (stride k, best of nearest/bilinear upsampling)",
        )
    ax.axhline(results["best_max_pool_error"], color="C3", lw=0.8, alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("fraction of parameters kept")
    ax.set_ylabel(r"relative $\ell_2$ error $\|x-\hat x\| / \|x\|$")
    ax.set_title(f"Information preservation, {len(images)} photographs ({results['crop']}px)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")

    # One photograph at 1/16 of the parameters (stride 4 vs 72x72 spectral for a 288 crop).
    name = "astronaut" if "astronaut" in images else next(iter(images))
    x = images[name]
    k = 4
    panels = [
        ("original", x),
        (f"spectral 1/{k * k}", spectral_roundtrip(x, x.shape[-1] // k)),
        (f"max pool 1/{k * k}", window_roundtrip(x, k, "max", "nearest")),
        (f"avg pool 1/{k * k}", window_roundtrip(x, k, "avg", "nearest")),
    ]
    grid = torch.cat(
        [
            torch.cat([p.clamp(0, 1) for _, p in panels[:2]], -1),
            torch.cat([p.clamp(0, 1) for _, p in panels[2:]], -1),
        ],
        -2,
    )
    image = grid.permute(1, 2, 0).squeeze(-1).numpy()
    ax_img.imshow(image, cmap="gray" if image.ndim == 2 else None)
    h = x.shape[-1]
    for i, (label, _) in enumerate(panels):
        ax_img.text(
            (i % 2) * h + 5,
            (i // 2) * h + 18,
            label,
            color="w",
            fontsize=9,
            bbox={"facecolor": "k", "alpha": 0.5, "lw": 0},
        )
    ax_img.set_axis_off()
    ax_img.set_title(f"{name}: 1/{k * k} of the parameters")
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _common.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=288, help="central crop size (pixels)")
    parser.add_argument("--points", type=int, default=60, help="spectral pooling sizes tried")
    parser.add_argument("--max-stride", type=int, default=32, help="largest max/avg stride")
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.points, args.max_stride = 48, 8, 8
    _common.prepare(args)
    started = time.perf_counter()
    results = run(args)
    plot(results, load_images(args.size, limit=2 if args.smoke else None), args)
    _common.write_json(args, NAME, results, started)
    print(
        f"best max-pool error {results['best_max_pool_error']:.4f}; spectral pooling reaches it "
        f"with {results['spectral_fraction_matching_best_max']} of the parameters"
    )
    return results


if __name__ == "__main__":
    main()
