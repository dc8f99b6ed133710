"""Per-layer input statistics summed across ranks at an epoch boundary (private).

Band-limited layers accumulate the power map of their padded input (at their transform size)
during training forwards (``stats_power``/``stats_count``, plain tensors, no host sync). At the
end of the last training batch of an epoch, before validation and checkpointing,
:func:`reduced_statistics` sums them over all ranks in a single collective. Both
:class:`~lightning_spectral.callbacks.BandLimitCallback` (energy mode) and
:class:`~lightning_spectral.callbacks.EnergyCompressionMonitor` need the sums; whichever runs
first reduces and caches them for that step, so their order in
``Trainer(callbacks=...)`` does not matter and every rank takes part in the same collectives.

A checkpoint written in the middle of an epoch carries the statistics accumulated so far
(:func:`save_statistics`, every rank's), and a run resumed from it puts them back
(:func:`load_statistics`) before its first training batch, so the band chosen at the end of the
interrupted epoch is the one the uninterrupted run chooses.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lightning_spectral._lightning_compat import is_last_batch, pl
from lightning_spectral.functional import Band

__all__ = [
    "STATISTICS_KEY",
    "LayerStatistics",
    "is_last_train_batch",
    "load_statistics",
    "reduced_statistics",
    "save_statistics",
]

#: Checkpoint key of the layers' statistics of the epoch in progress (see :func:`save_statistics`).
STATISTICS_KEY = "lightning_spectral_statistics"


@dataclass(frozen=True)
class LayerStatistics:
    """One layer's statistics for an epoch, summed over ranks.

    Attributes:
        power: summed power map of the padded input at the transform size,
            ``spectrum_shape(signal_shape)``.
        count: number of samples summed (all ranks).
        band: the train band the layer used while the statistics were gathered.
    """

    power: torch.Tensor
    count: int
    band: Band


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...], LayerStatistics | None]] = (
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
        cache: reuse and store results for the current training batch.

    Returns:
        ``{name: LayerStatistics}``.
    """
    # The batch count too: with gradient accumulation several batches share a global step.
    batches = trainer.fit_loop.epoch_loop.batch_progress.total.ready
    key = (trainer.current_epoch, trainer.global_step, batches)
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


def save_statistics(
    trainer: pl.Trainer, layers: Sequence[tuple[str, nn.Module]], checkpoint: dict[str, Any]
) -> None:
    """Store every rank's statistics accumulated so far this epoch in ``checkpoint`` (in place).

    Called from ``on_save_checkpoint``, which Lightning runs on every rank: it takes part in
    one ``all_gather`` (DDP) so that the file, written by rank zero, holds each rank's own
    partial sums. Layers another callback already stored in this checkpoint are skipped, so
    every callback that needs the statistics may call it.

    Args:
        trainer: the running trainer (its strategy gathers).
        layers: ``(name, band-limited conv)`` pairs; those with no statistics are left out.
        checkpoint: the checkpoint dict being saved; ``checkpoint[STATISTICS_KEY][name]`` gets
            ``{"power": (world_size, *spectrum_shape), "count": (world_size,),
            "signal_shape": [...]}`` (CPU tensors and lists, readable with ``weights_only``).
    """
    saved = checkpoint.setdefault(STATISTICS_KEY, {})
    pending = [(n, m) for n, m in layers if n not in saved and m.stats_power is not None]
    if not pending:
        return
    world = trainer.world_size
    counts = torch.stack([m.stats_count for _, m in pending])
    counts = trainer.strategy.all_gather(counts).reshape(world, len(pending)).cpu()
    for index, (name, module) in enumerate(pending):
        power = module.stats_power
        # One gather per layer keeps each power map in its own dtype (only at checkpoints).
        gathered = trainer.strategy.all_gather(power).reshape(world, *power.shape)
        saved[name] = {
            "power": gathered.detach().cpu().clone(),
            "count": counts[:, index].clone(),
            "signal_shape": list(module.stats_signal_shape),
        }


def load_statistics(
    trainer: pl.Trainer, layers: Sequence[tuple[str, nn.Module]], saved: Mapping[str, Any] | None
) -> None:
    """Put the statistics written by :func:`save_statistics` back into the layers.

    With the world size of the saving run each rank gets its own partial sums back (the
    resumed sums are then exactly those of the uninterrupted run); with another world size,
    rank zero gets the sum over the saved ranks and the others start from zero, so the sum
    over ranks at the epoch end is the same. Layers that ``saved`` does not name keep theirs.

    Args:
        trainer: the running trainer (its global rank and world size).
        layers: ``(name, band-limited conv)`` pairs, on their training device.
        saved: ``checkpoint[STATISTICS_KEY]``, or ``None`` (nothing to restore).

    It also forgets the reductions :func:`reduced_statistics` cached for these layers: it is
    called at every fit's start, and a second fit of the same model repeats the first one's
    ``(epoch, global_step, batch)`` counters, so a cached sum would be the earlier fit's.

    Raises:
        ValueError: if an entry does not have the layout :func:`save_statistics` writes.
    """
    for _, module in layers:
        _CACHE.pop(module, None)
    if not saved:
        return
    rank, world = trainer.global_rank, trainer.world_size
    for name, module in layers:
        entry = saved.get(name)
        if entry is None:
            continue
        if not isinstance(entry, Mapping) or {"power", "count", "signal_shape"} - set(entry):
            raise ValueError(
                f"checkpoint statistics of layer {name!r} must be a dict with keys 'power', "
                f"'count' and 'signal_shape', got {entry!r}"
            )
        power, count = entry["power"], entry["count"]
        if power.shape[0] == world:
            power, count = power[rank], count[rank]
        elif rank == 0:
            power, count = power.sum(0), count.sum(0)
        else:
            power, count = torch.zeros_like(power[0]), torch.zeros_like(count[0])
        device = module.weight.device
        module.stats_power = power.to(device).clone()
        module.stats_count = count.to(device=device, dtype=torch.int64).clone()
        # The layer keeps the signal size of its statistics privately; no setter exists yet.
        module._stats_shape = tuple(int(n) for n in entry["signal_shape"])
