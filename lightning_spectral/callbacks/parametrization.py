"""Spectral parametrization of convolution filters (Rippel et al. 2015, Sec. 4) as a callback."""

from __future__ import annotations

from torch.nn.utils import parametrize
from typing_extensions import override

from lightning_spectral import transforms
from lightning_spectral._lightning_compat import (
    MisconfigurationException,
    ModelPruning,
    pl,
    pruning_targets,
)
from lightning_spectral.callbacks._common import check_patterns
from lightning_spectral.callbacks.rewrite import SpectralRewriteCallback

__all__ = ["SpectralParametrizationCallback"]


class SpectralParametrizationCallback(SpectralRewriteCallback):
    """Learn the selected convolutions' filters in the frequency domain.

    At ``setup`` every selected convolution's ``weight`` is re-parametrized through
    :mod:`torch.nn.utils.parametrize` by its spectral coefficients
    (:class:`~lightning_spectral.nn.SpectralFilterParametrization`); the existing filters map
    exactly, so the model's outputs do not change. The optimizer, built after ``setup``, then
    trains the spectral coefficients. The rewrite is idempotent (already parametrized layers are
    left as they are) and runs before the DDP wrap and before a checkpoint is restored.

    Combine it with :class:`~lightning_spectral.callbacks.BandLimitCallback` in either order
    (band-limited convolutions keep the parametrization). Put it before
    ``StochasticWeightAveraging``, ``WeightAveraging`` and ``ModelPruning``. ``ModelPruning``
    cannot prune a parametrized filter (its ``weight`` is computed, not a parameter): with its
    default targets it would silently skip them, so that combination is refused in ``setup``,
    and naming a parametrized ``weight`` in its ``parameters_to_prune`` is refused at fit start.
    For deployment, :func:`lightning_spectral.transforms.bake_` folds the parametrization back
    into plain weights.

    Args:
        include: layers to parametrize (fully qualified module names, globs, or
            ``"re:<regex>"``); ``None`` for every supported convolution.
        exclude: layers to leave alone, same syntax.

    Raises:
        TypeError: if ``include``/``exclude`` is not a string or a list of strings.
        ValueError: if a pattern is empty or an invalid regex.

    Examples:
        >>> SpectralParametrizationCallback(include="net.features.*").include
        ['net.features.*']
    """

    def __init__(
        self, include: str | list[str] | None = None, exclude: str | list[str] | None = None
    ) -> None:
        super().__init__()
        self.include = check_patterns(include, "include")
        self.exclude = check_patterns(exclude, "exclude")

    @override
    def rewrite(self, pl_module: pl.LightningModule) -> transforms.TransformReport:
        return transforms.parametrize_spectral_(
            pl_module, include=self.include, exclude=self.exclude
        )

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        parametrized = [name for name, _ in transforms.spectrally_parametrized(pl_module)]
        for callback in trainer.callbacks:
            # Before ModelPruning's own setup (it must come after this callback), an empty
            # target list means "every weight": the parametrized ones would be left out silently.
            if (
                parametrized
                and isinstance(callback, ModelPruning)
                and not pruning_targets(callback)
            ):
                raise MisconfigurationException(
                    "ModelPruning with its default targets (every weight) would silently prune "
                    f"none of the spectrally parametrized weights {parametrized[:5]}: their value "
                    "is computed from the spectral coefficients, not a parameter. Bake the "
                    "parametrization first (`lightning_spectral.transforms.bake_`), leave those "
                    "layers out of SpectralParametrizationCallback (`exclude=`), or pass "
                    "ModelPruning(parameters_to_prune=...) naming the layers to prune."
                )

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for callback in trainer.callbacks:
            if not isinstance(callback, ModelPruning):
                continue
            # ModelPruning resolves its targets in its own `setup`, which has run by now.
            targets = pruning_targets(callback)
            bad = [
                f"{type(module).__name__}.{name}"
                for module, name in targets
                if parametrize.is_parametrized(module, name)
            ]
            if bad:
                raise MisconfigurationException(
                    f"ModelPruning targets spectrally parametrized tensors {bad}: their value is "
                    "computed from the spectral coefficients and cannot be pruned in place. "
                    "Leave them out of `parameters_to_prune`, or bake the parametrization "
                    "(`lightning_spectral.transforms.bake_`) before pruning."
                )
