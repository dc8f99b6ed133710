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

**A checkpoint is data, never code.** Files are read with ``weights_only=True`` (a file that is
empty, truncated or not a checkpoint raises :class:`UnreadableCheckpointError` naming it), and
the classes a checkpoint's hyperparameters name (``class_path`` entries, which Lightning and
jsonargparse import and instantiate) are checked by :func:`check_checkpoint_classes` *before*
anything is imported: only this package's classes and those the caller allows pass.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import torch
from torch import nn

from lightning_spectral import __version__, transforms

__all__ = [
    "CHECKPOINT_KEY",
    "UnreadableCheckpointError",
    "UntrustedCheckpointError",
    "add_plan",
    "check_checkpoint_classes",
    "checkpoint_class_paths",
    "inference_checkpoint",
    "plan_from_checkpoint",
    "read_checkpoint",
    "restore_",
]

#: Top-level checkpoint key under which the plan is stored.
CHECKPOINT_KEY = "lightning_spectral"

_PathLike = str | os.PathLike
# What torch.load raises for a file that is not a (complete) checkpoint: a truncated zip
# (RuntimeError "PytorchStreamReader failed ..."), an empty file (EOFError), a legacy pickle
# with garbage (UnpicklingError, KeyError, ValueError), a text file (UnpicklingError), and
# objects that weights_only refuses (UnpicklingError).
_UNREADABLE = (
    RuntimeError,
    EOFError,
    pickle.UnpicklingError,
    KeyError,
    ValueError,
    IndexError,
    UnicodeDecodeError,
    zipfile.BadZipFile,
    OSError,
)
# Hyperparameter keys that name a class to import and instantiate (jsonargparse, Lightning).
_CLASS_KEYS = ("class_path", "_class_path")
_PACKAGE_PREFIX = "lightning_spectral."


class UnreadableCheckpointError(ValueError):
    """A file given as a checkpoint is empty, truncated or not a checkpoint.

    The message names the file; the exception ``torch.load`` raised is the ``__cause__``.
    """


class UntrustedCheckpointError(ValueError):
    """A checkpoint names a class that it is not allowed to make the loader import.

    Raised before anything is imported or instantiated; the message names the class and how to
    allow it (``allowed_classes=``).
    """


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


def _source(checkpoint: _PathLike | IO[bytes]) -> str:
    if isinstance(checkpoint, (str, os.PathLike)):
        return repr(os.fspath(checkpoint))
    name = getattr(checkpoint, "name", None)
    return repr(name) if isinstance(name, str) else f"the {type(checkpoint).__name__} stream"


