"""In-place model rewrites, usable on any ``nn.Module`` without Lightning (torchao style).

* :func:`band_limit_`: ``nn.Conv1d``/``nn.Conv2d`` ->
  :class:`~lightning_spectral.nn.BandLimitedConv1d` / ``2d`` (the very same ``Parameter``
  objects move over, so an optimizer built before the rewrite still holds them).
* :func:`replace_pooling_`: max/avg (and, on request, adaptive) pools -> spectral pools that keep
  the replaced pool's output size for every input size.
* :func:`parametrize_spectral_`: convolution filters stored as their real spectrum.
* :func:`bake_`: spectral parametrizations -> plain spatial weights, for deployment.
* :func:`set_compression_`: change train/eval compression of band-limited layers at run time.
* :func:`plan_of` / :func:`apply_plan_`: a versioned plain-data description of every rewrite, to
  rebuild the same structure on a freshly constructed model before ``load_state_dict``.

Every transform takes ``include``/``exclude``: fully-qualified module names (as in
``model.named_modules()``), each pattern a glob (:func:`fnmatch.fnmatchcase`, e.g.
``"layer*.conv1"``) or a regular expression prefixed with ``"re:"`` that must match the whole
name (:func:`re.fullmatch`). A module is considered when it matches some ``include`` pattern
(all modules when ``include`` is ``None``) and no ``exclude`` pattern.

Each transform returns a :class:`TransformReport` (what changed, what was already in the
requested state, what was skipped and why) and emits **one** :class:`SpectralTransformWarning`
listing every skipped layer. Transforms are idempotent: applying one twice is the same as once.
Forward hooks, backward hooks and parametrizations of a replaced module move to its replacement.
"""

from __future__ import annotations

import fnmatch
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)
from torch.nn.utils import parametrize

from lightning_spectral.functional import check_compression
from lightning_spectral.nn import (
    BandLimitedConv1d,
    BandLimitedConv2d,
    SpectralFilterParametrization,
    SpectralPool1d,
    SpectralPool2d,
    is_spectrally_parametrized,
    register_spectral_parametrization,
)
from lightning_spectral.nn.conv import _BandLimitedConvNd, band_limit_config
from lightning_spectral.nn.pooling import _SpectralPoolNd

__all__ = [
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "POOL_KINDS",
    "SpectralTransformWarning",
    "TransformReport",
    "apply_plan_",
    "bake_",
    "band_limit_",
    "parametrize_spectral_",
    "plan_of",
    "replace_pooling_",
    "set_compression_",
    "spectral_modules",
    "spectral_pools",
    "spectrally_parametrized",
]

#: ``plan["format"]`` of every plan.
PLAN_FORMAT = "lightning-spectral-plan"
#: Version written by :func:`plan_of`; :func:`apply_plan_` reads this version and older.
PLAN_VERSION = 1
#: Pool kinds :func:`replace_pooling_` understands.
POOL_KINDS = ("max", "avg", "adaptive_max", "adaptive_avg")

Patterns = str | Sequence[str] | None

_BAND_LIMITED = {1: BandLimitedConv1d, 2: BandLimitedConv2d}
_SPECTRAL_POOLS = {1: SpectralPool1d, 2: SpectralPool2d}
_CONVS = {nn.Conv1d: 1, nn.Conv2d: 2}
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
# Hook dictionaries moved to a replacement module (shared, so existing handles stay valid).
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


class SpectralTransformWarning(UserWarning):
    """Emitted once per transform call that skipped layers (the message lists them all)."""


@dataclass
class TransformReport:
    """What a transform did.

    Attributes:
        transform: the transform's name, e.g. ``"band_limit_"``.
        changed: module names rewritten or reconfigured by this call.
        unchanged: selected module names already in the requested state.
        skipped: module name -> reason it could not be transformed.
    """

    transform: str
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def extend(self, other: TransformReport) -> None:
        """Append another report's entries (used to combine the steps of a plan)."""
        self.changed.extend(other.changed)
        self.unchanged.extend(other.unchanged)
        self.skipped.update(other.skipped)

    def __str__(self) -> str:
        lines = [
            f"{self.transform}: {len(self.changed)} changed, {len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} skipped"
        ]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped.items()]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Selection and module surgery
