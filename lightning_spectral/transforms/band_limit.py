"""Band limiting: ``nn.Conv1d``/``nn.Conv2d`` -> band-limited FFT convolutions; its plan entry."""

from __future__ import annotations

import re
import warnings
from typing import Any

from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd
from torch.nn.utils import parametrize

from lightning_spectral.functional import check_bool, check_compression
from lightning_spectral.nn import (
    BandLimitedConv1d,
    BandLimitedConv2d,
    is_spectrally_parametrized,
    register_spectral_parametrization,
)
from lightning_spectral.nn.conv import _BandLimitedConvNd, band_limit_config
from lightning_spectral.transforms._select import (
    FilterFn,
    Patterns,
    base_class,
    label,
    modules,
    replace_module,
    select,
)
from lightning_spectral.transforms.plans import Rewrite, register_rewrite
from lightning_spectral.transforms.report import (
    SpectralTransformWarning,
    TransformReport,
    warn_report,
)

__all__ = ["band_limit_", "set_compression_", "spectral_modules"]

_BAND_LIMITED = {1: BandLimitedConv1d, 2: BandLimitedConv2d}
_CONVS = {nn.Conv1d: 1, nn.Conv2d: 2}


def conv_problem(module: nn.Module) -> str | None:
    """Why a convolution cannot become band-limited (``None`` if it can)."""
    if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params():
        return "lazy convolution with uninitialised parameters (run a forward first)"
    if isinstance(module, _ConvTransposeNd):
        return f"transposed convolution ({type(module).__name__}) is not supported"
    base = base_class(module)
    if base not in _CONVS:
        if isinstance(module, nn.Conv3d):
            return "3D convolution is not supported (1D and 2D only)"
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            return (
                f"{base.__name__} subclasses {base.__mro__[1].__name__} with its own behaviour; "
                "replacing it would drop that behaviour"
            )
        return f"{base.__name__} is not a 1D/2D convolution"
    if "weight" not in module._parameters and not parametrize.is_parametrized(module, "weight"):
        return "weight is not a parameter (old-style weight_norm/spectral_norm hook?)"
    return None


def _make_band_limited(module: nn.Module, ndim: int, config: dict[str, Any]) -> _BandLimitedConvNd:
    new = _BAND_LIMITED[ndim].from_conv(module, **config)
    if parametrize.is_parametrized(module):
        # Same parametrization objects and the very same `original` tensors: exact.
        parametrize.transfer_parametrizations_and_params(module, new)
        if is_spectrally_parametrized(new):
            # The transfer builds a new chain without the load hook that converts state dicts
            # of the earlier spectral layout: registering again re-installs only that hook.
            register_spectral_parametrization(new)
    for tensor in ("weight", "bias"):
        if not parametrize.is_parametrized(module, tensor):
            setattr(new, tensor, getattr(module, tensor))  # the same Parameter (or None)
    return new


def _band_limit(
    model: nn.Module,
    config: dict[str, Any],
    include: Patterns,
    exclude: Patterns,
    report: TransformReport,
    keep_existing: bool = False,
    filter_fn: FilterFn | None = None,
) -> str:
    """The rewrite itself (shared by :func:`band_limit_` and the plan); returns the hint."""
    selection = select(model, include, exclude, (_ConvNd,), filter_fn)
    report.unmatched.extend(selection.unmatched)
    for name, names, module in selection.candidates:
        if isinstance(module, _BandLimitedConvNd):
            if keep_existing:
                report.unchanged.append(name)
                continue
            target = dict(config)
            if (
                target["mode"] == "energy"
                and module.mode == "energy"
                and module.energy == target["energy"]
                and module.transform_size == target["transform_size"]
            ):
                # Keep the band an energy-mode layer has learned (setup may run again).
                target["compression"] = module.compression
            before = module.get_extra_state()
            module.configure(**target)
            (report.changed if module.get_extra_state() != before else report.unchanged).append(
                name
            )
            continue
        problem = conv_problem(module)
        if problem is None and not name:
            problem = "the root module cannot be replaced in place"
        if problem is not None:
            report.skipped[label(name)] = problem
            continue
        new = _make_band_limited(module, _CONVS[base_class(module)], config)
        replace_module(model, names, module, new)
        report.changed.append(name)
    return selection.hint


