"""Evaluate one trained checkpoint at several inference compressions (Dziedzic et al., Sec. 4.2).

A band-limited network is trained at one compression and can be *evaluated* at another: each
band-limited layer keeps an eval compression next to its train compression. Sweeping the eval
compression of a single checkpoint shows the accuracy/compression trade-off of that model
without retraining (the band-limited paper's Sec. 4.2 experiment)::

    from lightning_spectral.sweep import compression_sweep

    rows = compression_sweep(
        pl.Trainer(logger=TensorBoardLogger("lightning_logs")),
        MyModel,  # class: rebuilt with lightning_spectral.load_from_checkpoint
        "best.ckpt",
        compressions=[0.0, 0.25, 0.5, 0.75],
        datamodule=dm,
    )

and from the shell ``lightning-spectral sweep --config <config.yaml> --ckpt_path best.ckpt
--compressions "[0, 0.25, 0.5, 0.75]"`` (see :mod:`lightning_spectral.cli`).

For every compression, the eval compression of *all* band-limited layers is set with
:func:`lightning_spectral.transforms.set_compression_` and the trainer's test (or validation)
loop runs once; the resulting metrics, the requested and the achieved compression (band
quantisation makes them differ) form one row. The rows are printed as a table, written as
``compression_sweep.json`` and ``compression_sweep.csv`` and logged to the trainer's loggers as
``sweep/<metric>`` at ``step = round(100 * compression)``, so that TensorBoard's x axis reads as
the compression in percent.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from typing_extensions import override

from lightning_spectral import transforms
from lightning_spectral._lightning_compat import Logger, classes, pl
from lightning_spectral.checkpoint import load_from_checkpoint, restore_
from lightning_spectral.functional import check_compression

__all__ = [
    "SWEEP_CSV",
    "SWEEP_JSON",
    "SweepError",
    "check_checkpoint_path",
    "check_compressions",
    "compression_sweep",
    "format_sweep_table",
    "write_sweep",
]

#: File names written by :func:`write_sweep` (and so by the ``sweep`` subcommand).
SWEEP_JSON = "compression_sweep.json"
SWEEP_CSV = "compression_sweep.csv"

_STAGES = ("test", "validate")
# Columns of every row that are not metrics.
_FIXED = ("compression", "achieved_compression")


class SweepError(ValueError):
    """A sweep that cannot run on the given checkpoint (the CLI prints it as an ``error:``)."""


def check_checkpoint_path(ckpt_path: str | os.PathLike) -> None:
    """Check that ``ckpt_path`` names a checkpoint file (not a missing path or a folder).

    Args:
        ckpt_path: Path of a Lightning checkpoint.

    Raises:
        FileNotFoundError: If nothing exists at ``ckpt_path``.
        IsADirectoryError: If ``ckpt_path`` is a folder (e.g. ``checkpoints/``).

    Example:
        >>> check_checkpoint_path("no/such/last.ckpt")
        Traceback (most recent call last):
        ...
        FileNotFoundError: sweep: no checkpoint file at ckpt_path='no/such/last.ckpt'
    """
    path = os.fspath(ckpt_path)
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"sweep: ckpt_path={path!r} is a folder; give a checkpoint file in it, e.g. "
            f"{os.path.join(path, 'last.ckpt')!r}"
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sweep: no checkpoint file at ckpt_path={path!r}")


def check_compressions(compressions: Sequence[float]) -> list[float]:
    """Validate the compressions of a sweep.

    Args:
        compressions: Eval compressions, each in ``[0, 1)``.

    Returns:
        The compressions as Python floats, in the given order.

    Raises:
        ValueError: If the list is empty, a value is outside ``[0, 1)``, or two values share
            a logging step (they differ by less than half a percent).
        TypeError: If a value is not a number.
    """
    if isinstance(compressions, (str, bytes)) or not isinstance(compressions, Sequence):
        raise TypeError(f"compressions must be a list of numbers, got {compressions!r}")
    if not compressions:
        raise ValueError("compressions=[] is empty: list at least one value in [0, 1)")
    values = [check_compression(c, "compressions") for c in compressions]
    steps: dict[int, float] = {}
    for value in values:
        step = _step(value)
        if step in steps:
            raise ValueError(
                f"compressions {steps[step]} and {value} are logged at the same step {step} "
                "(percent): give values that differ by at least 1%"
            )
        steps[step] = value
    return values


def _step(compression: float) -> int:
    """Logging step of a compression: its value in percent."""
    return round(100 * compression)


class _SilentLogger(Logger):
    """Stands in for the trainer's loggers during the sweep's evaluation runs.

    Every run would log its metrics at the same ``global_step``; the sweep logs them itself,
    once per compression. The log directory is kept, so that callbacks writing into it
    (LightningCLI's config file) still write where the real logger would.
    """

    def __init__(self, directory: str) -> None:
        super().__init__()
        self._directory = directory

    @property
    @override
    def name(self) -> str:
        return "compression_sweep"

    @property
    @override
    def version(self) -> int:
        return 0

    @property
    @override
    def save_dir(self) -> str:
        return self._directory

    @property
    @override
    def log_dir(self) -> str:
        return self._directory

    @override
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    @override
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass


def _restore(
    model: pl.LightningModule | type[pl.LightningModule],
    ckpt_path: str | os.PathLike,
    allowed_classes: Sequence[type | str] = (),
    weights_only: bool | None = None,
) -> tuple[pl.LightningModule, dict[str, Any] | None]:
    """The trained model and, for a given instance, its layers' settings to put back after."""
    if isinstance(model, type):
        restored = load_from_checkpoint(
            model,
            ckpt_path,
            map_location="cpu",
            allowed_classes=allowed_classes,
            weights_only=weights_only,
        )
        return restored, None
    if not isinstance(model, classes("LightningModule")):
        raise TypeError(f"model must be a LightningModule or its class, got {type(model)}")
    if weights_only is False:  # the caller trusts the file: unpickle what it holds
        restore_(model, torch.load(ckpt_path, map_location="cpu", weights_only=False))
    else:
        restore_(model, ckpt_path)
    settings = {name: m.get_extra_state() for name, m in transforms.spectral_modules(model)}
    return model, settings


def _achieved(model: pl.LightningModule) -> dict[str, float]:
    """Achieved eval compression of every band-limited layer that has run."""
    achieved = {}
    for name, module in transforms.spectral_modules(model):
        band = module.band(training=False)
        if band is not None:
            achieved[name] = float(band.compression)
    return achieved


def compression_sweep(
    trainer: pl.Trainer,
    model: pl.LightningModule | type[pl.LightningModule],
    ckpt_path: str | os.PathLike,
    compressions: Sequence[float],
    datamodule: pl.LightningDataModule | None = None,
    dataloaders: Any = None,
    stage: Literal["test", "validate"] = "test",
    output_dir: str | os.PathLike | None = None,
    verbose: bool = True,
    allowed_classes: Sequence[type | str] = (),
    weights_only: bool | None = None,
) -> list[dict[str, Any]]:
    """Evaluate a checkpoint at each eval compression and report the metrics per compression.

    The model is restored without any callback: a class is rebuilt from the checkpoint's
    hyperparameters with :func:`lightning_spectral.load_from_checkpoint`; an instance (built
    by you or by LightningCLI) receives the checkpoint's spectral plan and weights with
    :func:`lightning_spectral.restore_` and gets its layers' compressions back at the end.
    Then, for each compression ``c``, every band-limited layer's eval compression is set to
    ``c`` and ``trainer.test`` (or ``trainer.validate``) runs once. The trainer's callbacks
    run as in any test; the package's rewriting callbacks find the model already rewritten and
    leave it alone.

    Outputs, on global rank zero: the table (:func:`format_sweep_table`) printed when
    ``verbose``; ``compression_sweep.json``/``.csv`` in ``output_dir``; ``sweep/<metric>``
    and ``sweep/achieved_compression`` scalars at ``step = round(100 * c)`` on every logger of
    the trainer (plus the table as text in TensorBoard). During the evaluation runs themselves
    the trainer's loggers are muted, so these runs do not add points at step 0.

    Args:
        trainer: The trainer whose test/validation loop evaluates the model.
        model: The LightningModule class the checkpoint was trained with, or an instance of it.
        ckpt_path: Path of a Lightning checkpoint (written while a spectral callback, or
            :class:`~lightning_spectral.SpectralCheckpointMixin`, was active, so that it
            carries the plan of the rewrite).
        compressions: Eval compressions to evaluate, each in ``[0, 1)`` and at least 1% apart.
        datamodule: Provides the test (validation) data; or give ``dataloaders``.
        dataloaders: Test (validation) dataloaders, when there is no ``datamodule``.
        stage: ``"test"`` runs ``trainer.test``, ``"validate"`` runs ``trainer.validate``.
        output_dir: Folder of the JSON and CSV files; ``None``: ``trainer.log_dir`` (the
            TensorBoard version folder, or ``default_root_dir`` without logger).
        verbose: Print the table.
        allowed_classes: Classes (or import paths) the checkpoint's hyperparameters may name
            besides the package's own and ``model``'s (see
            :func:`lightning_spectral.load_from_checkpoint`); anything else is refused before
            it is imported.
        weights_only: As in ``LightningModule.load_from_checkpoint``; ``False`` only for a
            checkpoint you trust that holds pickled objects.

    Returns:
        One row per compression, in the given order: ``{"compression": c,
        "achieved_compression": mean achieved eval compression over the layers, <metric>:
        value, ..., "layers": {layer: achieved eval compression}}``. Metric names are those
        the model logs in that stage, e.g. ``test_acc`` and ``test_loss``.

    During each pass the progress bar (if any) says which compression it evaluates, e.g.
    ``Sweep 2/5: compression 0.25``.

    Raises:
        ValueError: If the compressions are invalid or ``stage`` is unknown.
        SweepError: If the restored model has no band-limited convolution.
        FileNotFoundError: If there is no file at ``ckpt_path``.
        IsADirectoryError: If ``ckpt_path`` is a folder.
    """
    values = check_compressions(compressions)
    if stage not in _STAGES:
        raise ValueError(f"stage must be one of {_STAGES}, got {stage!r}")
    check_checkpoint_path(ckpt_path)
    module, settings = _restore(model, ckpt_path, allowed_classes, weights_only)
    layers = transforms.spectral_modules(module)
    if not layers:
        raise SweepError(
            f"the model restored from {os.fspath(ckpt_path)!r} has no band-limited "
            "convolutions, so there is no eval compression to sweep; was it trained with "
            "BandLimitCallback (or lightning_spectral.transforms.band_limit_)?"
        )
    evaluate = trainer.test if stage == "test" else trainer.validate
    loggers = trainer.loggers
    log_dir = trainer.log_dir  # resolved with the real loggers (e.g. a new version folder)
    rows: list[dict[str, Any]] = []
    try:
        trainer.loggers = [_SilentLogger(log_dir)] if loggers else []
        for index, value in enumerate(values, start=1):
            transforms.set_compression_(module, eval_compression=value)
            description = f"Sweep {index}/{len(values)}: compression {value:.2f}"
            with _progress_description(trainer, description):
                results = evaluate(
                    module, dataloaders=dataloaders, datamodule=datamodule, verbose=False
                )
            metrics: dict[str, float] = {}
            for result in results:  # one dict per dataloader
                metrics.update({k: float(v) for k, v in result.items()})
            achieved = _achieved(module)
            mean = sum(achieved.values()) / len(achieved) if achieved else math.nan
            rows.append(
                {"compression": value, "achieved_compression": mean, **metrics, "layers": achieved}
            )
    finally:
        trainer.loggers = loggers
        if settings is not None:
            for name, layer in transforms.spectral_modules(module):
                if name in settings:
                    layer.set_extra_state(settings[name])
    _log(trainer, rows)
    if trainer.is_global_zero:
        directory = Path(output_dir if output_dir is not None else log_dir or ".")
        write_sweep(rows, directory, checkpoint=os.fspath(ckpt_path), stage=stage)
        if verbose:
            print(format_sweep_table(rows))
            print(f"Wrote {directory / SWEEP_JSON} and {directory / SWEEP_CSV}")
    return rows


@contextlib.contextmanager
def _progress_description(trainer: pl.Trainer, description: str) -> Iterator[None]:
    """Show ``description`` on the trainer's progress bar (TQDM, Rich, ...) for one pass.

    A progress bar reads its labels from read-only properties (``test_description``,
    ``validation_description``), so the bar gets a subclass that overrides them while the
    pass runs and its own class back after.
    """
    bar = trainer.progress_bar_callback
    if bar is None:
        yield
        return
    original = type(bar)
    label = property(lambda _self: description)
    bar.__class__ = type(
        original.__name__,
        (original,),
        {"test_description": label, "validation_description": label, "__module__": __name__},
    )
    try:
        yield
    finally:
        bar.__class__ = original


def _metric_names(rows: Sequence[dict[str, Any]]) -> list[str]:
    names = {k for row in rows for k in row if k not in _FIXED and k != "layers"}
    return sorted(names)


def _log(trainer: pl.Trainer, rows: Sequence[dict[str, Any]]) -> None:
    for logger in trainer.loggers:
        for row in rows:
            scalars = {
                f"sweep/{k}": v
                for k, v in row.items()
                if k != "layers" and k != "compression" and isinstance(v, float)
            }
            logger.log_metrics(scalars, step=_step(row["compression"]))
        if isinstance(logger, classes("loggers.TensorBoardLogger")) and trainer.is_global_zero:
            # Indented by four spaces, TensorBoard's markdown shows the table as preformatted text.
            table = "\n".join("    " + line for line in format_sweep_table(rows).splitlines())
            logger.experiment.add_text("sweep/table", table, global_step=trainer.global_step)
        logger.save()


def format_sweep_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`compression_sweep` as an aligned text table.

    Args:
        rows: Rows as returned by :func:`compression_sweep`.

    Returns:
        A header line and one line per row: requested compression, achieved compression
        (mean over the layers) and every metric, with four decimals.
    """
    header = ["compression", "achieved", *_metric_names(rows)]
    keys = ["compression", "achieved_compression", *header[2:]]
    lines = [[f"{row[k]:.4f}" if k in row else "-" for k in keys] for row in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    out += ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def write_sweep(
    rows: Sequence[dict[str, Any]],
    directory: str | os.PathLike,
    checkpoint: str | None = None,
    stage: str = "test",
) -> tuple[Path, Path]:
    """Write sweep rows as ``compression_sweep.json`` and ``compression_sweep.csv``.

    The JSON file holds ``{"checkpoint", "stage", "rows"}`` with the rows exactly as returned
    (per-layer achieved compressions included); the CSV file one line per row with the
    columns ``compression``, ``achieved_compression`` and the metrics.

    Args:
        rows: Rows as returned by :func:`compression_sweep`.
        directory: Folder to write into (created if missing).
        checkpoint: Checkpoint path recorded in the JSON file.
        stage: Stage recorded in the JSON file.

    Returns:
        Paths of the JSON and the CSV file.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / SWEEP_JSON, folder / SWEEP_CSV
    document = {"checkpoint": checkpoint, "stage": stage, "rows": list(rows)}
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    columns = [*_FIXED, *_metric_names(rows)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path.write_text(buffer.getvalue())
    return json_path, csv_path
