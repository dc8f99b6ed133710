"""The one place that names Lightning's packages and reaches into their private API (private).

Only the Lightning-facing layers (``callbacks``, ``checkpoint``'s Lightning part, ``cli``,
``sweep``, ``data``, ``models``) import this module; ``functional``, ``kernels``, ``nn``,
``transforms`` and :mod:`lightning_spectral.plans_io` never do (``tests/test_layers.py``
enforces it).

Namespaces: Lightning ships one framework under two import names, ``pytorch_lightning`` (the
required dependency) and ``lightning.pytorch`` (the ``lightning`` extra). Their classes are
distinct and the Trainer checks types, so the package's classes derive from the bases of
*every* namespace that imports (:data:`NAMESPACES`): :class:`Callback`,
:class:`LightningDataModule`, :class:`LightningModule` and :class:`MisconfigurationException`
below. One implementation then runs under ``pl.Trainer`` and ``L.Trainer`` alike, in a process
with either or both installed. Code that checks a user's object (a logger, a callback, a
strategy) uses :func:`classes`, which lists the class of every namespace. Annotations and the
CLI's own trainer keep :data:`pl` (``pytorch_lightning``), which is always installed; see
``docs/design.md`` ("Two Lightning namespaces").

Private API: each helper below wraps one private Lightning name and says which public API
would replace it, so an upgrade of Lightning breaks (and is fixed) here only.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from types import FrameType, ModuleType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import (
    ModelCheckpoint,
    ModelPruning,
    StochasticWeightAveraging,
    WeightAveraging,
)
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI
from pytorch_lightning.core.saving import pl_load
from pytorch_lightning.loggers import Logger, TensorBoardLogger
from pytorch_lightning.strategies import DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy
from pytorch_lightning.utilities.data import extract_batch_size
from pytorch_lightning.utilities.rank_zero import rank_zero_info, rank_zero_warn

try:  # the `lightning` extra
    import lightning.pytorch as _unified
except ImportError:
    _unified = None

__all__ = [
    "NAMESPACE",
    "NAMESPACES",
    "ArgsType",
    "Callback",
    "DeepSpeedStrategy",
    "FSDPStrategy",
    "LightningArgumentParser",
    "LightningCLI",
    "LightningDataModule",
    "LightningModule",
    "Logger",
    "MisconfigurationException",
    "ModelCheckpoint",
    "ModelParallelStrategy",
    "ModelPruning",
    "StochasticWeightAveraging",
    "TensorBoardLogger",
    "WeightAveraging",
    "classes",
    "extract_batch_size",
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

#: Import name of the Lightning package of the CLI (for ``class_path`` strings in its defaults).
NAMESPACE = pl.__name__

#: The Lightning namespaces that import here: ``pytorch_lightning`` first (required), then
#: ``lightning.pytorch`` when the ``lightning`` distribution is installed.
NAMESPACES: tuple[ModuleType, ...] = (pl,) if _unified is None else (pl, _unified)


def classes(path: str) -> tuple[type, ...]:
    """The class at ``path`` in every namespace of :data:`NAMESPACES`, for ``isinstance``.

    A user's Trainer may hold ``lightning.pytorch`` objects (its loggers, callbacks and
    strategy) as well as ``pytorch_lightning`` ones; checks against one namespace's class would
    silently miss the other's.

    Args:
        path: Dotted path below the namespace, e.g. ``"loggers.TensorBoardLogger"``.

    Returns:
        One class per namespace, ``pytorch_lightning``'s first.

    Example:
        >>> from lightning_spectral._lightning_compat import classes
        >>> classes("loggers.TensorBoardLogger")[0].__module__
        'pytorch_lightning.loggers.tensorboard'
    """
    module, _, name = path.rpartition(".")
    found = []
    for namespace in NAMESPACES:
        owner = importlib.import_module(f"{namespace.__name__}.{module}") if module else namespace
        found.append(getattr(owner, name))
    return tuple(found)


def _bases(name: str) -> tuple[type, ...]:
    return tuple(getattr(namespace, name) for namespace in NAMESPACES)


# Why some hooks are set to ``None`` in the bases below. Lightning decides whether a subclass
# implements a hook with ``is_overridden``: it compares the code object the instance resolves
# to with the one of the running namespace's base. With both namespaces in the bases, a hook
# the subclass does not define resolves to ``pytorch_lightning``'s function; for most hooks its
# code object equals ``lightning.pytorch``'s (code equality ignores the file name), but where
# the two sources differ (docstrings naming the namespace) ``L.Trainer`` sees an override that
# is not there. ``None`` reads as "not overridden" to both Trainers and to
# ``lightning_utilities.core.overrides.is_overridden``, and Lightning calls each hook listed
# here only after that check, so nothing calls the ``None``:
#
# * ``configure_sharded_model`` (deprecated) and ``configure_model``: a false override of both
#   is refused ("Both `configure_model`, and `configure_sharded_model` are overridden"), and
#   one of ``configure_model`` makes ``WeightAveraging`` warn and ``ModelParallelStrategy``
#   skip its "override configure_model" check. Their defaults do nothing.
# * ``train/val/test/predict_dataloader``: a false override makes the Trainer call the default,
#   which raises "`val_dataloader` must be implemented", where it would skip validation.
#
# Hooks whose code differs too, but whose false override changes nothing the tests could
# tell apart (``tests/test_namespaces.py`` lists them all and fails on a new one):
# ``optimizer_step`` (``GradientAccumulationScheduler`` warns that an overridden step is
# called once per optimizer step), ``lr_scheduler_step`` (the scheduler type check is
# skipped; the default then calls ``scheduler.step()``), ``predict_step`` (the "define
# forward" check is skipped; the default calls ``forward``), ``configure_optimizers``
# (``LightningCLI`` warns that ``--optimizer`` replaces it; the package's classifier defines
# it anyway) and, on callbacks, ``on_save_checkpoint``/``on_load_checkpoint``/
# ``on_train_epoch_end`` (never checked with ``is_overridden``).
_CALLED_ONLY_IF_OVERRIDDEN = {
    "LightningModule": (
        "configure_sharded_model",
        "configure_model",
        "train_dataloader",
        "val_dataloader",
        "test_dataloader",
        "predict_dataloader",
    ),
    "LightningDataModule": (
        "train_dataloader",
        "val_dataloader",
        "test_dataloader",
        "predict_dataloader",
    ),
    "Callback": (),
}


class _AnyNamespaceHyperparameters:
    """``save_hyperparameters`` that sees the configuration of either namespace's CLI.

    ``save_hyperparameters`` resolves to the first base's (``pytorch_lightning``'s), which reads
    only its own namespace's "given hyperparameters"; under ``lightning.pytorch``'s
    ``LightningCLI`` it would save the live arguments (a nested network as a module) instead of
    the parsed configuration. This passes the configuration on to it.
    """

    def save_hyperparameters(
        self,
        *args: Any,
        ignore: Sequence[str] | str | None = None,
        frame: FrameType | None = None,
        logger: bool = True,
    ) -> None:
        """As ``LightningModule.save_hyperparameters`` (same arguments)."""
        if frame is None:  # the caller's frame holds the arguments, not this one
            frame = inspect.currentframe().f_back  # type: ignore[union-attr]
        mixin = importlib.import_module(f"{pl.__name__}.core.mixins.hparams_mixin")
        variable = getattr(mixin, "_given_hyperparameters", None)  # older Lightning: unset
        given = given_hyperparameters()
        token = None if given is None or variable is None else variable.set(given)
        try:
            super().save_hyperparameters(  # type: ignore[misc]
                *args, ignore=ignore, frame=frame, logger=logger
            )
        finally:
            if token is not None:
                variable.reset(token)  # type: ignore[union-attr]


def _dual(name: str, doc: str) -> type:
    """A class deriving from ``name`` of every namespace, hooks of the table above unset."""
    namespace: dict[str, Any] = {"__doc__": doc, "__module__": __name__}
    bases = _bases(name)
    if len(NAMESPACES) > 1:
        namespace.update(dict.fromkeys(_CALLED_ONLY_IF_OVERRIDDEN[name]))
        if name != "Callback":
            bases = (_AnyNamespaceHyperparameters, *bases)
    return type(name, bases, namespace)


def _trust_every_namespaces_instantiator() -> None:
    """Let each namespace's ``load_from_checkpoint`` rebuild models the other's CLI saved.

    Private: ``<namespace>.core.saving._ALLOWED_INSTANTIATORS``, the allowlist of the
    ``_instantiator`` a checkpoint saved by ``LightningCLI`` names (``<namespace>.cli.
    instantiate_module``). The package's classes load through ``pytorch_lightning``'s method
    (their first base), which lists only its own namespace's function, so a checkpoint from
    ``lightning.pytorch.cli.LightningCLI`` was refused. Only Lightning's own instantiators are
    added. Public replacement: none.
    """
    trusted = {f"{namespace.__name__}.cli.instantiate_module" for namespace in NAMESPACES}
    for namespace in NAMESPACES:
        saving = importlib.import_module(f"{namespace.__name__}.core.saving")
        allowed = getattr(saving, "_ALLOWED_INSTANTIATORS", None)
        if isinstance(allowed, set):  # older Lightning: no allowlist
            allowed.update(trusted)


if len(NAMESPACES) > 1:
    _trust_every_namespaces_instantiator()


Callback = _dual(
    "Callback", "Base of the package's callbacks: a ``Callback`` of every installed namespace."
)
LightningDataModule = _dual(
    "LightningDataModule",
    "Base of the package's data modules: a ``LightningDataModule`` of every namespace.",
)
LightningModule = _dual(
    "LightningModule",
    "Base of the package's LightningModules: a ``LightningModule`` of every namespace.",
)


class MisconfigurationException(*classes("utilities.exceptions.MisconfigurationException")):
    """The package's configuration error: ``MisconfigurationException`` of every namespace.

    ``except`` clauses written against either namespace's exception catch it.
    """


def is_multiprocessing_launcher(launcher: Any) -> bool:
    """Whether a strategy's launcher starts workers with ``multiprocessing`` (spawn, fork).

    Private: ``pytorch_lightning.strategies.launchers._MultiProcessingLauncher``. Public
    replacement: none; ``trainer.strategy.launcher.is_interactive_compatible`` is public but
    does not tell spawn from ``ddp`` subprocesses.
    """
    return isinstance(launcher, classes("strategies.launchers._MultiProcessingLauncher"))


def is_last_batch(trainer: pl.Trainer) -> bool:
    """Whether the training batch being processed is the epoch's last one.

    Private: ``trainer.fit_loop.epoch_loop.batch_progress`` (loop internals). Public
    replacement: none for iterable loaders of unknown length; ``trainer.num_training_batches``
    covers sized ones (callers check it first).
    """
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def given_hyperparameters() -> dict[str, Any] | None:
    """The hyperparameters ``LightningCLI`` is instantiating a module with, else ``None``.

    Private: ``<namespace>.core.mixins.hparams_mixin._given_hyperparameters`` (a context
    variable the CLI sets; each namespace's ``LightningCLI`` sets its own). Public replacement:
    none; ``save_hyperparameters`` reads it itself.
    """
    for namespace in NAMESPACES:
        mixin = importlib.import_module(f"{namespace.__name__}.core.mixins.hparams_mixin")
        variable = getattr(mixin, "_given_hyperparameters", None)  # older Lightning: unset
        given = None if variable is None else variable.get()
        if given is not None:
            return given
    return None


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
