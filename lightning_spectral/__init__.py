"""lightning-spectral: spectral representations and band-limited convolutions for Lightning.

The names below are imported lazily, on first access, so that ``import
lightning_spectral.functional`` (or ``.nn``, ``.transforms``, ``.plans_io``) does not pay for
importing PyTorch Lightning; only the Lightning-facing names (callbacks, the checkpoint mixin
and loader) import it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it; `__all__` and `dir()` derive from this table.
_LAZY = {
    "BandLimitCallback": "lightning_spectral.callbacks",
    "EnergyCompressionMonitor": "lightning_spectral.callbacks",
    "ResolutionDropoutScheduler": "lightning_spectral.callbacks",
    "SpectralParametrizationCallback": "lightning_spectral.callbacks",
    "SpectralPoolingCallback": "lightning_spectral.callbacks",
    "SpectralRewriteCallback": "lightning_spectral.callbacks",
    "SpectralCheckpointMixin": "lightning_spectral.checkpoint",
    "load_from_checkpoint": "lightning_spectral.checkpoint",
    "add_plan": "lightning_spectral.plans_io",
    "inference_checkpoint": "lightning_spectral.plans_io",
    "plan_from_checkpoint": "lightning_spectral.plans_io",
    "restore_": "lightning_spectral.plans_io",
}

__all__ = sorted(["__version__", *_LAZY])

# For type checkers and IDEs only (never executed): static tools cannot read `_LAZY`, so the
# names are spelled once more here; tests/test_plans_io.py checks both lists agree.
if TYPE_CHECKING:
    from lightning_spectral.callbacks import (  # noqa: F401
        BandLimitCallback,
        EnergyCompressionMonitor,
        ResolutionDropoutScheduler,
        SpectralParametrizationCallback,
        SpectralPoolingCallback,
        SpectralRewriteCallback,
    )
    from lightning_spectral.checkpoint import (  # noqa: F401
        SpectralCheckpointMixin,
        load_from_checkpoint,
    )
    from lightning_spectral.plans_io import (  # noqa: F401
        add_plan,
        inference_checkpoint,
        plan_from_checkpoint,
        restore_,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lightning_spectral' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
