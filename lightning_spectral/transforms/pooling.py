"""Spectral pooling: max/avg (and adaptive) pools -> spectral pools, and its plan entry."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from torch import nn
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)

from lightning_spectral.functional import check_int, check_subset
from lightning_spectral.nn import SpectralPool1d, SpectralPool2d
from lightning_spectral.nn.pooling import _SpectralPoolNd
from lightning_spectral.transforms._select import (
    FilterFn,
    Patterns,
    label,
    modules,
    replace_module,
    select,
)
from lightning_spectral.transforms.plans import Rewrite, register_rewrite
from lightning_spectral.transforms.report import TransformReport, warn_report

__all__ = ["POOL_KINDS", "check_pool_kinds", "replace_pooling_", "spectral_pools"]

#: Pool kinds :func:`replace_pooling_` understands.
POOL_KINDS = ("max", "avg", "adaptive_max", "adaptive_avg")

_SPECTRAL_POOLS = {1: SpectralPool1d, 2: SpectralPool2d}
_POOL_BASES = {
    "max": _MaxPoolNd,
    "avg": _AvgPoolNd,
    "adaptive_max": _AdaptiveMaxPoolNd,
    "adaptive_avg": _AdaptiveAvgPoolNd,
}
_POOL_NDIM = {
    nn.MaxPool1d: 1,
    nn.MaxPool2d: 2,
    nn.AvgPool1d: 1,
    nn.AvgPool2d: 2,
    nn.AdaptiveMaxPool1d: 1,
    nn.AdaptiveMaxPool2d: 2,
    nn.AdaptiveAvgPool1d: 1,
    nn.AdaptiveAvgPool2d: 2,
}


def check_pool_kinds(kinds: Any) -> tuple[str, ...]:
    """Validate ``kinds``: one of :data:`POOL_KINDS` or a list of distinct ones.

    :func:`replace_pooling_` and :class:`~lightning_spectral.callbacks.SpectralPoolingCallback`
    both check ``kinds`` with this function.

    Raises:
        TypeError: if it is not a string or a list/tuple of strings.
        ValueError: if it is empty, repeats a kind or names an unknown one.

    Examples:
        >>> check_pool_kinds(["max", "adaptive_avg"])
        ('max', 'adaptive_avg')
    """
    return check_subset(kinds, "kinds", POOL_KINDS)


def _dropout_seed(seed: int, name: str) -> int:
    # Per-layer stream, the same on every process (crc32 is stable, unlike hash()).
    return (seed + zlib.crc32(name.encode())) % (2**31)


def _put(model: nn.Module, names: list[str], old: nn.Module, new: nn.Module) -> None:
    new.train(old.training)
    replace_module(model, names, old, new)


def _replace_pooling(
    model: nn.Module,
    kinds: tuple[str, ...],
    include: Patterns,
    exclude: Patterns,
    report: TransformReport,
    options: Callable[[str], dict[str, Any]],
    dropout_min: float | None,
    config: dict[str, Any] | None = None,
    filter_fn: FilterFn | None = None,
) -> str:
    """The rewrite itself (shared by :func:`replace_pooling_` and the plan); returns the hint.

    ``config`` (from a plan) is a spectral pool's full configuration: a torch pool becomes
    that pool, and an existing spectral pool of another configuration is rebuilt with it.
    Without ``config`` a torch pool becomes ``from_pool(pool, **options(name))`` and an
    existing spectral pool only takes ``dropout_min`` (when given).
    """
    bases = (*(_POOL_BASES[k] for k in kinds), _SpectralPoolNd)
    selection = select(model, include, exclude, bases, filter_fn)
    report.unmatched.extend(selection.unmatched)
    for name, names, module in selection.candidates:
        if isinstance(module, _SpectralPoolNd):
            if config is not None and module.config() != config:
                new = type(module)(**config)
                new.dropout_draws = module.dropout_draws  # the draw sequence continues
                _put(model, names, module, new)
                report.changed.append(name)
            elif config is None and dropout_min is not None and module.dropout_min != dropout_min:
                module.dropout_min = dropout_min
                report.changed.append(name)
            else:
                report.unchanged.append(name)
            continue
        cls = type(module)
        problem = None
        if cls not in _POOL_NDIM:
            problem = (
                "3D pooling is not supported (1D and 2D only)"
                if "3d" in cls.__name__
                else f"{cls.__name__} subclasses a torch pool with its own behaviour"
            )
        elif not name:
            problem = "the root module cannot be replaced in place"
        if problem is None:
            spectral = _SPECTRAL_POOLS[_POOL_NDIM[cls]]
            try:
                new = (
                    spectral.from_pool(module, **options(name))
                    if config is None
                    else spectral(**config)
                )
            except (TypeError, ValueError) as error:
                problem = str(error)
        if problem is not None:
            report.skipped[label(name)] = problem
            continue
        _put(model, names, module, new)
        report.changed.append(name)
    return selection.hint


def replace_pooling_(
    model: nn.Module,
    kinds: str | Iterable[str] = ("max", "avg"),
    include: Patterns = None,
    exclude: Patterns = None,
    *,
    dropout_min: float | None = None,
    seed: int = 0,
    filter_fn: FilterFn | None = None,
) -> TransformReport:
    """Replace pooling layers by spectral pools with the same output size, in place.

    ``"max"``/``"avg"`` are ``MaxPool``/``AvgPool`` 1D/2D: the spectral pool reproduces the
    window's output size for every input size (:class:`~lightning_spectral.nn.PoolWindow`).
    ``"adaptive_max"``/``"adaptive_avg"`` are the adaptive pools: the spectral pool has their
    output size; such a pool raises at run time for an input smaller than its output (spectral
    pooling does not upsample), so they are replaced only when asked for. Global average pooling
    (output 1) becomes the DC coefficient, i.e. the same mean. 3D pools, pools returning indices
    and windows whose output can exceed their input (stride 1 with padding) are skipped with the
    reason.

    Args:
        model: any module.
        kinds: subset of :data:`POOL_KINDS`.
        include: name patterns to consider.
        exclude: name patterns to leave alone.
        dropout_min: frequency-dropout lower bound ``c`` for the new pools (``None``: none); on
            existing spectral pools it is updated when given.
        seed: base seed; each pool draws from ``(seed + crc32(name)) mod 2**31``.
        filter_fn: optional predicate ``filter_fn(module, name) -> bool``; only pools the
            patterns select *and* the predicate accepts are considered. One that accepts no
            pool warns, like a pattern that matches none.

    Returns:
        The :class:`TransformReport`.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2))
        >>> replace_pooling_(model).changed
        ['1']
        >>> type(model[1]).__name__, model(torch.randn(1, 1, 8, 8)).shape
        ('SpectralPool2d', torch.Size([1, 4, 4, 4]))
    """
    kinds_t = check_pool_kinds(kinds)
    check_int(seed, "seed")
    if dropout_min is not None:
        SpectralPool1d(1, dropout_min=dropout_min)  # validate before rewriting anything
    report = TransformReport("replace_pooling_")
    hint = _replace_pooling(
        model,
        kinds_t,
        include,
        exclude,
        report,
        lambda name: {"dropout_min": dropout_min, "dropout_seed": _dropout_seed(seed, name)},
        dropout_min,
        filter_fn=filter_fn,
    )
    return warn_report(report, hint)


def spectral_pools(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every spectral pool in ``model``.

    Examples:
        >>> from torch import nn
        >>> from lightning_spectral.nn import SpectralPool1d
        >>> [name for name, _ in spectral_pools(nn.Sequential(nn.ReLU(), SpectralPool1d(4)))]
        ['1']
    """
    return [(name, m) for name, _, m in modules(model) if isinstance(m, _SpectralPoolNd)]


