"""Band-limited training (Dziedzic et al. 2019) as a Lightning callback."""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import override

from lightning_spectral import transforms
from lightning_spectral._lightning_compat import pl, rank_zero_warn
from lightning_spectral.callbacks._common import epoch_schedule, scheduled
from lightning_spectral.callbacks._statistics import (
    STATISTICS_KEY,
    is_last_train_batch,
    load_statistics,
    reduced_statistics,
    save_statistics,
)
from lightning_spectral.callbacks.rewrite import SpectralRewriteCallback
from lightning_spectral.functional import check_compression
from lightning_spectral.nn import band_limit_config

__all__ = ["BandLimitCallback"]


class BandLimitCallback(SpectralRewriteCallback):
    """Replace the selected convolutions by band-limited FFT convolutions at ``setup``.

    ``nn.Conv1d``/``nn.Conv2d`` layers become
    :class:`~lightning_spectral.nn.BandLimitedConv1d`/``2d`` with the same weights (and the
    same state-dict keys). Each layer keeps its train and its eval compression and picks one by
    ``self.training``, so inference needs no callback; checkpoints carry the plan to rebuild the
    layers (see :mod:`lightning_spectral.checkpoint`).

    The rewrite happens in ``setup``, before ``configure_optimizers``, the DDP wrap and the
    restore of a checkpoint, and is idempotent: layers that are already band-limited are left as
    they are (``setup`` runs again for validate/test/predict and must not change a trained
    model). It must come before ``StochasticWeightAveraging``, ``WeightAveraging`` and
    ``ModelPruning`` in the callback list.

    Compression schedule (``mode="fixed"``): at the start of every training epoch the train
    compression of the selected layers is set to the ``schedule`` entry of the latest epoch
    ``<= trainer.current_epoch`` (``compression`` before the first entry). It depends only on
    the epoch, so a resumed run follows the same schedule with no extra state.

    Energy mode (``mode="energy"``): every energy-mode layer accumulates the power spectrum of
    its input during the training epoch (on device, no host sync). At the end of the epoch's
    last training batch (before validation and checkpointing) the spectra are summed over all
    ranks and each layer moves to the smallest band retaining ``energy`` of it, so every rank
    picks the same band. The first epoch runs at ``compression``. A checkpoint written in the
    middle of an epoch carries every rank's statistics of that epoch so far, and a run resumed
    from it restores them before its first batch, so it picks the uninterrupted run's bands.

    Args:
        compression: train compression, the fraction of one-sided spectral coefficients
            discarded, in ``[0, 1)`` (the starting point in energy mode).
        eval_compression: eval (inference) compression in ``[0, 1)``; ``None`` follows the
            train compression.
        mode: ``"fixed"`` (compression as given/scheduled) or ``"energy"`` (per-layer bands
            chosen from the input energy at every epoch end).
        energy: for ``mode="energy"``, the fraction of input energy the band keeps, in
            ``(0, 1]``; must be ``None`` in fixed mode.
        include: layers to convert (fully qualified module names, globs, or ``"re:<regex>"``);
            ``None`` for every supported convolution.
        exclude: layers to leave alone, same syntax.
        schedule: optional ``{epoch: compression}`` for ``mode="fixed"``, e.g. ``{0: 0.25,
            5: 0.5}``.
        transform_size: ``"padded"`` (transform at the padded input size, the default) or
            ``"full"`` (the larger size of Dziedzic et al.'s code: the same compression then
            names the paper's operator, at about 3.5 times the spectrum; see
            :func:`~lightning_spectral.functional.transform_shape`).

    Raises:
        ValueError: if a value is out of range, ``mode`` is unknown, ``energy`` does not match
            ``mode``, or ``schedule`` is given in energy mode.
        TypeError: if an argument has the wrong type.

    Examples:
        >>> import pytorch_lightning as pl
        >>> callback = BandLimitCallback(compression=0.5, eval_compression=0.25, include="net.*")
        >>> trainer = pl.Trainer(callbacks=[callback], logger=False, enable_progress_bar=False)
        >>> BandLimitCallback(schedule={0: 0.25, 5: 0.5}).compression_at(7)
        0.5
    """

    def __init__(
        self,
        compression: float = 0.5,
        eval_compression: float | None = None,
        mode: Literal["fixed", "energy"] = "fixed",
        energy: float | None = None,
        include: str | list[str] | None = None,
        exclude: str | list[str] | None = None,
        schedule: dict[int, float] | None = None,
        transform_size: Literal["padded", "full"] = "padded",
    ) -> None:
        super().__init__()
        # The same checks (and messages) as band_limit_ and BandLimitedConv2d.
        config = band_limit_config(compression, eval_compression, mode, energy, transform_size)
        self.compression: float = config["compression"]
        self.eval_compression: float | None = config["eval_compression"]
        self.mode = mode
        self.energy: float | None = config["energy"]
        self.transform_size: str = config["transform_size"]
        self.include = transforms.check_patterns(include, "include")
        self.exclude = transforms.check_patterns(exclude, "exclude")
        self.schedule = epoch_schedule(schedule, "schedule", check_compression)
        if self.schedule is not None and mode == "energy":
            raise ValueError(
                "`schedule` sets the compression per epoch and only applies to mode='fixed'; "
                f"with mode='energy' the bands follow the input energy (got {schedule!r})"
            )
        self._boundary_done: int | None = None
        self._scheduled_epoch: int | None = None  # the epoch whose scheduled compression is set
        self._statistics_to_load: dict[str, Any] | None = None

    def compression_at(self, epoch: int) -> float:
        """The scheduled train compression for ``epoch``."""
        return scheduled(self.schedule, epoch, self.compression)

    def _selection(self) -> dict[str, Any]:
        return {"include": self.include, "exclude": self.exclude}

    @override
    def rewrite(self, pl_module: pl.LightningModule) -> transforms.TransformReport:
        # Convert plain convolutions only: a layer that is already band-limited carries trained
        # (or restored, or scheduled) settings that a repeated setup must not reset.
        report = transforms.band_limit_(
            pl_module,
            compression=self.compression_at(0),
            eval_compression=self.eval_compression,
            mode=self.mode,
            energy=self.energy,
            include=self.include,
            exclude=self.exclude,
            keep_existing=True,
            transform_size=self.transform_size,
        )
        others = [
            name
            for name in report.unchanged
            if pl_module.get_submodule(name).transform_size != self.transform_size
        ]
        if others:
            # Kept as they are (a repeated setup must not reset trained layers), so say so.
            rank_zero_warn(
                f"BandLimitCallback(transform_size={self.transform_size!r}): the selected "
                f"layers {others} were band-limited before this callback ran with another "
                "transform size and keep it (the callback converts plain convolutions only). "
                "Configure them first (`layer.configure(..., transform_size=...)` or "
                "`transforms.band_limit_`) or start from plain convolutions."
            )
        return report

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for _, module in self._energy_layers(pl_module):
            module.reset_stats()

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # Checked per batch, not in on_train_epoch_start: Lightning skips that hook on a
        # mid-epoch resume and for the epoch after a resume from an epoch's last batch.
        if self.schedule is not None and self._scheduled_epoch != trainer.current_epoch:
            transforms.set_compression_(
                pl_module,
                compression=self.compression_at(trainer.current_epoch),
                **self._selection(),
            )
            self._scheduled_epoch = trainer.current_epoch

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if is_last_train_batch(trainer, batch_idx):
            self._update_bands(trainer, pl_module)
            self._boundary_done = trainer.current_epoch

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Fallback for loaders whose last batch cannot be recognised in advance.
        if self._boundary_done != trainer.current_epoch:
            self._update_bands(trainer, pl_module)
            self._boundary_done = trainer.current_epoch

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._boundary_done = None
        self._scheduled_epoch = None
        layers = transforms.spectral_modules(pl_module)
        if self.mode == "energy" and layers and not self._energy_layers(pl_module):
            # The rewrite converts plain convolutions only: layers band-limited in fixed mode
            # before fit stay fixed, and energy mode would silently move no band.
            rank_zero_warn(
                "BandLimitCallback(mode='energy'): no band-limited layer is in energy mode, so "
                f"no band will move. The layers {[name for name, _ in layers]} were band-limited "
                "in fixed mode before this callback ran, and it converts plain convolutions "
                "only. Configure them with `mode='energy'` before `fit` (`layer.configure(...)`) "
                "or start from plain convolutions."
            )

    @override
    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        # The epoch's statistics so far: without them a mid-epoch resume would pick its band
        # from the batches after the resume point only.
        save_statistics(trainer, self._energy_layers(pl_module), checkpoint)

    @override
    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Applied at train start, once the strategy has moved the layers to their device.
        self._statistics_to_load = checkpoint.get(STATISTICS_KEY)

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Before the first batch; a resume at an epoch start then resets them in
        # on_train_epoch_start, a mid-epoch resume (no on_train_epoch_start) continues them.
        load_statistics(trainer, self._energy_layers(pl_module), self._statistics_to_load)
        self._statistics_to_load = None

    def _energy_layers(self, pl_module: pl.LightningModule) -> list[tuple[str, Any]]:
        if self.mode != "energy":
            return []
        return [(n, m) for n, m in transforms.spectral_modules(pl_module) if m.mode == "energy"]

    def _update_bands(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        layers = self._energy_layers(pl_module)
        if not layers:
            return
        statistics = reduced_statistics(trainer, layers)
        for name, module in layers:
            if name in statistics:
                module.update_band(statistics[name].power, name=name)
            else:
                # Left out: no sample counted on any rank (e.g. every one had a nan/inf); the
                # band stays, and the layer says why instead of staying silent.
                module.warn_nonfinite(name)
