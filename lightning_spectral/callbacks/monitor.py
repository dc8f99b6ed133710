"""Per-layer compression and spectral-energy statistics: curves, spectra figures, a summary."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import torch
from typing_extensions import override

from lightning_spectral import nn as spectral_nn
from lightning_spectral import transforms
from lightning_spectral._lightning_compat import (
    Callback,
    MisconfigurationException,
    TensorBoardLogger,
    classes,
    extract_batch_size,
    pl,
    rank_zero_info,
    rank_zero_warn,
)
from lightning_spectral.callbacks import _figures
from lightning_spectral.callbacks._common import check_strategy
from lightning_spectral.callbacks._statistics import (
    STATISTICS_KEY,
    LayerStatistics,
    is_last_train_batch,
    load_statistics,
    reduced_statistics,
    save_statistics,
)
from lightning_spectral.functional import Band, band_energy_fraction, check_choice, check_int

__all__ = ["EnergyCompressionMonitor"]

_INTERVALS = ("epoch", "step")


class EnergyCompressionMonitor(Callback):
    """Log, per spectral layer, how much is compressed and how much energy the band keeps.

    Scalars go through ``pl_module.log`` under stable names, so they appear as curves in any
    logger and can be monitored (``ModelCheckpoint(monitor="spectral/mean_input_energy")``).
    For every band-limited convolution ``<layer>`` (its fully qualified module name):

    * ``spectral/<layer>/train_compression``: achieved compression of the train band used
      during the epoch, at the layer's transform size (padded input size by default).
    * ``spectral/<layer>/eval_compression``: achieved compression of the eval band as of the
      end of the epoch, i.e. the one this epoch's validation used (energy-mode bands move at
      the end of the last training batch, before validation).
    * ``spectral/<layer>/input_energy``: fraction of the epoch's input-spectrum energy inside
      the train band used (summed over all ranks).
    * ``spectral/<layer>/filter_energy``: fraction of the filters' energy inside that band.
    * ``spectral/<layer>/spectral_sparsity`` for spectrally parametrized filters (also for
      parametrized convolutions that are not band-limited).

    and ``spectral/<pool>/dropout_min`` for spectral pools with frequency dropout. Model-wide:
    ``spectral/mean_train_compression``, ``spectral/mean_eval_compression``,
    ``spectral/mean_input_energy``, ``spectral/mean_filter_energy``, and
    ``spectral/saved_spectrum_bytes`` / ``spectral/full_spectrum_bytes``: bytes of input
    spectrum kept for backward per training batch (largest batch of the epoch) by all
    band-limited layers, vs. the uncompressed one-sided spectra. At the end of every validation
    epoch of a fit: ``spectral/cache_bytes``, the bytes the band-limited layers' eval-mode
    filter spectrum caches hold (their ``cache_bytes`` summed; training empties the caches, so
    it is logged while they are filled).

    Input statistics are accumulated on device by the layers during training forwards (no host
    sync per step; the monitor switches ``track_stats`` on for the fit and off at its end) and
    summed across ranks once, at the end of the epoch's last training batch (with
    ``logging_interval="step"``, at every training step: one collective per step). The order of
    this callback and :class:`~lightning_spectral.callbacks.BandLimitCallback` does not matter.
    A checkpoint written in the middle of an epoch keeps the statistics accumulated so far and
    the largest batch size seen, so a run resumed from it logs what the uninterrupted run logs.

    With ``log_spectra_every_n_epochs=n`` it also writes, every ``n`` epochs (after the epoch's
    last training batch, at ``global_step=trainer.global_step``) and on global rank zero, to the
    trainer's ``TensorBoardLogger``, for each band-limited layer:

    * ``spectral/<layer>/input_power``: the epoch's input power spectrum as a colour image on a
      log scale (row frequency 0 in the middle, one-sided columns; a log-scale line for 1D
      layers) with the train band's edge drawn on it;
    * ``spectral/<layer>/filter_power_map``: the same picture of the filters' power spectrum
      (zero-padded to the input size), and ``spectral/<layer>/filter_power``, a histogram of
      its log10 values;
    * ``spectral/<layer>/energy_curve``: the energy retained by every band of the layer's chain
      against its achieved compression (the curve energy-based compression picks its band
      from), for the input and the filters, with the train band used this epoch marked (and
      the eval band and the energy target drawn);

    and ``spectral/summary``, a text table of every rewritten layer: band-limited convolutions
    with their achieved train and eval compression and the energy kept, then spectral pools and
    spectrally parametrized convolutions (TensorBoard's TEXT tab). The table is also written at
    the start of training whenever there is a ``TensorBoardLogger``, and printed to the console
    (``INFO``) with any logger. Images are RGB, drawn with matplotlib
    (the ``data`` extra): without it the monitor warns once at ``setup`` and writes the
    histograms and the summary only.

    Args:
        logging_interval: ``"epoch"`` (log once per training epoch) or ``"step"`` (log at every
            training step, as often as the trainer's ``log_every_n_steps`` lets through).
        log_spectra_every_n_epochs: write the spectra and energy-curve images, the filter
            histograms and the text summary every this many epochs (a positive integer), or
            ``None`` for none. Needs a ``TensorBoardLogger``.

    Raises:
        ValueError: if ``logging_interval`` is unknown or ``log_spectra_every_n_epochs`` is not
            a positive integer.
        MisconfigurationException: at fit ``setup``, if the trainer has no logger, or spectra
            are requested without a ``TensorBoardLogger``.
    """

    def __init__(
        self,
        logging_interval: Literal["epoch", "step"] = "epoch",
        log_spectra_every_n_epochs: int | None = None,
    ) -> None:
        super().__init__()
        check_choice(logging_interval, "logging_interval", _INTERVALS)
        every = log_spectra_every_n_epochs
        if every is not None:
            check_int(every, "log_spectra_every_n_epochs", minimum=1)
        self.logging_interval = logging_interval
        self.log_spectra_every_n_epochs = every
        self._batch_size = 1
        # The training epoch the layers' statistics and the fields below belong to.
        self._epoch: int | None = None
        self._epoch_metrics: dict[str, Any] | None = None
        self._tensorboard: TensorBoardLogger | None = None
        self._draw = False
        self._statistics_to_load: dict[str, Any] | None = None
        # Layers to draw at the end of the epoch: (name, layer, statistics, train band, filter
        # power), gathered at the last training batch on global rank zero when figures are due.
        self._pending: list[tuple[str, Any, LayerStatistics | None, Band, torch.Tensor]] | None = (
            None
        )

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        check_strategy(trainer, type(self).__name__)
        # A new fit starts a new epoch's bookkeeping, unless a checkpoint restores it next.
        self._epoch = None
        self._statistics_to_load = None
        if not trainer.loggers:
            raise MisconfigurationException(
                "EnergyCompressionMonitor logs through the trainer's logger, but the trainer has "
                "none (`Trainer(logger=False)`). Pass a logger, e.g. `TensorBoardLogger`."
            )
        self._tensorboard = next(
            (lg for lg in trainer.loggers if isinstance(lg, classes("loggers.TensorBoardLogger"))),
            None,
        )
        if self.log_spectra_every_n_epochs is not None and self._tensorboard is None:
            raise MisconfigurationException(
                "EnergyCompressionMonitor(log_spectra_every_n_epochs="
                f"{self.log_spectra_every_n_epochs}) writes images and histograms to a "
                "TensorBoardLogger, and the trainer has none: add one or set "
                "`log_spectra_every_n_epochs=None`."
            )
        every = self.log_spectra_every_n_epochs
        max_epochs = trainer.max_epochs
        if every is not None and max_epochs is not None and 0 <= max_epochs < every:
            rank_zero_warn(
                f"EnergyCompressionMonitor(log_spectra_every_n_epochs={every}) draws every "
                f"{every} epochs, and the trainer stops after max_epochs={max_epochs}: no "
                f"pictures will be written. Set log_spectra_every_n_epochs <= {max_epochs}."
            )
        self._draw = every is not None
        if self._draw and not _figures.matplotlib_available():
            self._draw = False
            rank_zero_warn(
                f"EnergyCompressionMonitor(log_spectra_every_n_epochs="
                f"{self.log_spectra_every_n_epochs}): {_figures.MISSING_MATPLOTLIB}. Without it "
                "the monitor writes the filter histograms and the text summary, and no images."
            )

    @override
    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        save_statistics(trainer, transforms.spectral_modules(pl_module), checkpoint)

    @override
    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._statistics_to_load = checkpoint.get(STATISTICS_KEY)

    @property
    @override
    def state_key(self) -> str:
        # Stateful callbacks need distinct keys: monitors with different settings may coexist.
        return self._generate_state_key(
            logging_interval=self.logging_interval,
            log_spectra_every_n_epochs=self.log_spectra_every_n_epochs,
        )

    @override
    def state_dict(self) -> dict[str, Any]:
        # The epoch in progress and its largest batch so far: a mid-epoch resume sees only
        # the rest of the epoch.
        return {"epoch": self._epoch, "batch_size": self._batch_size}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        missing = {"epoch", "batch_size"} - set(state_dict)
        if missing:
            raise ValueError(
                f"EnergyCompressionMonitor checkpoint state must have the keys 'epoch' and "
                f"'batch_size', got keys {sorted(state_dict)}"
            )
        epoch, size = state_dict["epoch"], state_dict["batch_size"]
        for key, value, low in (("epoch", epoch, 0), ("batch_size", size, 1)):
            if key == "epoch" and value is None:
                continue  # saved before the first training batch
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"EnergyCompressionMonitor checkpoint state `{key}` must be an int, got "
                    f"{type(value).__name__} {value!r}"
                )
            if value < low:
                raise ValueError(
                    f"EnergyCompressionMonitor checkpoint state `{key}` must be >= {low}, "
                    f"got {value}"
                )
        self._epoch, self._batch_size = epoch, size

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Here, not in setup: Lightning restores callbacks (on_load_checkpoint) after setup.
        # A mid-epoch resume skips on_train_epoch_start, so tracking starts here too, and the
        # interrupted epoch's statistics are put back before its next batch.
        layers = transforms.spectral_modules(pl_module)
        for _, module in layers:
            module.track_stats = True
        load_statistics(trainer, layers, self._statistics_to_load)
        self._statistics_to_load = None
        spectral = (
            transforms.spectral_modules(pl_module)
            or transforms.spectral_pools(pl_module)
            or self._parametrized(pl_module)
        )
        if not spectral:
            rank_zero_warn(
                "EnergyCompressionMonitor found no band-limited, spectrally parametrized or "
                "spectral pooling layers: nothing will be logged. Is a spectral callback missing?"
            )
            return
        rows = self._summary_rows(pl_module, None)
        rank_zero_info(
            "EnergyCompressionMonitor: spectral layers at the start of training\n"
            + _figures.summary_text(rows)
        )
        if self._tensorboard is not None and trainer.is_global_zero:
            self._tensorboard.experiment.add_text(
                "spectral/summary", _figures.summary_markdown(rows), global_step=trainer.global_step
            )

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Accumulating costs an FFT per forward: stop once nobody reads the statistics.
        for _, module in transforms.spectral_modules(pl_module):
            module.track_stats = False
            module.reset_stats()

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # At the epoch's first batch, not in on_train_epoch_start: Lightning skips that hook
        # on a mid-epoch resume (the restored epoch continues) and also for the epoch after a
        # resume from a checkpoint written at an epoch's last batch (that one must start).
        if self._epoch != trainer.current_epoch:
            self._start_epoch(trainer, pl_module)
        # If the batch size cannot be inferred, the saved-bytes figures count per sample.
        with contextlib.suppress(MisconfigurationException):
            self._batch_size = max(self._batch_size, extract_batch_size(batch))

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        last = is_last_train_batch(trainer, batch_idx)
        if self.logging_interval == "step":
            metrics = self._collect(trainer, pl_module, images=last)
            metrics.update(self._eval_metrics(pl_module))
            pl_module.log_dict(metrics, on_step=True, on_epoch=False, batch_size=1)
            if last:
                self._epoch_metrics = metrics
        elif last and self._epoch_metrics is None:
            # Now, before validation, checkpointing and energy-mode band updates.
            self._epoch_metrics = self._collect(trainer, pl_module, images=True)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._epoch_metrics is None:
            # The last batch was not recognised in advance (e.g. an iterable loader).
            self._epoch_metrics = self._collect(trainer, pl_module, images=True)
        if self.logging_interval == "epoch":
            # Eval bands as of now: what this epoch's validation used (energy-mode bands move
            # at the end of the last training batch, before validation).
            metrics = {**self._epoch_metrics, **self._eval_metrics(pl_module)}
            # Already summed across ranks; sync_dist only averages identical values, once per
            # epoch, and keeps Lightning from warning about unsynced epoch-level metrics.
            pl_module.log_dict(metrics, on_step=False, on_epoch=True, batch_size=1, sync_dist=True)
        if self._pending is not None:
            # Now, so that the eval bands drawn are those this epoch's scalars report.
            self._write_figures(trainer, pl_module, self._pending)
            self._pending = None

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Here, not with the training metrics: model.train() empties the eval caches, so they
        # are full only between validation forwards and the end of validation.
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        layers = transforms.spectral_modules(pl_module)
        if layers:
            total = float(sum(module.cache_bytes for _, module in layers))
            pl_module.log(
                "spectral/cache_bytes",
                total,
                on_step=False,
                on_epoch=True,
                batch_size=1,
                sync_dist=True,
            )

    # ---------------------------------------------------------------------------------------

    def _start_epoch(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Forget the previous epoch: its statistics, largest batch, metrics and figures."""
        for _, module in transforms.spectral_modules(pl_module):
            module.reset_stats()
        self._epoch = trainer.current_epoch
        self._batch_size = 1
        self._epoch_metrics = None
        self._pending = None

    @staticmethod
    def _parametrized(pl_module: pl.LightningModule) -> list[tuple[str, torch.nn.Module]]:
        return [
            (name, module)
            for name, module in pl_module.named_modules()
            if spectral_nn.is_spectrally_parametrized(module)
        ]

    def _collect(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, images: bool
    ) -> dict[str, Any]:
        """Train-side metrics: bands used during the epoch and energy inside them."""
        layers = transforms.spectral_modules(pl_module)
        statistics = reduced_statistics(trainer, layers)
        metrics: dict[str, Any] = {}
        means: dict[str, list[Any]] = {
            "train_compression": [],
            "input_energy": [],
            "filter_energy": [],
        }
        kept_bytes = full_bytes = 0
        pending = [] if images and self._figures_due(trainer) else None
        for name, module in layers:
            stats = statistics.get(name)
            band = stats.band if stats is not None else module.band(training=True)
            if band is None:
                continue  # the layer has not run yet: no size, no band
            filter_power = module.filter_power(band.signal_shape)
            values = {
                "train_compression": band.compression,
                "filter_energy": band_energy_fraction(filter_power, band),
            }
            if stats is not None:
                values["input_energy"] = band_energy_fraction(stats.power, stats.band)
            for quantity, value in values.items():
                metrics[f"spectral/{name}/{quantity}"] = value
                means[quantity].append(value)
            kept, full = module.saved_spectrum_bytes(self._batch_size, band.signal_shape)
            kept_bytes += kept
            full_bytes += full
            if pending is not None:
                pending.append((name, module, stats, band, filter_power))
        for name, module in self._parametrized(pl_module):
            metrics[f"spectral/{name}/spectral_sparsity"] = spectral_nn.spectral_sparsity(module)
        for name, pool in transforms.spectral_pools(pl_module):
            if pool.dropout_min is not None:
                metrics[f"spectral/{name}/dropout_min"] = float(pool.dropout_min)
        if pending is not None:
            self._pending = pending
        metrics.update(_means(means))
        if full_bytes:
            metrics["spectral/saved_spectrum_bytes"] = float(kept_bytes)
            metrics["spectral/full_spectrum_bytes"] = float(full_bytes)
        return metrics

    @staticmethod
    def _eval_metrics(pl_module: pl.LightningModule) -> dict[str, Any]:
        """Achieved eval compression of every layer that has run, and their mean."""
        metrics: dict[str, Any] = {}
        values = []
        for name, module in transforms.spectral_modules(pl_module):
            band = module.band(training=False)
            if band is not None:
                metrics[f"spectral/{name}/eval_compression"] = band.compression
                values.append(band.compression)
        metrics.update(_means({"eval_compression": values}))
        return metrics

    def _figures_due(self, trainer: pl.Trainer) -> bool:
        """Whether this epoch's figures and summary are written (global rank zero only)."""
        every = self.log_spectra_every_n_epochs
        return (
            every is not None
            and (trainer.current_epoch + 1) % every == 0
            and trainer.is_global_zero
            and self._tensorboard is not None
        )

    def _write_figures(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        layers: list[tuple[str, Any, LayerStatistics | None, Band, torch.Tensor]],
    ) -> None:
        """Spectra and energy-curve images, filter histograms and the summary, one interval."""
        assert self._tensorboard is not None  # _figures_due checked it
        experiment = self._tensorboard.experiment
        step = trainer.global_step
        for name, module, stats, band, filter_power in layers:
            experiment.add_histogram(
                f"spectral/{name}/filter_power",
                torch.log10(filter_power.clamp_min(torch.finfo(filter_power.dtype).tiny)),
                global_step=step,
            )
            if not self._draw:
                continue
            input_power = None if stats is None else stats.power
            if input_power is not None:
                image = _figures.spectrum_image(input_power, band, f"{name}: input power")
                experiment.add_image(
                    f"spectral/{name}/input_power", image, global_step=step, dataformats="HWC"
                )
            image = _figures.spectrum_image(filter_power, band, f"{name}: filter power")
            experiment.add_image(
                f"spectral/{name}/filter_power_map", image, global_step=step, dataformats="HWC"
            )
            curve = _figures.energy_curve(
                band,
                filter_power,
                input_power,
                eval_band=module.band(training=False, signal_shape=band.signal_shape),
                target=module.energy if module.mode == "energy" else None,
            )
            image = _figures.energy_curve_image(curve, f"{name}: energy retained")
            experiment.add_image(
                f"spectral/{name}/energy_curve", image, global_step=step, dataformats="HWC"
            )
        experiment.add_text(
            "spectral/summary",
            _figures.summary_markdown(self._summary_rows(pl_module, layers)),
            global_step=step,
        )

    def _summary_rows(
        self,
        pl_module: pl.LightningModule,
        layers: list[tuple[str, Any, LayerStatistics | None, Band, torch.Tensor]] | None,
    ) -> list[dict[str, str]]:
        """One row per spectral layer: band-limited convolutions (with the epoch's bands when
        ``layers`` gives them, else their current ones), then pools and parametrized convs."""
        measured = {name: (stats, band, power) for name, _, stats, band, power in layers or []}
        rows = []
        for name, module in transforms.spectral_modules(pl_module):
            mode = module.mode if module.mode != "energy" else f"energy {module.energy:g}"
            row = {"layer": name, "type": _type_name(module), "mode": mode}
            stats, band, filter_power = measured.get(name, (None, None, None))
            if band is None:
                band = module.band(training=True)
            if band is None:
                # No forward yet (no sanity check): only the requested compressions are known.
                row["train"] = f"{module.compression:g} requested"
                row["eval"] = f"{module.eval_compression:g} requested"
                rows.append(row)
                continue
            if filter_power is None:
                filter_power = module.filter_power(band.signal_shape)
            eval_band = module.band(training=False, signal_shape=band.signal_shape)
            row["signal"] = "x".join(str(size) for size in band.signal_shape)
            row["train"] = f"{band.compression:.4f}"
            row["eval"] = f"{eval_band.compression:.4f}"  # type: ignore[union-attr]
            if stats is not None:
                row["input_energy"] = f"{float(band_energy_fraction(stats.power, band)):.4f}"
            row["filter_energy"] = f"{float(band_energy_fraction(filter_power, band)):.4f}"
            rows.append(row)
        for name, pool in transforms.spectral_pools(pl_module):
            mode = "pool" if pool.dropout_min is None else f"dropout_min {pool.dropout_min:g}"
            rows.append({"layer": name, "type": type(pool).__name__, "mode": mode})
        band_limited = {name for name, _ in transforms.spectral_modules(pl_module)}
        for name, module in self._parametrized(pl_module):
            if name not in band_limited:
                rows.append({"layer": name, "type": _type_name(module), "mode": "-"})
        return rows


def _type_name(module: torch.nn.Module) -> str:
    name = type(module).__name__
    if spectral_nn.is_spectrally_parametrized(module):
        # torch.nn.utils.parametrize renames the class "Parametrized<Name>".
        name = name.removeprefix("Parametrized") + " (spectral weights)"
    return name


def _means(series: dict[str, list[Any]]) -> dict[str, Any]:
    """Model-wide means ``spectral/mean_<quantity>`` of per-layer values (floats or tensors)."""
    means: dict[str, Any] = {}
    for quantity, values in series.items():
        if not values:
            continue
        if all(isinstance(v, float) for v in values):
            means[f"spectral/mean_{quantity}"] = sum(values) / len(values)
        else:
            means[f"spectral/mean_{quantity}"] = torch.stack(values).float().mean()
    return means