def band_limit_(
    model: nn.Module,
    compression: float = 0.5,
    eval_compression: float | None = None,
    mode: str = "fixed",
    energy: float | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
    *,
    keep_existing: bool = False,
    filter_fn: FilterFn | None = None,
    transform_size: str = "padded",
) -> TransformReport:
    """Replace ``nn.Conv1d``/``nn.Conv2d`` layers by band-limited ones, in place.

    Already band-limited layers are reconfigured (an energy-mode layer asked for the same
    ``energy`` keeps the compression it has learned), or left as they are with
    ``keep_existing=True``. Transposed, 3D, lazy-uninitialised and custom-subclass convolutions
    are skipped with the reason. All padding modes are supported. The very same ``Parameter``
    objects move over, so an optimizer built before the rewrite still holds them.

    Args:
        model: any module.
        compression: train compression in ``[0, 1)``; in energy mode the starting point until the
            first :meth:`~lightning_spectral.nn.BandLimitedConv2d.update_band`.
        eval_compression: eval compression in ``[0, 1)``; ``None`` follows ``compression``.
        mode: ``"fixed"`` or ``"energy"``.
        energy: target retained energy fraction in ``(0, 1]`` (``mode="energy"`` only).
        include: name patterns to consider (default: all).
        exclude: name patterns to leave alone.
        keep_existing: leave already band-limited layers unchanged (reported as unchanged).
        filter_fn: optional predicate ``filter_fn(module, name) -> bool``; only layers the
            patterns select *and* the predicate accepts are considered (e.g. by kernel size or
            groups). One that accepts no convolution warns, like a pattern that matches none.
        transform_size: ``"padded"`` (the default: transform at the padded input size) or
            ``"full"`` (the size of Dziedzic et al.'s code,
            :func:`~lightning_spectral.functional.transform_shape`).

    Returns:
        The :class:`TransformReport`.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3))
        >>> band_limit_(model, compression=0.5, include="0").changed
        ['0']
        >>> type(model[0]).__name__, model(torch.randn(1, 3, 16, 16)).shape
        ('BandLimitedConv2d', torch.Size([1, 8, 14, 14]))
        >>> three_by_three = lambda m, name: m.kernel_size == (3, 3)  # select by kernel size
        >>> band_limit_(model, compression=0.25, filter_fn=three_by_three).changed
        ['0', '2']
    """
    check_bool(keep_existing, "keep_existing")
    config = band_limit_config(compression, eval_compression, mode, energy, transform_size)
    report = TransformReport("band_limit_")
    hint = _band_limit(model, config, include, exclude, report, keep_existing, filter_fn)
    return warn_report(report, hint)


def set_compression_(
    model: nn.Module,
    compression: float | None = None,
    eval_compression: float | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
    *,
    filter_fn: FilterFn | None = None,
) -> list[str]:
    """Change the compressions of band-limited layers without rebuilding anything.

    A pattern that matches no band-limited layer warns (:class:`SpectralTransformWarning`).

    Args:
        model: any module.
        compression: new train compression, or ``None`` to leave it.
        eval_compression: new eval compression, or ``None`` to leave it.
        include: name patterns to consider.
        exclude: name patterns to leave alone.
        filter_fn: optional predicate ``filter_fn(module, name) -> bool`` (see
            :func:`band_limit_`).

    Returns:
        Names of the layers whose configuration changed.

    Examples:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv1d(1, 1, 3), nn.Conv1d(1, 1, 3))
        >>> _ = band_limit_(model, compression=0.5)
        >>> set_compression_(model, compression=0.25, include="1")
        ['1']
    """
    train = None if compression is None else check_compression(compression, "compression")
    evaluation = (
        None
        if eval_compression is None
        else check_compression(eval_compression, "eval_compression")
    )
    selection = select(model, include, exclude, (_BandLimitedConvNd,), filter_fn)
    if selection.unmatched:
        warnings.warn(
            "set_compression_: pattern(s) matched no band-limited layer and selected nothing: "
            f"{', '.join(selection.unmatched)} ({selection.hint})",
            SpectralTransformWarning,
            stacklevel=2,
        )
    changed = []
    for name, _, module in selection.candidates:
        before = module.get_extra_state()
        if train is not None:
            module.compression = train
        if evaluation is not None:
            module.eval_compression = evaluation
        if module.get_extra_state() != before:
            changed.append(name)
    return changed


def spectral_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every band-limited convolution in ``model``.

    Examples:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 1, 3))
        >>> _ = band_limit_(model)
        >>> [name for name, _ in spectral_modules(model)]
        ['0']
    """
    return [(name, m) for name, _, m in modules(model) if isinstance(m, _BandLimitedConvNd)]


def _describe(module: nn.Module) -> dict[str, Any] | None:
    if not isinstance(module, _BandLimitedConvNd):
        return None
    state = module.get_extra_state()
    entry = {
        "ndim": module._ndim,
        **{key: state[key] for key in ("compression", "eval_compression", "mode", "energy")},
    }
    if module.transform_size != "padded":  # plans of default layers read as before
        entry["transform_size"] = module.transform_size
    return entry


def _apply(model: nn.Module, name: str, entry: dict[str, Any]) -> TransformReport:
    module = model.get_submodule(name)
    ndim = entry.get("ndim")
    if isinstance(module, _BandLimitedConvNd):
        problem = None if module._ndim == ndim else f"it is a {module._ndim}D layer"
    else:
        problem = conv_problem(module)
        if problem is None and _CONVS[base_class(module)] != ndim:
            problem = f"the plan expects a {ndim}D convolution, found {type(module).__name__}"
    if problem is not None:
        raise ValueError(f"cannot band-limit {label(name)!r} as the plan says: {problem}")
    config = band_limit_config(
        entry["compression"],
        entry.get("eval_compression"),
        entry["mode"],
        entry.get("energy"),
        entry.get("transform_size", "padded"),
    )
    step = TransformReport("band_limit_")
    _band_limit(model, config, "re:" + re.escape(name), None, step)
    if step.skipped:
        raise ValueError(f"cannot band-limit as the plan says: {step.skipped}")
    return step


register_rewrite(
    Rewrite(
        "band_limit",
        _describe,
        _apply,
        order=10,
        version=lambda entry: 2 if "transform_size" in entry else 1,
    )
)
