"""Spectral plans in checkpoints, and restoring a trained spectral model without any callback.

The callbacks rewrite a model in ``setup`` (band-limited convolutions, spectral parametrizations,
spectral pooling). A checkpoint's ``state_dict`` therefore only fits a model that was rewritten
the same way, and :meth:`~pytorch_lightning.core.LightningModule.load_from_checkpoint` runs no
callback. So every checkpoint written while a spectral callback (or
:class:`SpectralCheckpointMixin`) is active also carries the *plan*, the plain-data description
of the rewrite from :func:`lightning_spectral.transforms.plan_of`::

    checkpoint["lightning_spectral"] = {"plan": {...}, "package_version": "0.1.0"}

It holds only dicts, lists, strings and numbers, so ``torch.load(path, weights_only=True)``
reads it. Restoring re-applies the plan to a freshly built model *before* its state dict is
loaded. Three ways, from the most to the least Lightning-specific:

* Mixin: ``class MyModel(SpectralCheckpointMixin, pl.LightningModule)`` makes
  ``MyModel.load_from_checkpoint(path)`` itself work (and ``Trainer(...).test(model,
  ckpt_path=...)`` without callbacks). It also writes the plan into every checkpoint, including
  weights-only ones, which do not run callback hooks.
* Helper: ``lightning_spectral.load_from_checkpoint(MyModel, path)`` for a LightningModule class
  without the mixin.
* Plain PyTorch: ``restore_(model, checkpoint)`` applies the plan of a checkpoint (a path or an
  already loaded dict) to any ``nn.Module`` and loads ``checkpoint["state_dict"]`` into it.

Deployment ("bake"). :func:`lightning_spectral.transforms.bake_` turns a trained spectral model
into its inference form (it folds what only training needs into plain tensors; see its
docstring for exactly what changes). The path from a training checkpoint to an inference
artefact::

    model = lightning_spectral.load_from_checkpoint(MyModel, "best.ckpt", bake=True)  # eval mode
    torch.save(inference_checkpoint(model), "deploy.pt")  # state dict + plan, plain data
    # ... later, anywhere, without Lightning callbacks:
    net = MyModel()  # or the bare nn.Module the weights belong to
    restore_(net, torch.load("deploy.pt", weights_only=True))
    net.eval()

``model.eval()`` is all inference needs: each band-limited layer picks its eval compression by
``self.training``.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import IO, Any, TypeVar

from lightning_spectral import transforms
from lightning_spectral._lightning_compat import classes, pl, pl_load
from lightning_spectral.plans_io import (
    CHECKPOINT_KEY,
    add_plan,
    inference_checkpoint,
    plan_from_checkpoint,
    restore_,
)

# The plain names are re-exported from here for code written before `plans_io` existed.
__all__ = [
    "CHECKPOINT_KEY",
    "SpectralCheckpointMixin",
    "add_plan",
    "inference_checkpoint",
    "load_from_checkpoint",
    "plan_from_checkpoint",
    "restore_",
]

_ModelT = TypeVar("_ModelT", bound=pl.LightningModule)
_PathLike = str | os.PathLike


class SpectralCheckpointMixin:
    """LightningModule mixin: checkpoints carry the spectral plan and load it back by themselves.

    Put it *before* :class:`pytorch_lightning.LightningModule` in the bases::

        class MyModel(SpectralCheckpointMixin, pl.LightningModule): ...

        model = MyModel.load_from_checkpoint("best.ckpt")  # no callbacks needed
        model.eval()  # band-limited layers switch to their eval compression

    ``on_load_checkpoint`` re-applies the plan before Lightning loads the state dict (Lightning
    calls it right after constructing the model in ``load_from_checkpoint``, and before
    restoring weights in ``Trainer.fit/validate/test/predict(ckpt_path=...)``; re-applying to
    an already rewritten model changes nothing). ``on_save_checkpoint`` stores the plan, so
    weights-only checkpoints, which skip callback hooks, carry it too. If your class overrides
    either hook, call ``super()``.

    Examples:
        >>> import pytorch_lightning as pl
        >>> from torch import nn
        >>> from lightning_spectral.transforms import band_limit_
        >>> class Model(SpectralCheckpointMixin, pl.LightningModule):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.conv = nn.Conv2d(1, 1, 3)
        >>> trained = Model()
        >>> _ = band_limit_(trained)
        >>> checkpoint = {"state_dict": trained.state_dict()}
        >>> trained.on_save_checkpoint(checkpoint)  # what Lightning calls when saving
        >>> fresh = Model()
        >>> fresh.on_load_checkpoint(checkpoint)  # what load_from_checkpoint calls
        >>> type(fresh.conv).__name__
        'BandLimitedConv2d'
    """

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Re-apply the checkpoint's plan to this (fresh) model before its weights are loaded."""
        plan = plan_from_checkpoint(checkpoint)
        if plan is not None:
            transforms.apply_plan_(self, plan)  # type: ignore[arg-type]
        super().on_load_checkpoint(checkpoint)  # type: ignore[misc]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store this model's plan in the checkpoint being saved."""
        super().on_save_checkpoint(checkpoint)  # type: ignore[misc]
        add_plan(checkpoint, self)  # type: ignore[arg-type]


