"""Regenerate the figure of docs/concepts.md from the package's own functions.

Run: ``python docs/figures/make_figures.py`` (needs the ``data`` extra: matplotlib, scikit-image).
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from skimage import data

from lightning_spectral.functional import band_for, spectral_pool2d

OUT = Path(__file__).resolve().parent / "concepts.png"


def main() -> None:
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.2))
    for ax, compression in zip(axes[0], (0.0, 0.25, 0.5, 0.85), strict=True):
        band = band_for((32, 32), compression)
        ax.imshow(band.mask().numpy(), cmap="Blues", vmin=0, vmax=1.3, aspect="auto")
        ax.set_title(f"requested {compression:.2f}\nachieved {band.compression:.3f}")
        ax.set_xlabel("column frequency (one-sided)")
        ax.set_ylabel("row index (DC top, negative bottom)")
    photo = torch.tensor(data.camera(), dtype=torch.float32)[None, None] / 255.0
    size = 32
    spectral = spectral_pool2d(photo, size)
    maxpooled = F.adaptive_max_pool2d(photo, size)
    panels = [
        (photo, "original 512x512"),
        (spectral, f"spectral pooling to {size}x{size}"),
        (maxpooled, f"max pooling to {size}x{size}"),
    ]
    for ax, (image, title) in zip(axes[1][:3], panels, strict=True):
        ax.imshow(image[0, 0].numpy(), cmap="gray")
        ax.set_title(title)
        ax.axis("off")
    axes[1][3].axis("off")
    axes[1][3].text(
        0.0,
        0.5,
        "Top: kept one-sided coefficients of a\n32x32 map (blue) for several compressions.\n"
        "Bottom: the same parameter budget\nspent by spectral and by max pooling.",
        fontsize=10,
        va="center",
    )
    fig.tight_layout()
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
