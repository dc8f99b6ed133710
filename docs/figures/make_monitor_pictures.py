"""Put the pictures EnergyCompressionMonitor wrote for one layer side by side, from a run's events.

This makes the getting-started page's figure from the main example::

    lightning-spectral fit --config examples/configs/mnist_bandlimited.yaml
    python docs/figures/make_monitor_pictures.py lightning_logs/version_0 --layer network.features.0

It reads the last ``spectral/<layer>/input_power``, ``filter_power_map`` and ``energy_curve``
images of the event file (what TensorBoard's IMAGES tab shows at the last step) and writes them,
unchanged, next to each other into one PNG. Needs Pillow (installed with matplotlib, the ``data``
extra) and tensorboard (a dependency of the package).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

__all__ = ["PICTURES", "main", "read_pictures", "write_pictures"]

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "tensorboard_pictures.png"

#: The per-layer images of the monitor, left to right.
PICTURES = ("input_power", "filter_power_map", "energy_curve")


def read_pictures(run: Path, layer: str) -> tuple[int, list[np.ndarray]]:
    """The last step's pictures of ``layer`` in ``run``: ``(step, [(H, W, 3) uint8, ...])``.

    Raises:
        FileNotFoundError: if ``run`` holds no event file.
        ValueError: if the run has no pictures of ``layer`` (the message lists the layers).
    """
    if not any(run.glob("events.out.tfevents.*")):
        raise FileNotFoundError(f"no TensorBoard event file in {run}")
    events = EventAccumulator(str(run), size_guidance={"images": 0})
    events.Reload()
    logged = set(events.Tags()["images"])
    missing = [name for name in PICTURES if f"spectral/{layer}/{name}" not in logged]
    if missing:
        layers = sorted({tag.split("/")[1] for tag in logged if tag.startswith("spectral/")})
        raise ValueError(
            f"{run} has no spectral/{layer}/{{{', '.join(missing)}}} images; layers with "
            f"pictures: {layers or 'none (was log_spectra_every_n_epochs set?)'}"
        )
    step = min(events.Images(f"spectral/{layer}/{name}")[-1].step for name in PICTURES)
    pictures = []
    for name in PICTURES:
        (event,) = [e for e in events.Images(f"spectral/{layer}/{name}") if e.step == step]
        image = Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB")
        pictures.append(np.asarray(image))
    return step, pictures


def write_pictures(run: Path, layer: str, output: Path) -> Path:
    """Write ``layer``'s last pictures of ``run`` side by side into the PNG ``output``."""
    _, pictures = read_pictures(run, layer)
    height = max(picture.shape[0] for picture in pictures)
    # Pad to one height with white, as the figures' own background.
    padded = [
        np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in pictures
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(padded, axis=1)).save(output, optimize=True)
    return output


def main(argv: list[str] | None = None) -> None:
    """Command line: ``make_monitor_pictures.py RUN [--layer NAME] [--output PNG]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder with the event file")
    parser.add_argument(
        "--layer", default="network.features.0", help="layer name (default: %(default)s)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="PNG to write")
    args = parser.parse_args(argv)
    print(f"wrote {write_pictures(args.run, args.layer, args.output)}")


if __name__ == "__main__":
    main()
