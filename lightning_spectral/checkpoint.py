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
from collections.abc import Iterable, Mapping
from typing import IO, Any, TypeVar

from lightning_spectral import transforms
from lightning_spectral._lightning_compat import classes, pl
from lightning_spectral.plans_io import (
    CHECKPOINT_KEY,
    UnreadableCheckpointError,
    UntrustedCheckpointError,
    add_plan,
    check_checkpoint_classes,
    inference_checkpoint,
    plan_from_checkpoint,
    read_checkpoint,
    restore_,
)

# The plain names are re-exported from here for code written before `plans_io` existed.
__all__ = [
    "CHECKPOINT_KEY",
    "SpectralCheckpointMixin",
    "UnreadableCheckpointError",
    "UntrustedCheckpointError",
    "add_plan",
    "inference_checkpoint",
    "load_from_checkpoint",
    "plan_from_checkpoint",
    "restore_",
]

_ModelT = TypeVar("_ModelT", bound=pl.LightningModule)
_PathLike = str | os.PathLike


def _vetted(
    model_class: type,
    checkpoint_path: _PathLike | IO[bytes],
    map_location: Any,
    weights_only: bool | None,
    allowed_classes: Iterable[type | str],
) -> tuple[_PathLike | IO[bytes], Mapping[str, Any]]:
    """Read a checkpoint as data and refuse the classes it may not name, before Lightning
    imports or builds anything from it.

    Returns:
        The path (a stream becomes a rewound in-memory copy, as it is read again) and the dict.
    """
    if not isinstance(checkpoint_path, (str, os.PathLike)):
        checkpoint_path = io.BytesIO(checkpoint_path.read())
    loaded = read_checkpoint(
        checkpoint_path,
        map_location=map_location if map_location is not None else "cpu",
        weights_only=weights_only is not False,  # False only when the caller says so
    )
    if isinstance(allowed_classes, (str, type)):
        allowed_classes = [allowed_classes]
    source = (
        repr(os.fspath(checkpoint_path))
        if isinstance(checkpoint_path, (str, os.PathLike))
        else "the checkpoint"
    )
    check_checkpoint_classes(loaded, [model_class, *allowed_classes], source=source)
    return checkpoint_path, loaded


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

    @classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: _PathLike | IO[bytes],
        map_location: Any = None,
        hparams_file: _PathLike | None = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        allowed_classes: Iterable[type | str] = (),
        **kwargs: Any,
    ) -> Any:
        """Lightning's ``load_from_checkpoint``, refusing checkpoints that name foreign classes.

        The checkpoint is read as data first; a ``class_path`` in its hyperparameters must name
        ``cls``, a class of this package or one of ``allowed_classes``
        (:func:`~lightning_spectral.plans_io.check_checkpoint_classes`), otherwise
        :class:`~lightning_spectral.plans_io.UntrustedCheckpointError` is raised and nothing is
        imported. The other arguments are Lightning's.

        Args:
            checkpoint_path: path or binary file of a Lightning checkpoint.
            map_location: as in Lightning.
            hparams_file: as in Lightning.
            strict: as in Lightning.
            weights_only: as in Lightning.
            allowed_classes: classes, or import paths, the checkpoint may name besides the
                package's own and ``cls``.
            **kwargs: hyperparameters overriding the saved ones.
        """
        checkpoint_path, _ = _vetted(
            cls, checkpoint_path, map_location, weights_only, allowed_classes
        )
        return super().load_from_checkpoint(  # type: ignore[misc]
            checkpoint_path,
            map_location=map_location,
            hparams_file=hparams_file,
            strict=strict,
            weights_only=weights_only,
            **kwargs,
        )

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
    allowed_classes: Iterable[type | str] = (),
    **kwargs: Any,
) -> _ModelT:
    """``model_class.load_from_checkpoint`` that also restores the spectral rewrite.

    For a class with :class:`SpectralCheckpointMixin` this is exactly
    ``model_class.load_from_checkpoint``. Otherwise Lightning builds the model from the saved
    hyperparameters and loads the weights that already fit (``strict=False``; the
    missing/unexpected-key warnings this produces are silenced), the stored plan is applied,
    and the full state dict is loaded again with ``strict``. The checkpoint file is read twice.

    A checkpoint is data, never code: it is first read with ``weights_only=True`` (unless you
    pass ``weights_only=False``), and every ``class_path`` in its hyperparameters must name
    ``model_class``, a class of this package or one of ``allowed_classes``; anything else raises
    :class:`~lightning_spectral.plans_io.UntrustedCheckpointError` before it is imported.

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
        allowed_classes: classes, or their import paths (``"my_pkg.nets.Net"``), that the
            checkpoint's hyperparameters may name besides the package's own and
            ``model_class``.
        **kwargs: hyperparameters overriding the saved ones.

    Returns:
        An instance of ``model_class`` with the rewritten layers and the trained weights.

    Raises:
        FileNotFoundError: if there is no file at ``checkpoint_path``.
        UnreadableCheckpointError: if the file is empty, truncated or not a checkpoint.
        UntrustedCheckpointError: if the checkpoint names a class that is not allowed.
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
            checkpoint_path, strict=strict, allowed_classes=allowed_classes, **options, **kwargs
        )
    else:
        checkpoint_path, checkpoint = _vetted(
            model_class, checkpoint_path, map_location, weights_only, allowed_classes
        )
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
