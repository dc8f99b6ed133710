"""What the spectral callbacks share: schedules, strategy and callback-order checks.

Argument checks are not here: a callback validates each argument with the very function the
transform or module it wraps uses (``docs/design.md``, "One rule, one place").

Nothing here does spectral math; it decides *whether* a rewrite may run in the current
``Trainer`` and fails loudly when it may not.
"""

from __future__ import annotations

from typing import Any

from lightning_spectral._lightning_compat import (
    MisconfigurationException,
    classes,
    is_multiprocessing_launcher,
    pl,
)

__all__ = [
    "CAPTURING_CALLBACKS",
    "check_strategy",
    "epoch_schedule",
    "scheduled",
    "spawned",
]

# Callbacks that capture the model's parameters/modules in their own `setup`: a rewrite that
# runs after them leaves them holding stale modules or a differently shaped parameter list.
# Each for every Lightning namespace: a user's Trainer may hold either's.
CAPTURING_CALLBACKS = (
    *classes("callbacks.StochasticWeightAveraging"),
    *classes("callbacks.WeightAveraging"),
    *classes("callbacks.ModelPruning"),
)
_SHARDED_STRATEGIES = (
    *classes("strategies.FSDPStrategy"),
    *classes("strategies.DeepSpeedStrategy"),
    *classes("strategies.ModelParallelStrategy"),
)


def epoch_schedule(value: Any, name: str, check_value: Any) -> dict[int, Any] | None:
    """Validate an ``{epoch: value}`` schedule (keys: non-negative ints, YAML may give strings).

    Args:
        value: ``None`` or a mapping from epoch to a value.
        name: argument name for error messages.
        check_value: ``check_value(v, label)`` validates and returns one value.

    Returns:
        ``None`` or the schedule sorted by epoch.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise TypeError(
            f"`{name}` must be None or a non-empty {{epoch: value}} dict, got {value!r}"
        )
    schedule = {}
    for key, item in value.items():
        epoch = key
        if isinstance(key, str) and key.strip().isdigit():
            epoch = int(key)
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"`{name}` keys must be epochs (integers >= 0), got {key!r}")
        if epoch in schedule:
            raise ValueError(f"`{name}` lists epoch {epoch} twice: {value!r}")
        schedule[epoch] = check_value(item, f"{name}[{key!r}]")
    return dict(sorted(schedule.items()))


def scheduled(schedule: dict[int, Any] | None, epoch: int, default: Any) -> Any:
    """The value of the last schedule entry at or before ``epoch`` (``default`` before any)."""
    value = default
    for start, item in (schedule or {}).items():
        if start <= epoch:
            value = item
    return value


def check_strategy(trainer: pl.Trainer, owner: str) -> None:
    """Refuse sharded strategies, which flatten or shard parameters after ``setup``.

    Raises:
        MisconfigurationException: for FSDP, DeepSpeed and ModelParallel strategies.
    """
    strategy = trainer.strategy
    if isinstance(strategy, _SHARDED_STRATEGIES):
        raise MisconfigurationException(
            f"{owner} does not support `{type(strategy).__name__}`: sharded strategies wrap, "
            "flatten or shard parameters after `setup`, and the spectral layers (parametrized "
            "filters, band-limited convolutions with per-layer statistics) are not written for "
            "sharded parameters. Use `strategy='ddp'` (or a single device)."
        )


def spawned(trainer: pl.Trainer) -> bool:
    """Whether this process was started by a multiprocessing launcher (ddp_spawn, ddp_fork)."""
    return is_multiprocessing_launcher(getattr(trainer.strategy, "launcher", None))
