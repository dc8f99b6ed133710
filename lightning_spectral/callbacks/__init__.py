"""Lightning callbacks: thin adapters over :mod:`lightning_spectral.transforms`, one per file.

Rewriting callbacks (parametrization, band limit, pooling; all derive from the public
:class:`SpectralRewriteCallback`, which a user's own rewrite callback subclasses) act in
``setup``, the only hook that runs before ``configure_optimizers``, the DDP wrap and checkpoint
restore; they are idempotent and store the plan of the rewrite in every checkpoint (see
:mod:`lightning_spectral.checkpoint`).
Schedules derive from ``trainer.current_epoch`` at every batch; what a callback gathers within
an epoch (energy statistics) is saved in the checkpoint under ``lightning_spectral_statistics``
and restored, so a run resumed mid-epoch continues as the uninterrupted one (with a data loader
that resumes in place; a plain ``DataLoader`` restarts its epoch at batch 0). Each argument is
checked by the same function as in the transform the callback wraps.

Supported strategies: single device and ``ddp``. ``ddp_spawn``/``ddp_fork`` are refused when a
callback would rewrite the model in the worker (apply the transform before ``fit`` instead);
FSDP, DeepSpeed and ModelParallel are refused in ``setup``.
"""

from lightning_spectral.callbacks.band_limit import BandLimitCallback
from lightning_spectral.callbacks.monitor import EnergyCompressionMonitor
from lightning_spectral.callbacks.parametrization import SpectralParametrizationCallback
from lightning_spectral.callbacks.pooling import SpectralPoolingCallback
from lightning_spectral.callbacks.resolution_dropout import ResolutionDropoutScheduler
from lightning_spectral.callbacks.rewrite import SpectralRewriteCallback

__all__ = [
    "BandLimitCallback",
    "EnergyCompressionMonitor",
    "ResolutionDropoutScheduler",
    "SpectralParametrizationCallback",
    "SpectralPoolingCallback",
    "SpectralRewriteCallback",
]