# ---------------------------------------------------------------------------------------------


def _matchers(patterns: Patterns, argument: str) -> list[Callable[[str], bool]] | None:
    if patterns is None:
        return None
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    matchers: list[Callable[[str], bool]] = []
    for pattern in items:
        if not isinstance(pattern, str):
            raise TypeError(f"`{argument}` patterns must be strings, got {pattern!r}")
        if pattern.startswith("re:"):
            try:
                regex = re.compile(pattern[3:])
            except re.error as error:
                raise ValueError(f"invalid regex in `{argument}`: {pattern!r} ({error})") from None
            matchers.append(lambda name, regex=regex: regex.fullmatch(name) is not None)
        else:
            matchers.append(lambda name, glob=pattern: fnmatch.fnmatchcase(name, glob))
    return matchers


def _selector(include: Patterns, exclude: Patterns) -> Callable[[str], bool]:
    keep = _matchers(include, "include")
    drop = _matchers(exclude, "exclude") or []

    def selected(name: str) -> bool:
        if keep is not None and not any(match(name) for match in keep):
            return False
        return not any(match(name) for match in drop)

    return selected


def _modules(model: nn.Module) -> list[tuple[str, list[str], nn.Module]]:
    """``(first name, all names, module)`` for each distinct module, in registration order."""
    names: dict[int, list[str]] = {}
    modules: dict[int, nn.Module] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        names.setdefault(id(module), []).append(name)
        modules.setdefault(id(module), module)
    return [(names[key][0], names[key], modules[key]) for key in names]


def _candidates(
    model: nn.Module, include: Patterns, exclude: Patterns, kinds: tuple[type, ...]
) -> list[tuple[str, list[str], nn.Module]]:
    selected = _selector(include, exclude)
    return [
        (name, all_names, module)
        for name, all_names, module in _modules(model)
        if isinstance(module, kinds) and any(selected(n) for n in all_names)
    ]


def _base_class(module: nn.Module) -> type:
    """The module's class, seen through the subclass that parametrization injects."""
    cls = type(module)
    if parametrize.is_parametrized(module):
        return cls.__bases__[0]
    return cls


def _replace(model: nn.Module, names: list[str], old: nn.Module, new: nn.Module) -> None:
    """Put ``new`` wherever ``old`` is registered, moving its hooks over."""
    for attr in _HOOK_DICTS:
        if hasattr(old, attr) and hasattr(new, attr):
            setattr(new, attr, getattr(old, attr))
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, new)


def _warn(report: TransformReport) -> TransformReport:
    if report.skipped:
        listing = "; ".join(f"{name} ({reason})" for name, reason in report.skipped.items())
        warnings.warn(
            f"{report.transform} skipped {len(report.skipped)} layer(s): {listing}",
            SpectralTransformWarning,
            stacklevel=3,
        )
    return report


def _label(name: str) -> str:
    return name or "<root>"


# ---------------------------------------------------------------------------------------------
# Band-limited convolutions
# ---------------------------------------------------------------------------------------------


def _conv_problem(module: nn.Module) -> str | None:
    """Why a convolution cannot become band-limited (``None`` if it can)."""
    if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params():
        return "lazy convolution with uninitialised parameters (run a forward first)"
    if isinstance(module, _ConvTransposeNd):
        return f"transposed convolution ({type(module).__name__}) is not supported"
    base = _base_class(module)
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
) -> None:
    for name, names, module in _candidates(model, include, exclude, (_ConvNd,)):
        if isinstance(module, _BandLimitedConvNd):
            target = dict(config)
            if (
                target["mode"] == "energy"
                and module.mode == "energy"
                and module.energy == target["energy"]
            ):
                # Keep the band an energy-mode layer has learned (setup may run again).
                target["compression"] = module.compression
            before = module.get_extra_state()
            module.configure(**target)
            (report.changed if module.get_extra_state() != before else report.unchanged).append(
                name
            )
            continue
        problem = _conv_problem(module)
        if problem is None and not name:
            problem = "the root module cannot be replaced in place"
        if problem is not None:
            report.skipped[_label(name)] = problem
            continue
        new = _make_band_limited(module, _CONVS[_base_class(module)], config)
        _replace(model, names, module, new)
        report.changed.append(name)


