"""One refusal for ``torch.jit.script`` of the spectral layers (private)."""

from __future__ import annotations

from typing import NoReturn

from torch import nn

__all__ = ["refuse_scripting"]


def refuse_scripting(module: nn.Module, why: str, instead: str) -> NoReturn:
    """Raise the ``TypeError`` every spectral layer gives ``torch.jit.script``.

    ``torch.jit.script`` calls ``__prepare_scriptable__`` on a module and each submodule first;
    raising there replaces TorchScript's deep parse error with what to do instead.

    Args:
        module: the layer being scripted.
        why: what TorchScript cannot compile in it.
        instead: the scriptable alternative.

    Raises:
        TypeError: always.

    Examples:
        >>> refuse_scripting(nn.Identity(), "it is an example", "nothing")
        Traceback (most recent call last):
        ...
        TypeError: Identity cannot be scripted (it is an example); script nothing instead
    """
    raise TypeError(f"{type(module).__name__} cannot be scripted ({why}); script {instead} instead")