def read_checkpoint(
    checkpoint: Mapping[str, Any] | _PathLike | IO[bytes],
    map_location: Any = "cpu",
    *,
    weights_only: bool = True,
) -> Mapping[str, Any]:
    """A checkpoint as a dict: returned as is, or read with ``torch.load(weights_only=True)``.

    Args:
        checkpoint: a loaded checkpoint dict, or a path / binary file (a file object is rewound
            to where it was).
        map_location: as in :func:`torch.load`.
        weights_only: as in :func:`torch.load`; pass ``False`` only for a file you trust
            (it lets the file run code).

    Returns:
        The checkpoint mapping.

    Raises:
        FileNotFoundError: if there is no file at the path.
        UnreadableCheckpointError: if the file is empty, truncated, not a checkpoint, or holds
            objects ``weights_only`` refuses (a ``ValueError``; the original error is the cause).

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
    if isinstance(checkpoint, (str, os.PathLike)) and not os.path.exists(checkpoint):
        raise FileNotFoundError(f"no checkpoint file at {os.fspath(checkpoint)!r}")
    position = None if isinstance(checkpoint, (str, os.PathLike)) else checkpoint.tell()
    try:
        loaded = torch.load(checkpoint, map_location=map_location, weights_only=weights_only)
    except _UNREADABLE as error:
        raise UnreadableCheckpointError(
            f"{_source(checkpoint)} is not a readable checkpoint (empty, truncated, not written "
            f"by torch.save, or holding objects other than tensors and plain data): "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from error
    finally:
        if position is not None:
            checkpoint.seek(position)  # type: ignore[union-attr]
    if not isinstance(loaded, Mapping):
        raise UnreadableCheckpointError(
            f"{_source(checkpoint)} is not a readable checkpoint: it holds a "
            f"{type(loaded).__name__}, not a dict"
        )
    return loaded


def _walk(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _CLASS_KEYS:
                yield f"{where}[{key!r}]", item
            else:
                yield from _walk(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")


def checkpoint_class_paths(checkpoint: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every class a checkpoint's hyperparameters name for import (``class_path`` entries).

    Args:
        checkpoint: a loaded checkpoint dict.

    Returns:
        ``(where, class path)`` pairs, ``where`` the entry's place in the checkpoint.

    Examples:
        >>> ckpt = {"hyper_parameters": {"net": {"class_path": "my_pkg.Net", "init_args": {}}}}
        >>> checkpoint_class_paths(ckpt)
        [("checkpoint['hyper_parameters']['net']['class_path']", 'my_pkg.Net')]
    """
    found = []
    for key in ("hyper_parameters", "datamodule_hyper_parameters", "hparams", "module_arguments"):
        if key in checkpoint:
            found.extend(_walk(checkpoint[key], f"checkpoint[{key!r}]"))
    return found


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_checkpoint_classes(
    checkpoint: Mapping[str, Any],
    allowed_classes: Iterable[type | str] = (),
    *,
    source: str = "the checkpoint",
) -> None:
    """Refuse a checkpoint whose hyperparameters name a class outside the allowlist.

    Loading a Lightning checkpoint rebuilds the model from its hyperparameters, and a
    ``class_path`` there is imported (running that module's top-level code) and instantiated.
    A checkpoint may name this package's classes (``lightning_spectral.*``) and the classes in
    ``allowed_classes``; anything else raises before anything is imported.

    Args:
        checkpoint: a loaded checkpoint dict.
        allowed_classes: classes, or their import paths (``"my_pkg.models.Net"``), that the
            checkpoint may name besides the package's own.
        source: how to name the checkpoint in the message (e.g. its path).

    Raises:
        TypeError: if ``allowed_classes`` holds something other than classes and strings.
        UntrustedCheckpointError: naming the first class that is not allowed and how to allow
            it (a ``ValueError``).

    Examples:
        >>> ckpt = {"hyper_parameters": {"net": {"class_path": "my_pkg.Net"}}}
        >>> check_checkpoint_classes(ckpt, allowed_classes=["my_pkg.Net"])
        >>> try:
        ...     check_checkpoint_classes(ckpt)
        ... except UntrustedCheckpointError as error:
        ...     print(str(error)[:46])
        the checkpoint names the class 'my_pkg.Net' (a
    """
    if isinstance(allowed_classes, (str, type)):
        allowed_classes = [allowed_classes]
    allowed = set()
    for item in allowed_classes:
        if isinstance(item, type):
            allowed.add(_qualified(item))
        elif isinstance(item, str):
            allowed.add(item)
        else:
            raise TypeError(
                f"`allowed_classes` must hold classes or import paths (strings), got {item!r}"
            )
    for where, path in checkpoint_class_paths(checkpoint):
        if isinstance(path, str) and (path.startswith(_PACKAGE_PREFIX) or path in allowed):
            continue
        raise UntrustedCheckpointError(
            f"{source} names the class {path!r} (at {where}), which loading would import and "
            "instantiate, running its module's code; only lightning_spectral's classes and "
            "those you allow may be named. If you trust this checkpoint, pass "
            f"`allowed_classes=[{path!r}]` (or the class itself) to the loader "
            "(`--allowed_classes` on the command line)."
        )


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