def band_limit_(
    model: nn.Module,
    compression: float = 0.5,
    eval_compression: float | None = None,
    mode: str = "fixed",
    energy: float | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
) -> TransformReport:
    """Replace ``nn.Conv1d``/``nn.Conv2d`` layers by band-limited ones, in place.

    Already band-limited layers are reconfigured (an energy-mode layer asked for the same
    ``energy`` keeps the compression it has learned). Transposed, 3D, lazy-uninitialised and
    custom-subclass convolutions are skipped with the reason. All padding modes are supported.

    Args:
        model: any module.
        compression: train compression in ``[0, 1)``; in energy mode the starting point until the
            first :meth:`~lightning_spectral.nn.BandLimitedConv2d.update_band`.
        eval_compression: eval compression in ``[0, 1)``; ``None`` follows ``compression``.
        mode: ``"fixed"`` or ``"energy"``.
        energy: target retained energy fraction in ``(0, 1]`` (``mode="energy"`` only).
        include: name patterns to consider (default: all).
        exclude: name patterns to leave alone.

    Returns:
        The :class:`TransformReport`.
    """
    config = band_limit_config(compression, eval_compression, mode, energy)
    report = TransformReport("band_limit_")
    _band_limit(model, config, include, exclude, report)
    return _warn(report)


def set_compression_(
    model: nn.Module,
    compression: float | None = None,
    eval_compression: float | None = None,
    include: Patterns = None,
    exclude: Patterns = None,
) -> list[str]:
    """Change the compressions of band-limited layers without rebuilding anything.

    Args:
        model: any module.
        compression: new train compression, or ``None`` to leave it.
        eval_compression: new eval compression, or ``None`` to leave it.
        include: name patterns to consider.
        exclude: name patterns to leave alone.

    Returns:
        Names of the layers whose configuration changed.
    """
    train = None if compression is None else check_compression(compression, "compression")
    evaluation = (
        None
        if eval_compression is None
        else check_compression(eval_compression, "eval_compression")
    )
    changed = []
    for name, _, module in _candidates(model, include, exclude, (_BandLimitedConvNd,)):
        before = module.get_extra_state()
        if train is not None:
            module.compression = train
        if evaluation is not None:
            module.eval_compression = evaluation
        if module.get_extra_state() != before:
            changed.append(name)
    return changed


def spectral_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every band-limited convolution in ``model``."""
    return [(name, m) for name, _, m in _modules(model) if isinstance(m, _BandLimitedConvNd)]


# ---------------------------------------------------------------------------------------------
# Spectral pooling
# ---------------------------------------------------------------------------------------------


def _pool_kinds(kinds: str | Iterable[str]) -> tuple[str, ...]:
    items = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in items if k not in POOL_KINDS]
    if unknown or not items:
        raise ValueError(f"`kinds` must be a non-empty subset of {POOL_KINDS}, got {kinds!r}")
    return items


def _dropout_seed(seed: int, name: str) -> int:
    # Per-layer stream, the same on every process (crc32 is stable, unlike hash()).
    return (seed + zlib.crc32(name.encode())) % (2**31)


def _replace_pooling(
    model: nn.Module,
    kinds: tuple[str, ...],
    include: Patterns,
    exclude: Patterns,
    report: TransformReport,
    options: Callable[[str], dict[str, Any]],
    dropout_min: float | None,
) -> None:
    bases = (*(_POOL_BASES[k] for k in kinds), _SpectralPoolNd)
    for name, names, module in _candidates(model, include, exclude, bases):
        if isinstance(module, _SpectralPoolNd):
            if dropout_min is not None and module.dropout_min != dropout_min:
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
            try:
                new = _SPECTRAL_POOLS[_POOL_NDIM[cls]].from_pool(module, **options(name))
            except (TypeError, ValueError) as error:
                problem = str(error)
        if problem is not None:
            report.skipped[_label(name)] = problem
            continue
        new.train(module.training)
        _replace(model, names, module, new)
        report.changed.append(name)


def replace_pooling_(
    model: nn.Module,
    kinds: str | Iterable[str] = ("max", "avg"),
    include: Patterns = None,
    exclude: Patterns = None,
    *,
    dropout_min: float | None = None,
    seed: int = 0,
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

    Returns:
        The :class:`TransformReport`.
    """
    kinds_t = _pool_kinds(kinds)
    if dropout_min is not None:
        SpectralPool1d(1, dropout_min=dropout_min)  # validate before rewriting anything
    report = TransformReport("replace_pooling_")
    _replace_pooling(
        model,
        kinds_t,
        include,
        exclude,
        report,
        lambda name: {"dropout_min": dropout_min, "dropout_seed": _dropout_seed(seed, name)},
        dropout_min,
    )
    return _warn(report)


