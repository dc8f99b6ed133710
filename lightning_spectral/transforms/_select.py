"""Which modules a transform considers, and module surgery (replacing a module in place).

Selection rules (one place for every transform): ``include``/``exclude`` hold fully qualified
module names (as in ``model.named_modules()``), each pattern a glob
(:func:`fnmatch.fnmatchcase`, e.g. ``"layer*.conv1"``) or a regular expression prefixed with
``"re:"`` that must match the whole name (:func:`re.fullmatch`). A module is considered when one
of its names matches some ``include`` pattern (all modules when ``include`` is ``None``) and none
matches an ``exclude`` pattern. A pattern that matches no module of the kinds a transform
considers is reported (``TransformReport.unmatched``) and warned about: it is almost always a typo.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn
from torch.nn.utils import parametrize

__all__ = ["Patterns", "Selection", "base_class", "label", "modules", "replace_module", "select"]

Patterns = str | Sequence[str] | None

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
# How many of the model's layer names an "unmatched pattern" warning lists.
_HINT_NAMES = 5


def _matchers(patterns: Patterns, argument: str) -> list[tuple[str, Callable[[str], bool]]] | None:
    if patterns is None:
        return None
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    matchers: list[tuple[str, Callable[[str], bool]]] = []
    for pattern in items:
        if not isinstance(pattern, str):
            raise TypeError(f"`{argument}` patterns must be strings, got {pattern!r}")
        if pattern.startswith("re:"):
            try:
                regex = re.compile(pattern[3:])
            except re.error as error:
                raise ValueError(f"invalid regex in `{argument}`: {pattern!r} ({error})") from None
            matchers.append((pattern, lambda name, regex=regex: regex.fullmatch(name) is not None))
        else:
            matchers.append((pattern, lambda name, glob=pattern: fnmatch.fnmatchcase(name, glob)))
    return matchers


def modules(model: nn.Module) -> list[tuple[str, list[str], nn.Module]]:
    """``(first name, all names, module)`` for each distinct module, in registration order."""
    names: dict[int, list[str]] = {}
    found: dict[int, nn.Module] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        names.setdefault(id(module), []).append(name)
        found.setdefault(id(module), module)
    return [(names[key][0], names[key], found[key]) for key in names]


@dataclass
class Selection:
    """The modules a transform considers, and the patterns that selected none of them.

    Attributes:
        candidates: ``(first name, all names, module)`` of every selected module of the kinds.
        unmatched: ``"include='pattern'"`` / ``"exclude='pattern'"`` for each pattern that
            matched no module of the kinds.
        hint: a few names of the model's modules of the kinds (for the warning).
    """

    candidates: list[tuple[str, list[str], nn.Module]]
    unmatched: list[str]
    hint: str


def select(
    model: nn.Module, include: Patterns, exclude: Patterns, kinds: tuple[type, ...]
) -> Selection:
    """Apply ``include``/``exclude`` to the modules of ``model`` that are instances of ``kinds``.

    Args:
        model: any module.
        include: patterns to consider (``None``: all).
        exclude: patterns to leave alone.
        kinds: module classes the transform acts on.

    Returns:
        The :class:`Selection`.

    Raises:
        TypeError: if a pattern is not a string.
        ValueError: if a ``re:`` pattern does not compile.

    Examples:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU(), nn.Conv2d(1, 1, 1))
        >>> chosen = select(model, include="*", exclude=["2", "nett.*"], kinds=(nn.Conv2d,))
        >>> [name for name, _, _ in chosen.candidates], chosen.unmatched
        (['0'], ["exclude='nett.*'"])
    """
    keep = _matchers(include, "include")
    drop = _matchers(exclude, "exclude") or []
    hits: set[str] = set()
    of_kind = [entry for entry in modules(model) if isinstance(entry[2], kinds)]
    candidates = []
    for entry in of_kind:
        names = entry[1]
        kept = [p for p, match in keep or () if any(match(n) for n in names)]
        dropped = [p for p, match in drop if any(match(n) for n in names)]
        hits.update(f"include={p!r}" for p in kept)
        hits.update(f"exclude={p!r}" for p in dropped)
        if (keep is None or kept) and not dropped:
            candidates.append(entry)
    patterns = [f"include={p!r}" for p, _ in keep or ()] + [f"exclude={p!r}" for p, _ in drop]
    unmatched = [p for p in dict.fromkeys(patterns) if p not in hits]
    shown = [label(name) for name, _, _ in of_kind[:_HINT_NAMES]]
    kind_names = "/".join(sorted({k.__name__.lstrip("_") for k in kinds}))
    if shown:
        more = f" of {len(of_kind)}" if len(of_kind) > len(shown) else ""
        hint = f"the model's {kind_names} layers include: {', '.join(shown)}{more}"
    else:
        hint = f"the model has no {kind_names} layer"
    return Selection(candidates, unmatched, hint)


def base_class(module: nn.Module) -> type:
    """The module's class, seen through the subclass that parametrization injects."""
    cls = type(module)
    if parametrize.is_parametrized(module):
        return cls.__bases__[0]
    return cls


def replace_module(model: nn.Module, names: list[str], old: nn.Module, new: nn.Module) -> None:
    """Put ``new`` wherever ``old`` is registered in ``model``, moving its hooks over."""
    for attr in _HOOK_DICTS:
        if hasattr(old, attr) and hasattr(new, attr):
            setattr(new, attr, getattr(old, attr))
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, new)


def label(name: str) -> str:
    """A module name for messages (the root module has the empty name)."""
    return name or "<root>"