def _describe(module: nn.Module) -> dict[str, Any] | None:
    if not isinstance(module, _SpectralPoolNd):
        return None
    return {"ndim": module._ndim, **module.config()}


def _apply(model: nn.Module, name: str, entry: dict[str, Any]) -> TransformReport:
    module = model.get_submodule(name)
    ndim = entry.get("ndim")
    config = {key: entry.get(key) for key in ("output_size", "scale", "window", "dropout_min")}
    config["dropout_seed"] = entry["dropout_seed"]
    if isinstance(module, _SpectralPoolNd):
        if module._ndim != ndim:
            raise ValueError(f"cannot apply the plan to {name!r}: it is a {module._ndim}D pool")
    elif not name or type(module) not in _POOL_NDIM or _POOL_NDIM[type(module)] != ndim:
        raise ValueError(
            f"cannot replace {label(name)!r} by a {ndim}D spectral pool as the plan says: "
            f"it is a {type(module).__name__}"
        )
    step = TransformReport("replace_pooling_")
    _replace_pooling(
        model, POOL_KINDS, "re:" + re.escape(name), None, step, lambda _: {}, None, config=config
    )
    if step.skipped:
        raise ValueError(f"cannot replace pooling as the plan says: {step.skipped}")
    return step


register_rewrite(Rewrite("spectral_pool", _describe, _apply, order=20))
