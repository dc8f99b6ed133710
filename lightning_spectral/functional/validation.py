"""Argument checks shared by every layer of the package (one rule, one place).

Each rule an argument must follow is written once, here or in the lowest layer that uses the
argument, and every layer above (modules, transforms, callbacks, the command line) calls the same
function, so a callback and the transform it wraps accept exactly the same values and fail with
the same message (see ``docs/design.md``, "One rule, one place"). A wrong type raises
:class:`TypeError`, a wrong value :class:`ValueError`; both name the argument, show the value and
say what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "check_bool",
    "check_callable",
    "check_choice",
    "check_int",
    "check_number",
    "check_subset",
]


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(-inf" if low is None else f"{'(' if low_open else '['}{low:g}"
    right = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
    return f"{left}, {right}"


def check_number(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Validate a finite real number in an interval and return it as a Python float.

    Args:
        value: the argument's value.
        name: the argument's name, for the message.
        low: lower bound (``None``: unbounded).
        high: upper bound (``None``: unbounded).
        low_open: exclude ``low`` itself.
        high_open: exclude ``high`` itself.

    Returns:
        ``float(value)``.

    Raises:
        TypeError: if ``value`` is not an ``int``/``float`` (a ``bool`` is not a number here).
        ValueError: if it is NaN, infinite or outside the interval.

    Examples:
        >>> check_number(1, "energy", 0.0, 1.0, low_open=True)
        1.0
        >>> check_number(float("nan"), "energy", 0.0, 1.0)
        Traceback (most recent call last):
            ...
        ValueError: `energy` must be finite and in [0, 1], got nan
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        interval = _interval(low, high, low_open, high_open)
        raise TypeError(f"`{name}` must be a number in {interval}, got {value!r}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or too_low or too_high:
        interval = _interval(low, high, low_open, high_open)
        finite = "" if math.isfinite(number) else "finite and "
        raise ValueError(f"`{name}` must be {finite}in {interval}, got {value!r}")
    return number


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    """Validate an integer (not a bool), optionally ``>= minimum``.

    Raises:
        TypeError: if ``value`` is not an ``int`` (a ``bool`` or a whole float is not).
        ValueError: if it is below ``minimum``.

    Examples:
        >>> check_int(3, "every", minimum=1)
        3
        >>> check_int(1.5, "every")
        Traceback (most recent call last):
            ...
        TypeError: `every` must be an int, got 1.5
    """
    if isinstance(value, bool) or not isinstance(value, int):
        bound = "" if minimum is None else f" >= {minimum}"
        raise TypeError(f"`{name}` must be an int{bound}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """Validate a ``bool`` (``0``/``1`` and strings are refused: a typo, not a choice).

    Raises:
        TypeError: if ``value`` is not a ``bool``.

    Examples:
        >>> check_bool(True, "keep_existing")
        True
    """
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be a bool, got {value!r}")
    return value


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """Validate one string among ``choices``.

    Raises:
        TypeError: if ``value`` is not a string.
        ValueError: if it is not one of ``choices``.

    Examples:
        >>> check_choice("energy", "mode", ("fixed", "energy"))
        'energy'
        >>> check_choice("Energy", "mode", ("fixed", "energy"))
        Traceback (most recent call last):
            ...
        ValueError: `mode` must be one of ('fixed', 'energy'), got 'Energy'
    """
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be one of {tuple(choices)}, got {value!r}")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}, got {value!r}")
    return value


def check_subset(value: Any, name: str, choices: Sequence[str]) -> tuple[str, ...]:
    """Validate a non-empty subset of ``choices``: one string, or a list/tuple of distinct ones.

    Returns:
        The kinds as a tuple, in the given order.

    Raises:
        TypeError: if ``value`` is neither a string nor a list/tuple of strings.
        ValueError: if it is empty, repeats an entry or names one outside ``choices``.

    Examples:
        >>> check_subset("max", "kinds", ("max", "avg"))
        ('max',)
        >>> check_subset(["max", "max"], "kinds", ("max", "avg"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        ValueError: `kinds` must be a non-empty list of distinct entries of ... ['max', 'max']
    """
    allowed = tuple(choices)
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise TypeError(
            f"`{name}` must be a string or a list of strings from {allowed}, got {value!r}"
        )
    if not items or len(set(items)) != len(items) or any(v not in allowed for v in items):
        raise ValueError(
            f"`{name}` must be a non-empty list of distinct entries of {allowed}, got {value!r}"
        )
    return tuple(items)


def check_callable(value: Any, name: str) -> Callable[..., Any] | None:
    """Validate ``None`` or a callable (for predicates such as ``filter_fn``).

    Raises:
        TypeError: if ``value`` is neither ``None`` nor callable.

    Examples:
        >>> check_callable(None, "filter_fn") is None
        True
    """
    if value is not None and not callable(value):
        raise TypeError(f"`{name}` must be None or a callable, got {value!r}")
    return value
