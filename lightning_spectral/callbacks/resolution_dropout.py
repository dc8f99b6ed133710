"""Random resolution reduction ("frequency dropout", Rippel et al. 2015, Sec. 3.2 and 5.1)."""

from __future__ import annotations

from typing import Any

from torch.nn.modules.batchnorm import _BatchNorm
from typing_extensions import override

from lightning_spectral import transforms
from lightning_spectral._lightning_compat import Callback, pl, rank_zero_warn
from lightning_spectral.callbacks._common import epoch_schedule, scheduled
from lightning_spectral.functional import check_number

__all__ = ["ResolutionDropoutScheduler"]


def _check_coefficient(value: Any, name: str) -> float:
    return check_number(value, name, 0.0, 1.0)


def _check_pair(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or len(value) != 2:
        raise TypeError(f"`{name}` must be a pair [alpha, beta], got {value!r}")
    return _check_coefficient(value[0], f"{name}[0] (alpha)"), _check_coefficient(
        value[1], f"{name}[1] (beta)"
    )


class ResolutionDropoutScheduler(Callback):
    """Set each spectral pooling layer's frequency-dropout lower bound by depth.

    Layer ``m = 1 .. M`` of the ``M`` spectral pools (in module registration order, i.e. depth
    for sequential models) gets ``c_m = alpha + (m / M) * (beta - alpha)`` (Rippel et al.,
    Sec. 5.1; the deepest pool gets ``beta``, as in :class:`lightning_spectral.models`'s Rippel
    network). In every training step a pool then keeps a random number of frequencies, uniform
    in ``[floor(c_m * H), H]`` for an output of size ``H`` (no dropout in eval mode).

    The values are set before every training batch from ``trainer.current_epoch``
    (``scheduling`` may change ``alpha``/``beta`` at given epochs), so a run resumed anywhere,
    also in the middle of an epoch (where Lightning does not call ``on_train_epoch_start``
    again), follows the same schedule without extra state. The random cutoffs come from each
    layer's own seeded generator and a draw counter saved in the state dict, so every DDP rank
    draws the same cutoff and a resumed run continues the sequence.

    Use it with :class:`~lightning_spectral.callbacks.SpectralPoolingCallback` (in any order)
    or a model that already has spectral pools; it warns at fit start if there are none. It
    also warns when the model has batch norm layers: their running statistics are trained on
    band-limited activations, and evaluation passes the full band; re-estimate them with
    :func:`lightning_spectral.transforms.recalibrate_batch_norm_` before evaluating.

    Args:
        alpha: ``c`` extrapolated to depth 0, in ``[0, 1]`` (Rippel's search range
            ``[0, 0.8]``, best ``~0.30``).
        beta: ``c`` of the deepest pool, in ``[0, 1]`` (best ``~0.15``).
        scheduling: optional ``{epoch: [alpha, beta]}`` taking effect at those epochs, e.g.
            ``{10: [0.5, 0.3]}``; before the first entry ``alpha``/``beta`` apply.

    Raises:
        ValueError: if a coefficient is outside ``[0, 1]`` or an epoch is negative.
        TypeError: if an argument has the wrong type.

    Examples:
        >>> scheduler = ResolutionDropoutScheduler(0.3, 0.15, scheduling={10: [0.5, 0.3]})
        >>> scheduler.coefficients_at(0), scheduler.coefficients_at(12)
        ((0.3, 0.15), (0.5, 0.3))
    """

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.15,
        scheduling: dict[int, list[float]] | None = None,
    ) -> None:
        super().__init__()
        self.alpha = _check_coefficient(alpha, "alpha")
        self.beta = _check_coefficient(beta, "beta")
        self.scheduling = epoch_schedule(scheduling, "scheduling", _check_pair)

    def coefficients_at(self, epoch: int) -> tuple[float, float]:
        """``(alpha, beta)`` in effect at ``epoch``."""
        return scheduled(self.scheduling, epoch, (self.alpha, self.beta))

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After every callback's setup, so pools created by SpectralPoolingCallback count.
        if not transforms.spectral_pools(pl_module):
            rank_zero_warn(
                "ResolutionDropoutScheduler: the model has no spectral pooling layers, so there "
                "is nothing to drop out. Add SpectralPoolingCallback or use "
                "lightning_spectral.nn.SpectralPool1d/2d."
            )
            return
        norms = [
            name
            for name, module in pl_module.named_modules()
            if isinstance(module, _BatchNorm) and module.track_running_stats
        ]
        if norms:
            # Not an error: the weights are fine, the eval-mode statistics are not.
            rank_zero_warn(
                "ResolutionDropoutScheduler: the model has batch norm layers "
                f"({', '.join(norms[:3])}{', ...' if len(norms) > 3 else ''}). Frequency "
                "dropout trains their running statistics on band-limited activations, while "
                "validation, test and predict pass the full band, so eval-mode metrics can be "
                "far worse than the weights are. Re-estimate the statistics before evaluating: "
                "lightning_spectral.transforms.recalibrate_batch_norm_(model, train_batches) "
                "(docs: experiments, spectral pooling classification)."
            )

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        # Derived at every use, not at the epoch start: a mid-epoch resume skips that hook.
        alpha, beta = self.coefficients_at(trainer.current_epoch)
        pools = transforms.spectral_pools(pl_module)
        for m, (_, pool) in enumerate(pools, start=1):
            pool.dropout_min = alpha + (m / len(pools)) * (beta - alpha)
