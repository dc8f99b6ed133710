"""Plot the per-layer compression and energy curves of a run from its TensorBoard event files.

This makes the README's figure from the main example::

    lightning-spectral fit --config examples/configs/mnist_bandlimited.yaml
    python docs/figures/make_tensorboard_plot.py lightning_logs/version_0

It reads the scalars that :class:`lightning_spectral.EnergyCompressionMonitor` logs
(``spectral/<layer>/train_compression``, ``eval_compression``, ``input_energy`` and
``filter_energy``) plus ``val_acc`` when present, and draws them against the training step, as
TensorBoard shows them, one colour per layer (train and eval compression share a panel). Needs
matplotlib (the ``data`` extra) and tensorboard (a dependency of the package).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

__all__ = ["PANELS", "latest_run", "main", "plot_run", "read_scalars"]

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "tensorboard_curves.png"

#: Panels: (title, y-axis label, [(per-layer quantity logged by the monitor, line style)]).
PANELS = (
    (
        "achieved compression: train (solid), eval (dashed)",
        "fraction of coefficients discarded",
        [("train_compression", "-"), ("eval_compression", "--")],
    ),
    ("input energy kept in the band", "fraction of input energy", [("input_energy", "-")]),
    ("filter energy kept in the band", "fraction of filter energy", [("filter_energy", "-")]),
)
_LAYER_TAG = re.compile(r"^spectral/(?P<layer>.+)/(?P<quantity>[a-z_]+)$")


def latest_run(root: Path) -> Path:
    """The most recent ``version_<n>`` folder under a ``lightning_logs`` root.

    Raises:
        FileNotFoundError: if ``root`` holds no ``version_<n>`` folder.
    """
    versions = [p for p in root.glob("version_*") if p.name.split("_")[-1].isdigit()]
    if not versions:
        raise FileNotFoundError(f"no version_<n> folder under {root}")
    return max(versions, key=lambda p: int(p.name.split("_")[-1]))


def read_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """All scalar series of a run folder: tag -> ``[(step, value), ...]`` sorted by step.

    Raises:
        FileNotFoundError: if the folder holds no event file.
    """
    if not any(run.glob("events.out.tfevents.*")):
        raise FileNotFoundError(f"no TensorBoard event file in {run}")
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    return {
        tag: sorted((event.step, event.value) for event in events.Scalars(tag))
        for tag in events.Tags()["scalars"]
    }


def plot_run(run: Path, output: Path) -> Path:
    """Draw the monitor's curves of ``run`` into the PNG ``output`` and return its path.

    Raises:
        ValueError: if the run has no ``spectral/<layer>/<quantity>`` scalars (no monitor).
    """
    scalars = read_scalars(run)
    per_layer: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for tag, series in scalars.items():
        match = _LAYER_TAG.match(tag)
        if match:
            per_layer.setdefault(match["quantity"], {})[match["layer"]] = series
    panels = [panel for panel in PANELS if any(q in per_layer for q, _ in panel[2])]
    if not panels:
        raise ValueError(
            f"{run} has no spectral/<layer>/<quantity> scalars: was EnergyCompressionMonitor "
            "among the callbacks?"
        )
    accuracy = scalars.get("val_acc")
    count = len(panels) + (accuracy is not None)
    columns = 2 if count == 4 else min(count, 3)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.0 * columns, 3.4 * rows), squeeze=False)
    flat = list(axes.flat)
    layers = sorted({layer for series in per_layer.values() for layer in series})
    colours = {layer: f"C{i % 10}" for i, layer in enumerate(layers)}
    for ax, (title, label, quantities) in zip(flat, panels, strict=False):
        for quantity, style in quantities:
            for layer, series in sorted(per_layer.get(quantity, {}).items()):
                steps, values = zip(*series, strict=True)
                ax.plot(steps, values, style, marker="o", color=colours[layer])
        names = ", ".join(quantity for quantity, _ in quantities)
        names = f"{{{names}}}" if len(quantities) > 1 else names
        ax.set_title(f"{title}\nspectral/<layer>/{names}", fontsize=9)
        ax.set_ylabel(label, fontsize=8)
        ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
    if accuracy is not None:
        ax = flat[len(panels)]
        steps, values = zip(*accuracy, strict=True)
        ax.plot(steps, values, marker="o", color="black")
        ax.set_title("validation accuracy\nval_acc", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in flat[:count]:
        ax.set_xlabel("training step", fontsize=8)
    for ax in flat[count:]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colours[layer], marker="o") for layer in layers]
    fig.legend(handles, layers, loc="lower center", ncol=len(layers), fontsize=8, frameon=False)
    fig.suptitle(f"EnergyCompressionMonitor curves of {run}", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=90)
    plt.close(fig)
    return output


def main(argv: list[str] | None = None) -> None:
    """Command line: ``make_tensorboard_plot.py [RUN] [--output PNG]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run",
        nargs="?",
        type=Path,
        default=None,
        help="run folder with the event files (default: the latest lightning_logs/version_<n>)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="PNG to write")
    args = parser.parse_args(argv)
    run = args.run if args.run is not None else latest_run(Path("lightning_logs"))
    print(f"wrote {plot_run(run, args.output)}")


if __name__ == "__main__":
    main()
