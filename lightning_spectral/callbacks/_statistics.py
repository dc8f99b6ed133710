"""Per-layer input statistics summed across ranks at an epoch boundary (private).

Band-limited layers accumulate the power map of their padded input during training forwards
(``stats_power``/``stats_count``, plain tensors, no host sync). At the end of the last training
batch of an epoch, before validation and checkpointing, :func:`reduced_statistics` sums them over
all ranks in a single collective. Both :class:`~lightning_spectral.callbacks.BandLimitCallback`
(energy mode) and :class:`~lightning_spectral.callbacks.EnergyCompressionMonitor` need the sums;
whichever runs first reduces and caches them for that step, so their order in
``Trainer(callbacks=...)`` does not matter and every rank takes part in the same collectives.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from torch import nn

from lightning_spectral._lightning_compat import is_last_batch
from lightning_spectral.functional import Band

__all__ = ["LayerStatistics", "is_last_train_batch", "reduced_statistics"]


@dataclass(frozen=True)
class LayerStatistics:
    """One layer's statistics for an epoch, summed over ranks.

    Attributes:
        power: summed power map of the padded input, ``spectrum_shape(signal_shape)``.
        count: number of samples summed (all ranks).
        band: the train band the layer used while the statistics were gathered.
    """

    power: torch.Tensor
    count: int
    band: Band


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, int], LayerStatistics | None]] = (
    weakref.WeakKeyDictionary()
)


def is_last_train_batch(trainer: pl.Trainer, batch_idx: int) -> bool:
    """Whether ``batch_idx`` is the last training batch of the current epoch."""
    if batch_idx + 1 >= trainer.num_training_batches:
        return True
    return is_last_batch(trainer)


def reduced_statistics(
    trainer: pl.Trainer, layers: Sequence[tuple[str, nn.Module]], cache: bool = True
) -> dict[str, LayerStatistics]:
    """Sum the layers' accumulated statistics across ranks (one collective for all layers).

    Must be called on every rank with the same layers (DDP collectives). Layers that have
    accumulated nothing (``stats_power is None`` or zero samples on every rank) are left out.

    Args:
        trainer: the running trainer (its strategy reduces).
        layers: ``(name, band-limited conv)`` pairs.
        cache: reuse and store results for the current ``(epoch, global_step)``.

    Returns:
        ``{name: LayerStatistics}``.
    """
    key = (trainer.current_epoch, trainer.global_step)
    result: dict[str, LayerStatistics] = {}
    pending = []
    for name, module in layers:
        cached = _CACHE.get(module) if cache else None
        if cached is not None and cached[0] == key:
            if cached[1] is not None:
                result[name] = cached[1]
        elif module.stats_power is not None:
            pending.append((name, module))
        elif cache:
            _CACHE[module] = (key, None)
    if not pending:
        return result
    powers = [module.stats_power for _, module in pending]
    dtype = powers[0].dtype
    for power in powers[1:]:
        dtype = torch.promote_types(dtype, power.dtype)
    flat = torch.cat(
        [torch.stack([m.stats_count.to(dtype) for _, m in pending])]
        + [power.reshape(-1).to(dtype) for power in powers]
    )
    # reduce() may work in place (all_reduce): give it a copy, never the live accumulators.
    total = trainer.strategy.reduce(flat.clone(), reduce_op="sum")
    counts = total[: len(pending)].tolist()  # the one host read, at the epoch boundary
    offset = len(pending)
    for (name, module), power, count in zip(pending, powers, counts, strict=True):
        summed = total[offset : offset + power.numel()].view(power.shape).to(power.dtype)
        offset += power.numel()
        stats = None
        if count > 0:
            band = module.band(training=True, signal_shape=module.stats_signal_shape)
            stats = LayerStatistics(power=summed, count=int(count), band=band)
            result[name] = stats
        if cache:
            _CACHE[module] = (key, stats)
    return result
