"""The one place that names Lightning's package and reaches into its private API (private).

Only the Lightning-facing layers (``callbacks``, ``checkpoint``'s Lightning part, ``cli``,
``sweep``, ``models``) import this module; ``functional``, ``kernels``, ``nn``, ``transforms``
and :mod:`lightning_spectral.plans_io` never do (``tests/test_layers.py`` enforces it).

Namespace: everything Lightning below comes from :data:`pl`, imported here once. Supporting
``lightning.pytorch`` as well means choosing that module here (and :data:`NAMESPACE` follows).
``tests/test_layers.py`` lists the few files that still import Lightning by name.

Private API: each helper below wraps one private Lightning name and says which public API
would replace it, so an upgrade of Lightning breaks (and is fixed) here only.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import (
    Callback,
    ModelCheckpoint,
    ModelPruning,
    StochasticWeightAveraging,
    WeightAveraging,
)
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI
from pytorch_lightning.core.saving import pl_load
from pytorch_lightning.loggers import Logger, TensorBoardLogger
from pytorch_lightning.strategies import DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from pytorch_lightning.utilities.rank_zero import rank_zero_info, rank_zero_warn

__all__ = [
    "NAMESPACE",
    "ArgsType",
    "Callback",
    "DeepSpeedStrategy",
    "FSDPStrategy",
    "LightningArgumentParser",
    "LightningCLI",
    "Logger",
    "MisconfigurationException",
    "ModelCheckpoint",
    "ModelParallelStrategy",
    "ModelPruning",
    "StochasticWeightAveraging",
    "TensorBoardLogger",
    "WeightAveraging",
    "given_hyperparameters",
    "is_last_batch",
    "is_multiprocessing_launcher",
    "pl",
    "pl_load",
    "pruning_parameter_names",
    "pruning_targets",
    "rank_zero_info",
    "rank_zero_warn",
]

#: Import name of the Lightning package in use (for ``class_path`` strings in configurations).
NAMESPACE = pl.__name__


def is_multiprocessing_launcher(launcher: Any) -> bool:
    """Whether a strategy's launcher starts workers with ``multiprocessing`` (spawn, fork).

    Private: ``pytorch_lightning.strategies.launchers._MultiProcessingLauncher``. Public
    replacement: none; ``trainer.strategy.launcher.is_interactive_compatible`` is public but
    does not tell spawn from ``ddp`` subprocesses.
    """
    from pytorch_lightning.strategies.launchers import _MultiProcessingLauncher

    return isinstance(launcher, _MultiProcessingLauncher)


def is_last_batch(trainer: pl.Trainer) -> bool:
    """Whether the training batch being processed is the epoch's last one.

    Private: ``trainer.fit_loop.epoch_loop.batch_progress`` (loop internals). Public
    replacement: none for iterable loaders of unknown length; ``trainer.num_training_batches``
    covers sized ones (callers check it first).
    """
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def given_hyperparameters() -> dict[str, Any] | None:
    """The hyperparameters ``LightningCLI`` is instantiating a module with, else ``None``.

    Private: ``pytorch_lightning.core.mixins.hparams_mixin._given_hyperparameters`` (a context
    variable the CLI sets). Public replacement: none; ``save_hyperparameters`` reads it itself.
    """
    try:
        from pytorch_lightning.core.mixins.hparams_mixin import _given_hyperparameters
    except ImportError:  # older Lightning: the CLI did not set it
        return None
    return _given_hyperparameters.get()


def pruning_targets(callback: ModelPruning) -> list[tuple[Any, str]]:
    """``(module, tensor name)`` pairs a ``ModelPruning`` callback will prune (after its setup).

    Private: ``ModelPruning._parameters_to_prune``. Public replacement: none; the constructor
    argument ``parameters_to_prune`` is empty for the default "every weight" selection.
    """
    return list(getattr(callback, "_parameters_to_prune", None) or ())


def pruning_parameter_names(callback: ModelPruning) -> list[str]:
    """Tensor names a ``ModelPruning`` callback prunes by default (``parameter_names=``).

    Private: ``ModelPruning._parameter_names``. Public replacement: none; the constructor keeps
    the argument only in this attribute.
    """
    return list(getattr(callback, "_parameter_names", None) or ())
