"""Spectral parametrization of convolution filters, baking it back, and its plan entry."""

from __future__ import annotations

import re
from typing import Any

from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize

from lightning_spectral.nn import (
    SpectralFilterParametrization,
    is_spectrally_parametrized,
    register_spectral_parametrization,
)
from lightning_spectral.transforms._select import FilterFn, Patterns, label, modules, select
from lightning_spectral.transforms.plans import Rewrite, register_rewrite
from lightning_spectral.transforms.report import TransformReport, warn_report

__all__ = ["bake_", "parametrize_spectral_", "spectrally_parametrized"]


def _parametrize(
    model: nn.Module,
    include: Patterns,
    exclude: Patterns,
    report: TransformReport,
    filter_fn: FilterFn | None = None,
) -> str:
    """The rewrite itself (shared by :func:`parametrize_spectral_` and the plan)."""
    selection = select(model, include, exclude, (_ConvNd,), filter_fn)
    report.unmatched.extend(selection.unmatched)
    for name, _, module in selection.candidates:
        if is_spectrally_parametrized(module):
            report.unchanged.append(name)
            continue
        problem = None
        if isinstance(module, nn.modules.lazy.LazyModuleMixin) and (
            module.has_uninitialized_params()
        ):
            problem = "lazy convolution with uninitialised parameters (run a forward first)"
        elif parametrize.is_parametrized(module, "weight"):
            others = ", ".join(type(p).__name__ for p in module.parametrizations["weight"])
            problem = f"weight already has parametrizations ({others})"
        elif "weight" not in module._parameters:
            problem = "weight is not a parameter (old-style weight_norm/spectral_norm hook?)"
        elif module.weight.dim() - 2 > 3:
            problem = "kernels with more than 3 dimensions are not supported"
        if problem is not None:
            report.skipped[label(name)] = problem
            continue
        register_spectral_parametrization(module)
        report.changed.append(name)
    return selection.hint


def parametrize_spectral_(
    model: nn.Module,
    include: Patterns = None,
    exclude: Patterns = None,
    *,
    filter_fn: FilterFn | None = None,
) -> TransformReport:
    """Store every convolution's filters as their real spectrum (Rippel et al. Sec. 4), in place.

    Works on ``nn.Conv1d/2d/3d``, transposed convolutions and band-limited convolutions; the
    outputs do not change (see :mod:`lightning_spectral.nn.parametrization`). Convolutions whose
    weight already carries another parametrization are skipped with the reason.

    Args:
        model: any module.
        include: name patterns to consider.
        exclude: name patterns to leave alone.
        filter_fn: optional predicate ``filter_fn(module, name) -> bool``; only convolutions
            the patterns select *and* the predicate accepts are considered. One that accepts
            no convolution warns, like a pattern that matches none.

    Returns:
        The :class:`TransformReport`.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> conv = nn.Sequential(nn.Conv2d(1, 2, 3))
        >>> x = torch.randn(1, 1, 6, 6)
        >>> before = conv(x)
        >>> parametrize_spectral_(conv).changed
        ['0']
        >>> torch.allclose(conv(x), before, atol=1e-5)
        True
    """
    report = TransformReport("parametrize_spectral_")
    hint = _parametrize(model, include, exclude, report, filter_fn)
    return warn_report(report, hint)


def spectrally_parametrized(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every module whose weight is spectrally parametrized.

    Examples:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv1d(1, 1, 3), nn.Conv1d(1, 1, 3))
        >>> _ = parametrize_spectral_(model, include="1")
        >>> [name for name, _ in spectrally_parametrized(model)]
        ['1']
    """
    return [(name, m) for name, _, m in modules(model) if is_spectrally_parametrized(m)]


def bake_(model: nn.Module) -> TransformReport:
    """Turn spectral parametrizations back into plain spatial weights (for deployment), in place.

    The weight becomes a plain ``Parameter`` holding the current filter, so outputs do not
    change. Weights whose parametrization chain also holds other parametrizations are skipped.

    Args:
        model: any module.

    Returns:
        The :class:`TransformReport`.

    Examples:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 1, 3))
        >>> _ = parametrize_spectral_(model)
        >>> bake_(model).changed, spectrally_parametrized(model)
        (['0'], [])
    """
    report = TransformReport("bake_")
    for name, _, module in modules(model):
        if not is_spectrally_parametrized(module):
            continue
        chain = list(module.parametrizations["weight"])
        if not all(isinstance(p, SpectralFilterParametrization) for p in chain):
            others = ", ".join(type(p).__name__ for p in chain)
            report.skipped[label(name)] = f"weight has other parametrizations too ({others})"
            continue
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        report.changed.append(name)
    return warn_report(report)


def _describe(module: nn.Module) -> dict[str, Any] | None:
    return {} if is_spectrally_parametrized(module) else None


def _apply(model: nn.Module, name: str, entry: dict[str, Any]) -> TransformReport:
    step = TransformReport("parametrize_spectral_")
    _parametrize(model, "re:" + re.escape(name), None, step)
    if step.skipped:
        raise ValueError(f"cannot apply the plan's spectral parametrizations: {step.skipped}")
    return step


register_rewrite(Rewrite("spectral_parametrization", _describe, _apply, order=30, listed=True))