def spectral_pools(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every spectral pool in ``model``."""
    return [(name, m) for name, _, m in _modules(model) if isinstance(m, _SpectralPoolNd)]


# ---------------------------------------------------------------------------------------------
# Spectral parametrization and baking
# ---------------------------------------------------------------------------------------------


def _parametrize(
    model: nn.Module, include: Patterns, exclude: Patterns, report: TransformReport
) -> None:
    for name, _, module in _candidates(model, include, exclude, (_ConvNd,)):
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
            report.skipped[_label(name)] = problem
            continue
        register_spectral_parametrization(module)
        report.changed.append(name)


def parametrize_spectral_(
    model: nn.Module, include: Patterns = None, exclude: Patterns = None
) -> TransformReport:
    """Store every convolution's filters as their real spectrum (Rippel et al. Sec. 4), in place.

    Works on ``nn.Conv1d/2d/3d``, transposed convolutions and band-limited convolutions; the
    outputs do not change (see :mod:`lightning_spectral.nn.parametrization`). Convolutions whose
    weight already carries another parametrization are skipped with the reason.

    Args:
        model: any module.
        include: name patterns to consider.
        exclude: name patterns to leave alone.

    Returns:
        The :class:`TransformReport`.
    """
    report = TransformReport("parametrize_spectral_")
    _parametrize(model, include, exclude, report)
    return _warn(report)


def spectrally_parametrized(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every module whose weight is spectrally parametrized."""
    return [(name, m) for name, _, m in _modules(model) if is_spectrally_parametrized(m)]


def bake_(model: nn.Module) -> TransformReport:
    """Turn spectral parametrizations back into plain spatial weights (for deployment), in place.

    The weight becomes a plain ``Parameter`` holding the current filter, so outputs do not
    change. Weights whose parametrization chain also holds other parametrizations are skipped.

    Args:
        model: any module.

    Returns:
        The :class:`TransformReport`.
    """
    report = TransformReport("bake_")
    for name, _, module in _modules(model):
        if not is_spectrally_parametrized(module):
            continue
        chain = list(module.parametrizations["weight"])
        if not all(isinstance(p, SpectralFilterParametrization) for p in chain):
            others = ", ".join(type(p).__name__ for p in chain)
            report.skipped[_label(name)] = f"weight has other parametrizations too ({others})"
            continue
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        report.changed.append(name)
    return _warn(report)


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------


def plan_of(model: nn.Module) -> dict[str, Any]:
    """Plain-data description of every spectral rewrite present in ``model``.

    Returns:
        ``{"format": PLAN_FORMAT, "version": PLAN_VERSION, "band_limit": {name: config},
        "spectral_pool": {name: config}, "spectral_parametrization": [names]}`` with only
        dicts, lists, strings, numbers, booleans and ``None`` (``json.dumps`` works).
    """
    band_limit = {}
    for name, module in spectral_modules(model):
        state = module.get_extra_state()
        band_limit[name] = {
            "ndim": module._ndim,
            **{key: state[key] for key in ("compression", "eval_compression", "mode", "energy")},
        }
    pools = {name: {"ndim": m._ndim, **m.config()} for name, m in spectral_pools(model)}
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "band_limit": band_limit,
        "spectral_pool": pools,
        "spectral_parametrization": [name for name, _ in spectrally_parametrized(model)],
    }


