"""lightning-spectral: spectral representations and band-limited convolutions for Lightning.

The Lightning-facing names below (callbacks, checkpoint helpers) are imported lazily, on first
access, so that ``import lightning_spectral.functional`` (or ``.nn``, ``.transforms``) does not
pay for importing PyTorch Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "BandLimitCallback": "lightning_spectral.callbacks",
    "EnergyCompressionMonitor": "lightning_spectral.callbacks",
    "ResolutionDropoutScheduler": "lightning_spectral.callbacks",
    "SpectralParametrizationCallback": "lightning_spectral.callbacks",
    "SpectralPoolingCallback": "lightning_spectral.callbacks",
    "SpectralCheckpointMixin": "lightning_spectral.checkpoint",
    "inference_checkpoint": "lightning_spectral.checkpoint",
    "load_from_checkpoint": "lightning_spectral.checkpoint",
    "plan_from_checkpoint": "lightning_spectral.checkpoint",
    "restore_": "lightning_spectral.checkpoint",
}

__all__ = [
    "BandLimitCallback",
    "EnergyCompressionMonitor",
    "ResolutionDropoutScheduler",
    "SpectralCheckpointMixin",
    "SpectralParametrizationCallback",
    "SpectralPoolingCallback",
    "__version__",
    "inference_checkpoint",
    "load_from_checkpoint",
    "plan_from_checkpoint",
    "restore_",
]

if TYPE_CHECKING:
    from lightning_spectral.callbacks import (
        BandLimitCallback,
        EnergyCompressionMonitor,
        ResolutionDropoutScheduler,
        SpectralParametrizationCallback,
        SpectralPoolingCallback,
    )
    from lightning_spectral.checkpoint import (
        SpectralCheckpointMixin,
        inference_checkpoint,
        load_from_checkpoint,
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
