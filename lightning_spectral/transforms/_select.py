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
from typing import Any

from torch import nn
from torch.nn.utils import parametrize

from lightning_spectral.functional.validation import check_callable

__all__ = [
    "FilterFn",
    "Patterns",
    "Selection",
    "base_class",
    "check_patterns",
    "label",
    "modules",
    "replace_module",
    "select",
]

Patterns = str | Sequence[str] | None
FilterFn = Callable[[nn.Module, str], bool]
"""A predicate ``filter_fn(module, name) -> bool`` selecting modules (as in torchao's
``quantize_``); ``name`` is the module's fully qualified name in the model."""

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


def check_patterns(value: Any, name: str) -> list[str] | None:
    """Validate an ``include``/``exclude`` argument: ``None``, a pattern or a list of patterns.

    A pattern is a fully qualified module name, a glob, or ``"re:<regex>"`` (see the module
    docstring). Every transform and every callback checks its patterns with this function.

    Args:
        value: the argument's value.
        name: the argument's name (``"include"``/``"exclude"``), for the message.

    Returns:
        ``None`` or the patterns as a list of strings.

    Raises:
        TypeError: if it is not a string or a list/tuple of strings.
        ValueError: if a pattern is empty or a ``re:`` pattern does not compile.

    Examples:
        >>> check_patterns("layer*.conv1", "include")
        ['layer*.conv1']
        >>> check_patterns([""], "include")
        Traceback (most recent call last):
            ...
        ValueError: `include` contains an empty pattern: ['']
    """
    if value is None:
        return None
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, (list, tuple)):
        raise TypeError(f"`{name}` must be None, a string or a list of strings, got {value!r}")
    checked = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"`{name}` patterns must be strings, got {pattern!r} in {value!r}")
        if not pattern or pattern == "re:":
            raise ValueError(f"`{name}` contains an empty pattern: {value!r}")
        if pattern.startswith("re:"):
            try:
                re.compile(pattern[3:])
            except re.error as err:
                raise ValueError(
                    f"`{name}` pattern {pattern!r} is an invalid regex: {err}"
                ) from None
        checked.append(pattern)
    return checked


def _matchers(patterns: Patterns, argument: str) -> list[tuple[str, Callable[[str], bool]]] | None:
    checked = check_patterns(patterns, argument)
    if checked is None:
        return None
    matchers: list[tuple[str, Callable[[str], bool]]] = []
    for pattern in checked:
        if pattern.startswith("re:"):
            regex = re.compile(pattern[3:])
            matchers.append((pattern, lambda name, regex=regex: regex.fullmatch(name) is not None))
        else:
            matchers.append((pattern, lambda name, glob=pattern: fnmatch.fnmatchcase(name, glob)))
    return matchers


def _filter_label(filter_fn: Callable[..., Any]) -> str:
    return getattr(filter_fn, "__qualname__", None) or repr(filter_fn)


def _passes(filter_fn: FilterFn | None, module: nn.Module, names: list[str]) -> bool:
    if filter_fn is None:
        return True
    for name in names:
        verdict = filter_fn(module, name)
        if not isinstance(verdict, bool):
            raise TypeError(
                f"`filter_fn` must return a bool, got {verdict!r} from "
                f"{_filter_label(filter_fn)}(module, {name!r})"
            )
        if verdict:
            return True
    return False


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
    model: nn.Module,
    include: Patterns,
    exclude: Patterns,
    kinds: tuple[type, ...],
    filter_fn: FilterFn | None = None,
) -> Selection:
    """Apply ``include``/``exclude`` and ``filter_fn`` to the modules of ``model`` of ``kinds``.

    A module is selected when the patterns select it and ``filter_fn(module, name)`` (if given)
    is ``True`` for one of its names. Like a pattern, a ``filter_fn`` that is true for no module
    of the kinds is reported in ``unmatched``.

    Args:
        model: any module.
        include: patterns to consider (``None``: all).
        exclude: patterns to leave alone.
        kinds: module classes the transform acts on.
        filter_fn: optional predicate ``(module, name) -> bool``.

    Returns:
        The :class:`Selection`.

    Raises:
        TypeError: if a pattern is not a string, ``filter_fn`` is not callable or returns a
            non-bool.
        ValueError: if a pattern is empty or a ``re:`` pattern does not compile.

    Examples:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU(), nn.Conv2d(1, 1, 1))
        >>> chosen = select(model, include="*", exclude=["2", "nett.*"], kinds=(nn.Conv2d,))
        >>> [name for name, _, _ in chosen.candidates], chosen.unmatched
        (['0'], ["exclude='nett.*'"])
        >>> wide = select(model, None, None, (nn.Conv2d,), lambda m, name: m.kernel_size == (3, 3))
        >>> wide.candidates, wide.unmatched
        ([], ['filter_fn=<lambda>'])
    """
    keep = _matchers(include, "include")
    drop = _matchers(exclude, "exclude") or []
    check_callable(filter_fn, "filter_fn")
    hits: set[str] = set()
    of_kind = [entry for entry in modules(model) if isinstance(entry[2], kinds)]
    candidates = []
    filtered = False
    for entry in of_kind:
        names = entry[1]
        kept = [p for p, match in keep or () if any(match(n) for n in names)]
        dropped = [p for p, match in drop if any(match(n) for n in names)]
        hits.update(f"include={p!r}" for p in kept)
        hits.update(f"exclude={p!r}" for p in dropped)
        passed = _passes(filter_fn, entry[2], names)
        filtered = filtered or passed
        if (keep is None or kept) and not dropped and passed:
            candidates.append(entry)
    patterns = [f"include={p!r}" for p, _ in keep or ()] + [f"exclude={p!r}" for p, _ in drop]
    unmatched = [p for p in dict.fromkeys(patterns) if p not in hits]
    if filter_fn is not None and not filtered:
        unmatched.append(f"filter_fn={_filter_label(filter_fn)}")
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