def _check_plan(model: nn.Module, plan: Any) -> dict[str, nn.Module]:
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise ValueError(
            f"not a lightning-spectral plan (expected a dict with format={PLAN_FORMAT!r})"
        )
    version = plan.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"plan has an invalid version {version!r}")
    if version > PLAN_VERSION:
        raise ValueError(
            f"plan version {version} is newer than this lightning-spectral supports "
            f"({PLAN_VERSION}); upgrade lightning-spectral to load it"
        )
    modules = dict(model.named_modules(remove_duplicate=False))
    named = (
        list(plan.get("band_limit", {}))
        + list(plan.get("spectral_pool", {}))
        + list(plan.get("spectral_parametrization", []))
    )
    missing = sorted({name for name in named if name not in modules})
    if missing:
        raise ValueError(
            f"the plan names {len(missing)} layer(s) this model does not have: "
            f"{', '.join(missing)} (was the plan made for another architecture?)"
        )
    return modules


def apply_plan_(model: nn.Module, plan: dict[str, Any]) -> TransformReport:
    """Rebuild the rewrites described by ``plan`` on a (fresh) model, in place.

    Apply it before ``model.load_state_dict(rewritten_state_dict)``; the loaded model then gives
    the same outputs as the rewritten one. Already applied rewrites are left as they are.

    Args:
        model: a model of the architecture the plan was made from.
        plan: output of :func:`plan_of` (possibly through JSON).

    Returns:
        The combined :class:`TransformReport`.

    Raises:
        ValueError: for a plan of another format or a newer version, for layers the model does
            not have, or for layers the plan's rewrite cannot be applied to.
    """
    modules = _check_plan(model, plan)
    report = TransformReport("apply_plan_")
    for name, entry in plan.get("band_limit", {}).items():
        module = modules[name]
        ndim = entry.get("ndim")
        if isinstance(module, _BandLimitedConvNd):
            problem = None if module._ndim == ndim else f"it is a {module._ndim}D layer"
        else:
            problem = _conv_problem(module)
            if problem is None and _CONVS[_base_class(module)] != ndim:
                problem = f"the plan expects a {ndim}D convolution, found {type(module).__name__}"
        if problem is not None:
            raise ValueError(f"cannot band-limit {_label(name)!r} as the plan says: {problem}")
        config = band_limit_config(
            entry["compression"], entry.get("eval_compression"), entry["mode"], entry.get("energy")
        )
        step = TransformReport("band_limit_")
        _band_limit(model, config, "re:" + re.escape(name), None, step)
        if step.skipped:
            raise ValueError(f"cannot band-limit as the plan says: {step.skipped}")
        report.extend(step)
    for name, entry in plan.get("spectral_pool", {}).items():
        module = modules[name]
        ndim = entry.get("ndim")
        options = {key: entry.get(key) for key in ("output_size", "scale", "window")}
        options.update(dropout_min=entry.get("dropout_min"), dropout_seed=entry["dropout_seed"])
        if isinstance(module, _SpectralPoolNd):
            if module._ndim != ndim:
                raise ValueError(f"cannot apply the plan to {name!r}: it is a {module._ndim}D pool")
            if module.config() != options:
                module.dropout_min = options["dropout_min"]
                report.changed.append(name)
            else:
                report.unchanged.append(name)
            continue
        if not name or type(module) not in _POOL_NDIM or _POOL_NDIM[type(module)] != ndim:
            raise ValueError(
                f"cannot replace {_label(name)!r} by a {ndim}D spectral pool as the plan says: "
                f"it is a {type(module).__name__}"
            )
        new = _SPECTRAL_POOLS[ndim](**options)
        new.train(module.training)
        _replace(model, [n for n, m in modules.items() if m is module], module, new)
        report.changed.append(name)
    names = plan.get("spectral_parametrization", [])
    if names:
        step = TransformReport("parametrize_spectral_")
        _parametrize(model, [f"re:{re.escape(n)}" for n in names], None, step)
        if step.skipped:
            raise ValueError(f"cannot apply the plan's spectral parametrizations: {step.skipped}")
        report.extend(step)
    return report
