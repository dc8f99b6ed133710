"""Spectral parametrization of convolution filters (Rippel et al. 2015, Sec. 4) as a callback."""

from __future__ import annotations

from torch.nn.utils import parametrize
from typing_extensions import override

from lightning_spectral import transforms
from lightning_spectral._lightning_compat import (
    MisconfigurationException,
    ModelPruning,
    classes,
    pl,
    pruning_parameter_names,
    pruning_targets,
)
from lightning_spectral.callbacks._common import spawned
from lightning_spectral.callbacks.rewrite import SpectralRewriteCallback
from lightning_spectral.nn import is_spectrally_parametrized

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
    ``StochasticWeightAveraging`` and ``WeightAveraging``. ``ModelPruning`` cannot prune a
    parametrized filter (its ``weight`` is computed from the spectral coefficients, not a
    parameter: with its default targets it would skip every such filter without a word), so
    ``setup`` refuses a ``ModelPruning`` that would target one, by default or by name. For
    deployment, :func:`lightning_spectral.transforms.bake_` folds the parametrization back into
    plain weights (prune after that).

    Strategies: single device, ``ddp``, and ``ddp_fork``/``ddp_notebook`` with the model
    parametrized before ``fit``. ``ddp_spawn`` is refused in ``setup``: it pickles the model, and
    torch cannot pickle parametrized modules.

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
        self.include = transforms.check_patterns(include, "include")
        self.exclude = transforms.check_patterns(exclude, "exclude")

    @override
    def rewrite(self, pl_module: pl.LightningModule) -> transforms.TransformReport:
        return transforms.parametrize_spectral_(
            pl_module, include=self.include, exclude=self.exclude
        )

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        launcher = getattr(trainer.strategy, "launcher", None)
        if spawned(trainer) and not launcher.is_interactive_compatible:
            # Start methods 'spawn'/'forkserver' pickle the model: refuse before rewriting.
            raise MisconfigurationException(
                "SpectralParametrizationCallback cannot run under a launcher that pickles the "
                f"model (`{type(launcher).__name__}` with start method 'spawn' or "
                "'forkserver', i.e. strategy='ddp_spawn'): torch cannot pickle parametrized "
                "modules, so the model cannot be parametrized before `fit`, and a model "
                "parametrized in the workers would lose its trained filters when Lightning "
                "hands the weights back with `load_state_dict(strict=False)`. Use "
                "`strategy='ddp'` (or 'ddp_fork' with "
                "`lightning_spectral.transforms.parametrize_spectral_` applied before `fit`)."
            )
        super().setup(trainer, pl_module, stage)
        if stage != "fit":
            return  # ModelPruning prunes during fit only
        for callback in trainer.callbacks:
            if isinstance(callback, classes("callbacks.ModelPruning")):
                _refuse_pruning(callback, pl_module)


def _refuse_pruning(callback: ModelPruning, pl_module: pl.LightningModule) -> None:
    """Raise if ``callback`` would target (or silently skip) a parametrized filter."""
    # User-given targets, or ModelPruning's resolved list if its own setup ran first.
    targets = pruning_targets(callback)
    names = tuple(pruning_parameter_names(callback) or ModelPruning.PARAMETER_NAMES)
    module_names = {id(module): name for name, module in pl_module.named_modules()}
    if targets:
        bad = [
            f"{module_names.get(id(module), type(module).__name__)}.{name}"
            for module, name in targets
            if parametrize.is_parametrized(module, name)
        ]
        problem = (
            "targets spectrally parametrized (or otherwise parametrized) tensors, which it cannot "
            "prune in place"
        )
    else:
        # Its default targets are the `nn.Parameter`s of these names: a parametrized weight is
        # a computed tensor, so it would be left out without a warning.
        bad = [
            f"{module_name}.{name}"
            for module_name, module in pl_module.named_modules()
            for name in names
            if is_spectrally_parametrized(module, name)
        ]
        problem = (
            f"with its default targets (parameter_names={list(names)}, no "
            "`parameters_to_prune`) would silently skip every spectrally parametrized filter "
            "(their `weight` is computed from the spectral coefficients, not an `nn.Parameter`)"
        )
    if bad:
        raise MisconfigurationException(
            f"SpectralParametrizationCallback and ModelPruning cannot be combined: ModelPruning "
            f"{problem}: {bad}. Either leave those layers out of the parametrization "
            "(`SpectralParametrizationCallback(exclude=[...])`), restrict ModelPruning to other "
            "tensors (`parameters_to_prune=[...]` or `parameter_names=['bias']`), or train "
            "without ModelPruning and prune after folding the parametrization into plain "
            "weights with `lightning_spectral.transforms.bake_`."
        )
