"""Figures and tables of the spectral layers for TensorBoard (private; matplotlib drawn lazily).

:class:`~lightning_spectral.callbacks.EnergyCompressionMonitor` draws, per band-limited layer,
its input and filter power spectra with the kept band's edge, and the retained-energy curve
from which energy-based compression picks its band (``docs/design.md``, energy mode). The math
comes from :mod:`lightning_spectral.functional` (:func:`~lightning_spectral.functional.band_chain`,
:func:`~lightning_spectral.functional.retained_energy`); this module only draws it.

matplotlib is an optional dependency (the ``data`` extra): it is imported when a figure is
drawn, never at package import. Figures are built with the object-oriented API on an Agg canvas,
without ``pyplot``, so no figure is kept in pyplot's registry and none needs closing; the
rendered pixels are returned as an ``(H, W, 3)`` ``uint8`` array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lightning_spectral.functional import Band, band_chain, retained_energy

__all__ = [
    "MISSING_MATPLOTLIB",
    "SUMMARY_COLUMNS",
    "EnergyCurve",
    "energy_curve",
    "energy_curve_image",
    "matplotlib_available",
    "spectrum_image",
    "summary_markdown",
    "summary_text",
]

MISSING_MATPLOTLIB = (
    "matplotlib is not installed: it draws the spectra and energy-curve images. Install it "
    "with `pip install matplotlib` (or the `data` extra, `pip install 'lightning-spectral[data]'`)"
)

_DPI = 100


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (imports it: call it once, at ``setup``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class EnergyCurve:
    """Retained energy along a layer's band chain, and the band the layer is at.

    Attributes:
        compressions: ``(L,)`` achieved compression of every band of the chain, decreasing
            (from DC alone to the full band).
        input_energy: ``(L,)`` fraction of the input's power each band retains, or ``None``
            without input statistics.
        filter_energy: ``(L,)`` fraction of the filters' power each band retains.
        operating_compression: achieved compression of the band in use.
        operating_energy: input (else filter) energy fraction that band retains: the point of
            the curve the layer is at.
        eval_compression: achieved compression of the eval band.
        target: the energy target of an energy-mode layer, else ``None``.
    """

    compressions: torch.Tensor
    input_energy: torch.Tensor | None
    filter_energy: torch.Tensor
    operating_compression: float
    operating_energy: float
    eval_compression: float
    target: float | None


def energy_curve(
    band: Band,
    filter_power: torch.Tensor,
    input_power: torch.Tensor | None = None,
    eval_band: Band | None = None,
    target: float | None = None,
) -> EnergyCurve:
    """Retained energy of every band of the chain of ``band.signal_shape``.

    One host read per call (the curves): call it at logging intervals only.

    Args:
        band: the band in use; its signal shape defines the chain.
        filter_power: the filters' power map, ``spectrum_shape(band.signal_shape)``.
        input_power: the input's accumulated power map of the same shape, or ``None``.
        eval_band: the eval band (``None``: the same as ``band``).
        target: energy target to draw (energy mode), or ``None``.

    Returns:
        The :class:`EnergyCurve`; its operating point is ``band`` on the input curve (the
        filter curve without input statistics).

    Example:
        >>> from lightning_spectral.functional import band_for
        >>> band = band_for((8,), 0.5)
        >>> curve = energy_curve(band, torch.ones(5), torch.tensor([4.0, 2, 1, 1, 0]))
        >>> [round(c, 3) for c in curve.compressions.tolist()]
        [0.8, 0.6, 0.4, 0.2, 0.0]
        >>> curve.input_energy.tolist()
        [0.5, 0.75, 0.875, 1.0, 1.0]
        >>> (curve.operating_compression, curve.operating_energy)
        (0.4, 0.875)
    """
    chain = band_chain(band.signal_shape)
    if band not in chain:
        raise ValueError(f"`band` {band!r} is not a band of the chain for {band.signal_shape}")
    compressions = torch.tensor([b.compression for b in chain], dtype=torch.float64)
    filters = retained_energy(filter_power, chain).detach().double().cpu()
    inputs = None
    if input_power is not None:
        inputs = retained_energy(input_power, chain).detach().double().cpu()
    index = chain.index(band)
    on_curve = filters if inputs is None else inputs
    return EnergyCurve(
        compressions=compressions,
        input_energy=inputs,
        filter_energy=filters,
        operating_compression=band.compression,
        operating_energy=float(on_curve[index]),
        eval_compression=(band if eval_band is None else eval_band).compression,
        target=target,
    )


def _new_figure(width: float, height: float) -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - exercised by hiding matplotlib
        raise ModuleNotFoundError(MISSING_MATPLOTLIB) from error
    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    return figure, FigureCanvasAgg(figure)


def _pixels(canvas: Any) -> np.ndarray:
    """Render an Agg canvas to an ``(H, W, 3)`` ``uint8`` array and free the figure."""
    canvas.draw()
    pixels = np.array(canvas.buffer_rgba())[..., :3]
    canvas.figure.clear()
    return pixels


def spectrum_image(power: torch.Tensor, band: Band, title: str) -> np.ndarray:
    """A power spectrum on a log colour scale with the kept band's edge drawn on it.

    2D maps are shown with the row frequency 0 in the middle (negative rows below) and the
    one-sided columns ``0 .. W // 2`` left to right, both in cycles per signal length; the band
    is the dashed rectangle. 1D spectra are drawn as a log-scale line with the kept
    frequencies shaded.

    Args:
        power: ``spectrum_shape(band.signal_shape)`` non-negative power map.
        band: the kept band.
        title: the figure's title.

    Returns:
        ``(H, W, 3)`` ``uint8`` RGB pixels.

    Raises:
        ModuleNotFoundError: if matplotlib is not installed.
    """
    figure, canvas = _new_figure(4.0, 3.4)
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    values = power.detach().double().cpu()
    peak = float(values.max())
    # Six decades below the peak: enough to see the fall-off, and zeros do not break the scale.
    floor = peak * 1e-6 if peak > 0 else 1e-12
    values = values.clamp_min(floor).numpy()
    ax = figure.add_subplot()
    if band.ndim == 1:
        frequencies = np.arange(values.shape[0])
        ax.semilogy(frequencies, values, color="C0", marker=".")
        ax.axvspan(-0.5, band.cols - 0.5, color="C1", alpha=0.2, label="kept band")
        ax.axvline(band.cols - 0.5, color="C1", linestyle="--", linewidth=1.5)
        ax.set_xlabel("frequency (cycles per signal)")
        ax.set_ylabel("power")
        ax.legend(loc="upper right", fontsize=7)
    else:
        height = band.signal_shape[0]
        shifted = np.fft.fftshift(values, axes=0)
        low = -(height // 2)
        extent = (-0.5, values.shape[1] - 0.5, low - 0.5, low + height - 0.5)
        shown = ax.imshow(
            shifted,
            origin="lower",
            extent=extent,
            aspect="auto",
            cmap="magma",
            norm=LogNorm(vmin=floor, vmax=max(peak, floor * 10)),
            interpolation="nearest",
        )
        figure.colorbar(shown, ax=ax, label="power (log scale)")
        ax.add_patch(
            Rectangle(
                (-0.5, -band.rows_bottom - 0.5),
                band.cols,
                band.rows_top + band.rows_bottom,
                fill=False,
                edgecolor="cyan",
                linestyle="--",
                linewidth=1.5,
            )
        )
        ax.set_xlabel("column frequency")
        ax.set_ylabel("row frequency")
    ax.set_title(f"{title}\nkept {band.num_kept}/{band.num_total}", fontsize=8)
    return _pixels(canvas)


def energy_curve_image(curve: EnergyCurve, title: str) -> np.ndarray:
    """The retained energy against compression, with the layer's operating point marked.

    Args:
        curve: from :func:`energy_curve`.
        title: the figure's title.

    Returns:
        ``(H, W, 3)`` ``uint8`` RGB pixels.

    Raises:
        ModuleNotFoundError: if matplotlib is not installed.
    """
    figure, canvas = _new_figure(4.6, 3.4)
    ax = figure.add_subplot()
    x = curve.compressions.numpy()
    if curve.input_energy is not None:
        ax.plot(x, curve.input_energy.numpy(), color="C0", marker=".", label="input")
    ax.plot(x, curve.filter_energy.numpy(), color="C2", linestyle="--", label="filters")
    if curve.target is not None:
        ax.axhline(curve.target, color="grey", linestyle=":", label=f"target {curve.target:g}")
    ax.axvline(curve.eval_compression, color="C4", linestyle=":", label="eval band")
    ax.plot(
        [curve.operating_compression],
        [curve.operating_energy],
        "o",
        color="C3",
        markersize=8,
        label=f"train band ({curve.operating_compression:.3f}, {curve.operating_energy:.3f})",
    )
    ax.set_xlim(-0.02, 1.0)
    ax.set_ylim(0.0, 1.03)
    ax.set_xlabel("achieved compression (share of coefficients dropped)")
    ax.set_ylabel("energy retained")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    ax.set_title(title, fontsize=8)
    return _pixels(canvas)


#: Columns of the layer summary: (header, key of a row dict).
SUMMARY_COLUMNS = (
    ("layer", "layer"),
    ("type", "type"),
    ("mode", "mode"),
    ("signal", "signal"),
    ("train compression", "train"),
    ("eval compression", "eval"),
    ("input energy kept", "input_energy"),
    ("filter energy kept", "filter_energy"),
)


def summary_markdown(rows: list[dict[str, str]]) -> str:
    """The layer summary as a Markdown table (TensorBoard's TEXT tab renders it).

    Example:
        >>> print(summary_markdown([{"layer": "conv", "train": "0.5"}]))
        | layer | type | mode | signal | train compression | eval compression | input energy kept | filter energy kept |
        |---|---|---|---|---|---|---|---|
        | conv | - | - | - | 0.5 | - | - | - |
    """  # noqa: E501
    lines = [
        "| " + " | ".join(header for header, _ in SUMMARY_COLUMNS) + " |",
        "|" + "---|" * len(SUMMARY_COLUMNS),
    ]
    for row in rows:
        lines.append("| " + " | ".join(row.get(key, "-") for _, key in SUMMARY_COLUMNS) + " |")
    return "\n".join(lines)


def summary_text(rows: list[dict[str, str]]) -> str:
    """The layer summary as a fixed-width table for the console.

    Example:
        >>> print(summary_text([{"layer": "conv", "train": "0.5"}]).splitlines()[2].split())
        ['conv', '-', '-', '-', '0.5', '-', '-', '-']
    """
    table = [[header for header, _ in SUMMARY_COLUMNS]]
    table += [[row.get(key, "-") for _, key in SUMMARY_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(SUMMARY_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
