"""Spectral plans in checkpoints, with plain PyTorch only (this module imports no Lightning).

Every checkpoint written while a spectral callback (or
:class:`~lightning_spectral.SpectralCheckpointMixin`) is active carries the *plan* of the rewrite
(:func:`lightning_spectral.transforms.plan_of`)::

    checkpoint["lightning_spectral"] = {"plan": {...}, "package_version": "0.1.0"}

It holds only dicts, lists, strings and numbers, so ``torch.load(path, weights_only=True)``
reads it. :func:`restore_` re-applies the plan to a freshly built model, then loads its
``state_dict``; :func:`inference_checkpoint` writes such a self-describing checkpoint for any
module. The Lightning-facing loaders (the mixin, ``load_from_checkpoint``) live in
:mod:`lightning_spectral.checkpoint`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

import torch
from torch import nn

from lightning_spectral import __version__, transforms

__all__ = [
    "CHECKPOINT_KEY",
    "add_plan",
    "inference_checkpoint",
    "plan_from_checkpoint",
    "read_checkpoint",
    "restore_",
]

#: Top-level checkpoint key under which the plan is stored.
CHECKPOINT_KEY = "lightning_spectral"

_PathLike = str | os.PathLike


def _plan_entry(model: nn.Module) -> dict[str, Any]:
    return {"plan": transforms.plan_of(model), "package_version": __version__}


def add_plan(checkpoint: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """Write the plan of ``model`` into ``checkpoint`` (in place) and return the checkpoint.

    Called by the callbacks' and the mixin's ``on_save_checkpoint``; both write the same data,
    so calling it more than once is harmless.

    Args:
        checkpoint: the checkpoint dict being saved.
        model: the (possibly rewritten) model whose state dict the checkpoint holds.

    Returns:
        ``checkpoint``, with ``checkpoint["lightning_spectral"]["plan"]`` set.

    Examples:
        >>> from torch import nn
        >>> from lightning_spectral.transforms import band_limit_
        >>> model = nn.Sequential(nn.Conv1d(1, 1, 3))
        >>> _ = band_limit_(model)
        >>> sorted(add_plan({}, model)[CHECKPOINT_KEY]["plan"]["band_limit"])
        ['0']
    """
    entry = _plan_entry(model)
    # torch.load(weights_only=True) must be able to read what we write.
    if not _is_plain(entry):
        raise TypeError(f"the plan of {type(model).__name__} is not plain data: {entry!r}")
    checkpoint[CHECKPOINT_KEY] = entry
    return checkpoint


def inference_checkpoint(model: nn.Module) -> dict[str, Any]:
    """A self-describing checkpoint: ``{"state_dict": ..., "lightning_spectral": {"plan": ...}}``.

    Everything in it is tensors or plain data, so ``torch.load(weights_only=True)`` reads it and
    :func:`restore_` rebuilds the model from a fresh, un-rewritten instance.

    Args:
        model: any module, typically after :func:`lightning_spectral.transforms.bake_`.

    Returns:
        The checkpoint dict (tensors are the module's own, not copies).

    Examples:
        >>> from torch import nn
        >>> sorted(inference_checkpoint(nn.Linear(2, 2)))
        ['lightning_spectral', 'state_dict']
    """
    return add_plan({"state_dict": model.state_dict()}, model)


def read_checkpoint(
    checkpoint: Mapping[str, Any] | _PathLike | IO[bytes], map_location: Any = "cpu"
) -> Mapping[str, Any]:
    """A checkpoint as a dict: returned as is, or read with ``torch.load(weights_only=True)``.

    Args:
        checkpoint: a loaded checkpoint dict, or a path / binary file (a file object is rewound
            to where it was).
        map_location: as in :func:`torch.load`.

    Returns:
        The checkpoint mapping.

    Examples:
        >>> import io, torch
        >>> buffer = io.BytesIO()
        >>> torch.save({"state_dict": {}}, buffer)
        >>> _ = buffer.seek(0)
        >>> read_checkpoint(buffer)
        {'state_dict': {}}
    """
    if isinstance(checkpoint, Mapping):
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        return torch.load(checkpoint, map_location=map_location, weights_only=True)
    position = checkpoint.tell()
    loaded = torch.load(checkpoint, map_location=map_location, weights_only=True)
    checkpoint.seek(position)
    return loaded


def plan_from_checkpoint(
    checkpoint: Mapping[str, Any] | _PathLike | IO[bytes],
) -> dict[str, Any] | None:
    """The plan stored in a checkpoint, or ``None`` if it has none.

    Args:
        checkpoint: a loaded checkpoint dict, or a path / binary file to load it from (read with
            ``weights_only=True``; a file object is rewound to where it was).

    Returns:
        The plan dict (see :func:`lightning_spectral.transforms.plan_of`) or ``None``.

    Raises:
        TypeError: if the stored entry is not a dict with a ``"plan"`` dict.

    Examples:
        >>> from torch import nn
        >>> plan_from_checkpoint({"state_dict": {}}) is None
        True
        >>> plan_from_checkpoint(inference_checkpoint(nn.Linear(2, 2)))["band_limit"]
        {}
    """
    loaded = read_checkpoint(checkpoint, map_location="cpu")
    entry = loaded.get(CHECKPOINT_KEY)
    if entry is None:
        return None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("plan"), Mapping):
        raise TypeError(
            f"checkpoint[{CHECKPOINT_KEY!r}] must be a dict with a 'plan' dict, got {entry!r}"
        )
    return dict(entry["plan"])


def restore_(
    model: nn.Module,
    checkpoint: Mapping[str, Any] | _PathLike | IO[bytes],
    strict: bool = True,
    map_location: Any = "cpu",
) -> transforms.TransformReport | None:
    """Apply a checkpoint's plan to ``model`` in place, then load its ``state_dict``.

    Works for any ``nn.Module`` whose fresh state dict keys match the checkpoint's once the plan
    is applied: a LightningModule and its own Lightning checkpoint, or a bare network and a
    checkpoint from :func:`inference_checkpoint`.

    Args:
        model: a freshly constructed (un-rewritten or already rewritten) model.
        checkpoint: a loaded checkpoint dict, or a path / binary file to load it from.
        strict: passed to :meth:`torch.nn.Module.load_state_dict`.
        map_location: where to load tensors when ``checkpoint`` is a path or file.

    Returns:
        The report of re-applying the plan, or ``None`` if the checkpoint carries no plan.

    Raises:
        KeyError: if the checkpoint has no ``"state_dict"``.

    Examples:
        >>> from torch import nn
        >>> from lightning_spectral.transforms import replace_pooling_
        >>> trained = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2))
        >>> _ = replace_pooling_(trained)
        >>> fresh = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2))
        >>> restore_(fresh, inference_checkpoint(trained)).changed
        ['1']
        >>> type(fresh[1]).__name__
        'SpectralPool2d'
    """
    loaded = read_checkpoint(checkpoint, map_location=map_location)
    if "state_dict" not in loaded:
        raise KeyError(f"the checkpoint has no 'state_dict' entry (keys: {sorted(loaded)})")
    plan = plan_from_checkpoint(loaded)
    report = transforms.apply_plan_(model, plan) if plan is not None else None
    model.load_state_dict(loaded["state_dict"], strict=strict)
    return report


def _is_plain(value: Any) -> bool:
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))
