"""The public base class of the callbacks that rewrite the model at ``setup``."""

from __future__ import annotations

import weakref
from typing import Any

from typing_extensions import override

from lightning_spectral._lightning_compat import (
    Callback,
    MisconfigurationException,
    classes,
    pl,
    rank_zero_info,
    rank_zero_warn,
)
from lightning_spectral.callbacks._common import CAPTURING_CALLBACKS, check_strategy, spawned
from lightning_spectral.checkpoint import SpectralCheckpointMixin, add_plan
from lightning_spectral.transforms import TransformReport

__all__ = ["SpectralRewriteCallback"]


def _describe(callback: Callback) -> str:
    selection = {k: getattr(callback, k, None) for k in ("include", "exclude")}
    return f"{type(callback).__name__}({', '.join(f'{k}={v!r}' for k, v in selection.items())})"


class SpectralRewriteCallback(Callback):
    """Base class of the callbacks that rewrite the model in ``setup``; subclass it for your own.

    A subclass implements :meth:`rewrite`, which calls a transform from
    :mod:`lightning_spectral.transforms` (or its own registered rewrite, see
    ``docs/design.md``) on the LightningModule and returns its
    :class:`~lightning_spectral.transforms.TransformReport`. ``setup`` (the only hook that runs
    before ``configure_optimizers``, the DDP wrap and a checkpoint restore) then:

    * refuses sharded strategies;
    * runs :meth:`rewrite` and warns when it changed no layer and found none already rewritten
      (an empty selection: the run would continue without the rewrite);
    * refuses a second instance of the same class in the ``Trainer`` whose selection overlaps
      this one's (the layers both select are rewritten by the first; the second would be
      silently ignored on them); instances with disjoint selections are fine;
    * refuses a rewrite after a callback that captures the model's parameters in its own setup
      (``StochasticWeightAveraging``, ``WeightAveraging``, ``ModelPruning``), and a rewrite
      inside a ``ddp_spawn``/``ddp_fork`` worker;
    * warns when ``ModelCheckpoint(save_weights_only=True)`` would write checkpoints without
      the plan.

    ``on_save_checkpoint`` stores the plan of the rewritten model in every checkpoint. The
    rewrite must be idempotent: ``setup`` runs again for validate/test/predict.

    Examples:
        >>> import pytorch_lightning as pl
        >>> from torch import nn
        >>> from lightning_spectral import SpectralRewriteCallback, transforms
        >>> class GlobalPoolsOnly(SpectralRewriteCallback):
        ...     '''Make only the adaptive average pools spectral.'''
        ...
        ...     def rewrite(self, pl_module):
        ...         return transforms.replace_pooling_(pl_module, kinds="adaptive_avg")
        >>> class Model(pl.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1))
        >>> model, callback = Model(), GlobalPoolsOnly()
        >>> trainer = pl.Trainer(callbacks=[callback], logger=False, enable_progress_bar=False)
        >>> callback.setup(trainer, model, stage="fit")
        >>> type(model.net[1]).__name__
        'SpectralPool2d'
    """

    def rewrite(self, pl_module: pl.LightningModule) -> TransformReport:
        """Rewrite ``pl_module`` in place and return the transform's report.

        Args:
            pl_module: the LightningModule being set up.

        Returns:
            The :class:`~lightning_spectral.transforms.TransformReport` of the rewrite.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement `rewrite(pl_module)`")

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        owner = type(self).__name__
        check_strategy(trainer, owner)
        report = self.rewrite(pl_module)
        if not isinstance(report, TransformReport):
            raise TypeError(
                f"{owner}.rewrite must return a TransformReport, got {type(report).__name__}"
            )
        self._claim(trainer, pl_module, report, owner)
        if not report.changed and not report.unchanged:
            rank_zero_warn(
                f"{owner}: {report.transform} changed no layer and found none already "
                f"rewritten, so the run continues without it. {report}"
            )
        if report.changed:
            self._check_order(trainer, owner)
            if spawned(trainer):
                raise MisconfigurationException(
                    f"{owner} rewrote {len(report.changed)} layer(s) inside a process started "
                    f"by `{type(trainer.strategy.launcher).__name__}` (strategy 'ddp_spawn' or "
                    "'ddp_fork'/'ddp_notebook'). Lightning hands the trained weights back to the "
                    "main process with `load_state_dict(strict=False)`, into a model that was "
                    "never rewritten, so the spectral weights would be dropped silently. Use "
                    f"`strategy='ddp'`, or apply the transform ({report.transform}) to the model "
                    "before `trainer.fit` (then this callback has nothing left to rewrite)."
                )
            rank_zero_info(f"{owner}: rewrote {len(report.changed)} layer(s): {report.changed}")
        self._warn_weights_only_checkpoints(trainer, pl_module, owner)

    def _claim(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        report: TransformReport,
        owner: str,
    ) -> None:
        # The layers this instance is responsible for in this model; another instance of the
        # same class in the Trainer must not claim any of them.
        claimed = {*report.changed, *report.unchanged}
        self._claimed = (weakref.ref(pl_module), claimed)
        callbacks = list(trainer.callbacks)
        for i, other in enumerate(callbacks):
            if other is self or type(other) is not type(self):
                continue
            module_ref, theirs = getattr(other, "_claimed", (None, set()))
            shared = sorted(claimed & theirs) if module_ref and module_ref() is pl_module else []
            if shared:
                mine = next((j for j, cb in enumerate(callbacks) if cb is self), "?")
                raise MisconfigurationException(
                    f"`Trainer(callbacks=...)` holds two {owner} instances selecting the same "
                    f"layers {shared}: #{i} {_describe(other)} and #{mine} {_describe(self)}. "
                    "The first rewrote those layers and the second would silently leave them "
                    "as they are. Give the instances disjoint `include`/`exclude`, or use one "
                    f"{owner}."
                )

    def _check_order(self, trainer: pl.Trainer, owner: str) -> None:
        callbacks = list(trainer.callbacks)
        if not any(cb is self for cb in callbacks):
            return
        position = next(i for i, cb in enumerate(callbacks) if cb is self)
        earlier = [
            type(cb).__name__ for cb in callbacks[:position] if isinstance(cb, CAPTURING_CALLBACKS)
        ]
        if earlier:
            raise MisconfigurationException(
                f"{owner} must come before {', '.join(earlier)} in `Trainer(callbacks=[...])`: "
                "those callbacks capture the model's parameters and modules in their own "
                f"`setup`, which ran before {owner} rewrote the model, so they would average or "
                "prune stale layers."
            )

    @staticmethod
    def _warn_weights_only_checkpoints(
        trainer: pl.Trainer, pl_module: pl.LightningModule, owner: str
    ) -> None:
        if isinstance(pl_module, SpectralCheckpointMixin):
            return
        for callback in trainer.checkpoint_callbacks:
            if (
                isinstance(callback, classes("callbacks.ModelCheckpoint"))
                and callback.save_weights_only
            ):
                rank_zero_warn(
                    f"{owner}: `ModelCheckpoint(save_weights_only=True)` skips callback hooks, so "
                    "its checkpoints will not carry the spectral plan needed to load them. "
                    "Derive your LightningModule from "
                    "`lightning_spectral.SpectralCheckpointMixin` (it stores the plan itself)."
                )
                return

    @override
    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        add_plan(checkpoint, pl_module)
