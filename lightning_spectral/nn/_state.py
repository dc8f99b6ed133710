"""Loading state dicts of the plain torch modules our modules replace."""

from __future__ import annotations

from typing import Any

from torch.nn.modules.module import _EXTRA_STATE_KEY_SUFFIX

__all__ = ["OptionalExtraState"]


class OptionalExtraState:
    """Mixin for modules with ``get_extra_state``: a state dict without the extra-state entry
    (that of the plain ``nn.Conv*`` or pool the module replaced) loads, keeping the module's
    configured state, instead of reporting a missing key."""

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        key = prefix + _EXTRA_STATE_KEY_SUFFIX
        had_state = key in state_dict
        start = len(missing_keys)
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        if not had_state:
            missing_keys[start:] = [k for k in missing_keys[start:] if k != key]