def load_from_checkpoint(
    model_class: type[_ModelT],
    checkpoint_path: _PathLike | IO[bytes],
    map_location: Any = None,
    hparams_file: _PathLike | None = None,
    strict: bool | None = None,
    weights_only: bool | None = None,
    bake: bool = False,
    **kwargs: Any,
) -> _ModelT:
    """``model_class.load_from_checkpoint`` that also restores the spectral rewrite.

    For a class with :class:`SpectralCheckpointMixin` this is exactly
    ``model_class.load_from_checkpoint``. Otherwise Lightning builds the model from the saved
    hyperparameters and loads the weights that already fit (``strict=False``; the
    missing/unexpected-key warnings this produces are silenced), the stored plan is applied,
    and the full state dict is loaded again with ``strict``. The checkpoint file is read twice.

    Args:
        model_class: the LightningModule class the checkpoint was trained with.
        checkpoint_path: path or binary file of a Lightning checkpoint.
        map_location: as in ``LightningModule.load_from_checkpoint``.
        hparams_file: as in ``LightningModule.load_from_checkpoint``.
        strict: as in ``LightningModule.load_from_checkpoint`` (``None``: the model's
            ``strict_loading``, ``True`` by default); applies to the final load.
        weights_only: as in ``LightningModule.load_from_checkpoint``.
        bake: also call :func:`lightning_spectral.transforms.bake_` and switch to eval mode, for
            deployment.
        **kwargs: hyperparameters overriding the saved ones.

    Returns:
        An instance of ``model_class`` with the rewritten layers and the trained weights.
    """
    if not (isinstance(model_class, type) and issubclass(model_class, classes("LightningModule"))):
        raise TypeError(f"`model_class` must be a LightningModule class, got {model_class!r}")
    options = {
        "map_location": map_location,
        "hparams_file": hparams_file,
        "weights_only": weights_only,
    }
    if issubclass(model_class, SpectralCheckpointMixin):
        model = model_class.load_from_checkpoint(
            checkpoint_path, strict=strict, **options, **kwargs
        )
    else:
        if not isinstance(checkpoint_path, (str, os.PathLike)):
            # A stream is read twice below: keep its bytes.
            checkpoint_path = io.BytesIO(checkpoint_path.read())
        checkpoint = pl_load(
            checkpoint_path,
            map_location=map_location if map_location is not None else "cpu",
            weights_only=weights_only,
        )
        if isinstance(checkpoint_path, io.BytesIO):
            checkpoint_path.seek(0)
        plan = plan_from_checkpoint(checkpoint)
        if plan is None:
            model = model_class.load_from_checkpoint(
                checkpoint_path, strict=strict, **options, **kwargs
            )
        else:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Found keys that are")
                model = model_class.load_from_checkpoint(
                    checkpoint_path, strict=False, **options, **kwargs
                )
            transforms.apply_plan_(model, plan)
            final_strict = model.strict_loading if strict is None else strict
            model.load_state_dict(checkpoint["state_dict"], strict=final_strict)
    if bake:
        transforms.bake_(model)
        model.eval()
    return model
