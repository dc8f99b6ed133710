"""Plans: a versioned plain-data description of every rewrite, and the registry of rewrites.

A plan rebuilds the structure of a rewritten model on a freshly constructed one, before
``load_state_dict``. Its layout::

    {"format": PLAN_FORMAT, "version": PLAN_VERSION,
     "<key of rewrite 1>": {layer name: description}, ...}

Each rewrite registers itself with :func:`register_rewrite`: its plan key, how it describes one
layer (``describe``) and how it re-applies that description (``apply``, which must go through
the same function as the rewrite itself). :func:`plan_of` and :func:`apply_plan_` are loops
over the registry, by each rewrite's ``order`` (band limiting, pooling, parametrization: a
parametrization moves with a convolution that band limiting replaces, so it comes last).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from lightning_spectral.transforms._select import modules
from lightning_spectral.transforms.report import TransformReport

__all__ = [
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "Rewrite",
    "apply_plan_",
    "plan_of",
    "register_rewrite",
    "registered_rewrites",
]

#: ``plan["format"]`` of every plan.
PLAN_FORMAT = "lightning-spectral-plan"
#: Newest plan version; :func:`apply_plan_` reads it and older ones. :func:`plan_of` writes the
#: oldest version that holds the plan (see :attr:`Rewrite.version`), so a release that would
#: misread a description refuses the plan instead.
PLAN_VERSION = 2


@dataclass(frozen=True)
class Rewrite:
    """One registered rewrite.

    Attributes:
        key: its section of a plan, e.g. ``"band_limit"``.
        describe: ``describe(module)`` -> the plain-data description of a layer this rewrite
            produced (``dict`` of JSON types), or ``None`` for a layer it did not produce.
        apply: ``apply(model, name, description)`` -> the :class:`TransformReport` of
            re-applying one description to the layer ``name`` of ``model``; raises
            ``ValueError`` when the layer cannot take it.
        order: plans apply rewrites by increasing ``order`` (ties: registration order). A
            rewrite whose layers another one replaces must come first: band limiting (10)
            precedes spectral parametrization (30), which moves with the replaced convolution.
        listed: write the section as a list of names (for rewrites without options; each
            description is then ``{}``). Version-1 plans store spectral parametrizations so.
        version: ``version(description)`` -> the oldest plan version whose readers understand
            that description (``None``: 1). Version 2 added band limiting's
            ``transform_size``, which version-1 readers would ignore.
    """

    key: str
    describe: Callable[[nn.Module], dict[str, Any] | None]
    apply: Callable[[nn.Module, str, dict[str, Any]], TransformReport]
    order: int = 100
    listed: bool = False
    version: Callable[[dict[str, Any]], int] | None = None


_REGISTRY: dict[str, Rewrite] = {}


def register_rewrite(rewrite: Rewrite) -> Rewrite:
    """Add a rewrite to the registry that :func:`plan_of` and :func:`apply_plan_` loop over.

    Args:
        rewrite: the :class:`Rewrite`; its ``key`` must not be registered already.

    Returns:
        ``rewrite``.

    Raises:
        TypeError: if ``rewrite`` is not a :class:`Rewrite`.
        ValueError: if its key is taken or is ``"format"``/``"version"``.
    """
    if not isinstance(rewrite, Rewrite):
        raise TypeError(f"`rewrite` must be a Rewrite, got {rewrite!r}")
    if rewrite.key in ("format", "version") or rewrite.key in _REGISTRY:
        taken = sorted(["format", "version", *_REGISTRY])
        raise ValueError(f"rewrite key {rewrite.key!r} is already used; taken keys: {taken}")
    _REGISTRY[rewrite.key] = rewrite
    ordered = sorted(_REGISTRY.values(), key=lambda r: r.order)  # stable: ties keep their order
    _REGISTRY.clear()
    _REGISTRY.update((r.key, r) for r in ordered)
    return rewrite


def registered_rewrites() -> tuple[Rewrite, ...]:
    """The registered rewrites, in the order plans apply them.

    Examples:
        >>> [rewrite.key for rewrite in registered_rewrites()][:3]
        ['band_limit', 'spectral_pool', 'spectral_parametrization']
    """
    return tuple(_REGISTRY.values())


def plan_of(model: nn.Module) -> dict[str, Any]:
    """Plain-data description of every spectral rewrite present in ``model``.

    Returns:
        ``{"format": PLAN_FORMAT, "version": v, "band_limit": {name: config},
        "spectral_pool": {name: config}, "spectral_parametrization": [names]}`` (one section
        per registered rewrite) with only dicts, lists, strings, numbers, booleans and ``None``
        (``json.dumps`` works). ``v`` is the oldest version that holds every description
        (1 unless a layer needs more, at most :data:`PLAN_VERSION`).

    Examples:
        >>> from torch import nn
        >>> from lightning_spectral.transforms import replace_pooling_
        >>> model = nn.Sequential(nn.Conv1d(1, 1, 3), nn.MaxPool1d(2))
        >>> _ = replace_pooling_(model)
        >>> plan = plan_of(model)
        >>> sorted(plan["spectral_pool"]), plan["band_limit"]
        (['1'], {})
    """
    plan: dict[str, Any] = {"format": PLAN_FORMAT, "version": 1}
    for rewrite in _REGISTRY.values():
        section = {}
        for name, _, module in modules(model):
            description = rewrite.describe(module)
            if description is not None:
                section[name] = description
                if rewrite.version is not None:
                    plan["version"] = max(plan["version"], rewrite.version(description))
        plan[rewrite.key] = list(section) if rewrite.listed else section
    return plan


def _sections(plan: Mapping[str, Any]) -> list[tuple[Rewrite, dict[str, dict[str, Any]]]]:
    sections = []
    for rewrite in _REGISTRY.values():
        section = plan.get(rewrite.key, [] if rewrite.listed else {})
        if rewrite.listed and isinstance(section, list):
            section = {name: {} for name in section}
        if not isinstance(section, Mapping) or not all(isinstance(n, str) for n in section):
            raise ValueError(
                f"plan[{rewrite.key!r}] must map layer names to descriptions, got {section!r}"
            )
        sections.append((rewrite, dict(section)))
    return sections


def _check_plan(model: nn.Module, plan: Any) -> list[tuple[Rewrite, dict[str, dict[str, Any]]]]:
    if not isinstance(plan, Mapping) or plan.get("format") != PLAN_FORMAT:
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
    unknown = sorted(set(plan) - {"format", "version", *_REGISTRY})
    if unknown:
        raise ValueError(
            f"the plan has section(s) {unknown} that no registered rewrite reads "
            f"(registered: {sorted(_REGISTRY)}); was it written with an extension not imported?"
        )
    sections = _sections(plan)
    names = dict(model.named_modules(remove_duplicate=False))
    missing = sorted({name for _, section in sections for name in section if name not in names})
    if missing:
        raise ValueError(
            f"the plan names {len(missing)} layer(s) this model does not have: "
            f"{', '.join(missing)} (was the plan made for another architecture?)"
        )
    return sections


def apply_plan_(model: nn.Module, plan: dict[str, Any]) -> TransformReport:
    """Rebuild the rewrites described by ``plan`` on a (fresh) model, in place.

    Apply it before ``model.load_state_dict(rewritten_state_dict)``; the loaded model then gives
    the same outputs as the rewritten one. Layers already in the plan's state are left as they
    are; layers rewritten differently (another compression, another pool geometry) take the
    plan's configuration.

    Args:
        model: a model of the architecture the plan was made from.
        plan: output of :func:`plan_of` (possibly through JSON).

    Returns:
        The combined :class:`TransformReport`.

    Raises:
        ValueError: for a plan of another format or a newer version, a section no registered
            rewrite reads, layers the model does not have, or layers the plan's rewrite cannot
            be applied to.

    Examples:
        >>> from torch import nn
        >>> from lightning_spectral.transforms import band_limit_
        >>> trained = nn.Sequential(nn.Conv2d(1, 2, 3))
        >>> _ = band_limit_(trained, compression=0.25)
        >>> fresh = nn.Sequential(nn.Conv2d(1, 2, 3))
        >>> apply_plan_(fresh, plan_of(trained)).changed
        ['0']
        >>> fresh.load_state_dict(trained.state_dict())
        <All keys matched successfully>
    """
    report = TransformReport("apply_plan_")
    for rewrite, section in _check_plan(model, plan):
        for name, description in section.items():
            report.extend(rewrite.apply(model, name, description))
    return report
