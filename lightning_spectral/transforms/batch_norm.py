"""Batch-norm statistics for the network as it is evaluated: :func:`recalibrate_batch_norm_`.

Frequency dropout (random resolution reduction, Rippel et al. 2015) changes what the layers
after a spectral pool see in every training step, and batch norm's running statistics are
averages over those band-limited steps; in eval mode the pools pass the full band, so the
statistics no longer fit the activations. The experiment page "Spectral pooling
classification" measures the effect. The cure is the usual one for a train/eval mismatch of
batch norm: re-estimate the statistics with the network in its evaluation configuration.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from lightning_spectral.functional import check_int
from lightning_spectral.transforms.report import SpectralTransformWarning

__all__ = ["recalibrate_batch_norm_"]


def _input_of(batch: Any) -> Any:
    """The model input of a batch: the batch itself, or the first element of a tuple/list."""
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise ValueError("recalibrate_batch_norm_: a batch is an empty tuple/list")
        return batch[0]
    return batch


def _statistics(norm: _BatchNorm) -> list[torch.Tensor]:
    return [norm.running_mean, norm.running_var, norm.num_batches_tracked]  # type: ignore[list-item]


@torch.no_grad()
def recalibrate_batch_norm_(
    model: nn.Module, batches: Iterable[Any], *, num_batches: int | None = None
) -> int:
    """Re-estimate every batch norm's running statistics on the network as it is evaluated.

    Every module is put in eval mode except the batch norms (so spectral pools pass the full
    band and draw no dropout cutoff, band-limited convolutions use their eval compression and
    ``nn.Dropout`` is off); each batch norm's running mean and variance are reset and re-estimated
    as the plain average of the per-batch statistics (``momentum=None`` while it runs, so every
    batch weighs the same: give batches of equal size). Afterwards every module's train/eval mode
    and momentum are what they were. Nothing else changes: no gradient, no parameter, no dropout
    draw counter; no batch beyond ``num_batches`` is drawn from ``batches``.

    Call it after training with frequency dropout (or any train-time-only change of the
    activations) on a few hundred training samples, before evaluating or exporting.

    Args:
        model: any module; its batch norms (1D, 2D, 3D, with ``track_running_stats``) are
            re-estimated.
        batches: an iterable of inputs, or of ``(input, ...)`` tuples/lists (e.g. a
            ``DataLoader`` of ``(x, y)`` pairs); the input is moved to the model's device.
        num_batches: use at most this many batches (``None``: all).

    Returns:
        The number of batches used (0, with a :class:`SpectralTransformWarning`, when the model
        has no batch norm with running statistics).

    Raises:
        ValueError: ``batches`` is empty, or ``num_batches`` < 1 (the model is left as it was).
        TypeError: ``num_batches`` is not an int.

    Example:
        >>> from lightning_spectral.nn import SpectralPool2d
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), SpectralPool2d(scale=0.5, dropout_min=0.3),
        ...                     nn.BatchNorm2d(4))
        >>> recalibrate_batch_norm_(net, [torch.randn(8, 1, 16, 16) for _ in range(3)])
        3
        >>> net.training, net[1].dropout_draws  # modes kept, no dropout draw
        (True, 0)
    """
    if num_batches is not None:
        check_int(num_batches, "num_batches", minimum=1)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        warnings.warn(
            "recalibrate_batch_norm_: the model has no batch norm with running statistics; "
            "nothing to re-estimate",
            SpectralTransformWarning,
            stacklevel=2,
        )
        return 0
    modes = {module: module.training for module in model.modules()}
    momenta = {norm: norm.momentum for norm in norms}
    saved = {norm: [t.clone() for t in _statistics(norm)] for norm in norms}
    parameter = next(model.parameters(), None)
    device = None if parameter is None else parameter.device
    used = 0
    try:
        model.eval()
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average over the batches given
            norm.train()
        for batch in itertools.islice(batches, num_batches):
            x = _input_of(batch)
            model(x.to(device) if device is not None and torch.is_tensor(x) else x)
            used += 1
        if used == 0:
            raise ValueError("recalibrate_batch_norm_: `batches` yielded no batch")
    except BaseException:
        for norm, tensors in saved.items():  # leave the model as it was
            for target, value in zip(_statistics(norm), tensors, strict=True):
                target.copy_(value)
        raise
    finally:
        # Each module's own train()/eval() (a band-limited layer put back in training drops the
        # spectrum it cached meanwhile); parents come first, so every module ends in its own mode.
        for module, training in modes.items():
            module.train(training)
        for norm, momentum in momenta.items():
            norm.momentum = momentum
    return used
