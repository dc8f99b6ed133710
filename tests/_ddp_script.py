"""Two-process CPU DDP run of every spectral callback, for ``tests/test_distributed.py``.

Run as ``python tests/_ddp_script.py OUT_DIR``: Lightning's ``ddp`` launcher starts the second
rank by re-running this script, so it must work as a plain script (not under pytest). It trains,
then resumes from ``last.ckpt`` for one more epoch, and global rank 0 writes what the ranks saw
(gathered across ranks) to ``OUT_DIR/report.json`` and the final eval outputs to
``OUT_DIR/predictions_<epochs>.pt``. Run as a script, its own folder is on ``sys.path``, so the
shared helpers import as ``_lightning_helpers`` (as in the tests).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from _lightning_helpers import LitClassifier, loader, predictions, trainer
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
)
from lightning_spectral.callbacks._statistics import is_last_train_batch
from lightning_spectral.functional import band_energy_fraction, band_for_energy
from lightning_spectral.transforms import spectral_modules, spectral_pools

ENERGY = 0.6


class Snapshot(Callback):
    """First in the list: keeps each rank's local statistics of the epoch before anything
    (energy-mode band update, monitor) consumes them."""

    def __init__(self) -> None:
        self.local: dict[str, tuple[torch.Tensor, Any]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if is_last_train_batch(trainer, batch_idx):
            self.local = {
                name: (
                    m.stats_power.clone(),
                    m.band(training=True, signal_shape=m.stats_signal_shape),
                )
                for name, m in spectral_modules(pl_module)
            }


class Probe(Callback):
    """Last in the list: gathers what every rank has and records it (rank 0 keeps it)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.report: dict[str, Any] = {"bands": [], "draws": []}

    def _gather(self, pl_module: pl.LightningModule, values: list[float]) -> list[list[float]]:
        gathered = pl_module.all_gather(torch.tensor(values, dtype=torch.float64))
        return gathered.reshape(gathered.shape[0], -1).tolist()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        layers = spectral_modules(pl_module)
        self.report["bands"].append(self._gather(pl_module, [m.compression for _, m in layers]))
        pools = spectral_pools(pl_module)
        self.report["draws"].append(
            self._gather(
                pl_module, [p.dropout_draws for _, p in pools] + [p.dropout_seed for _, p in pools]
            )
        )
        # Energy bands: chosen from the statistics summed over the ranks.
        expected = []
        for name, _ in layers:
            power, band = self.snapshot.local[name]
            total = pl_module.all_gather(power).sum(0)
            expected.append(band_for_energy(total, band.signal_shape, ENERGY).compression)
            self.report.setdefault("expected_energy_input", {})[name] = float(
                band_energy_fraction(total, band)
            )
            self.report.setdefault("local_energy_input", {})[name] = self._gather(
                pl_module, [float(band_energy_fraction(power, band))]
            )
        self.report["expected_bands"] = expected

    def on_train_end(self, trainer, pl_module) -> None:
        vector = torch.cat([p.detach().flatten() for p in pl_module.parameters()])
        gathered = pl_module.all_gather(vector)
        self.report["max_parameter_difference"] = float((gathered - gathered[0]).abs().max())
        self.report["world_size"] = int(gathered.shape[0])
        logged = {}
        for name, _ in spectral_modules(pl_module):
            value = trainer.callback_metrics[f"spectral/{name}/input_energy"]
            logged[name] = self._gather(pl_module, [float(value)])
        self.report["logged_energy_input"] = logged


def fit(out: Path, max_epochs: int, ckpt_path: Path | None) -> tuple[pl.Trainer, Probe]:
    pl.seed_everything(3)
    snapshot = Snapshot()
    probe = Probe(snapshot)
    callbacks = [
        snapshot,
        SpectralParametrizationCallback(),
        BandLimitCallback(compression=0.2, mode="energy", energy=ENERGY),
        SpectralPoolingCallback(),
        ResolutionDropoutScheduler(),
        EnergyCompressionMonitor(),
        probe,
        ModelCheckpoint(dirpath=out / "ckpt", save_last=True),
    ]
    run = trainer(
        out,
        callbacks,
        strategy="ddp",
        devices=2,
        max_epochs=max_epochs,
        limit_val_batches=1,
    )
    model = LitClassifier(drift=1.0)
    run.fit(model, loader(n=64), loader(seed=1), ckpt_path=ckpt_path)
    if run.is_global_zero:
        torch.save(predictions(model), out / f"predictions_{max_epochs}.pt")
    return run, probe


def main() -> None:
    out = Path(sys.argv[1])
    _, probe = fit(out, 2, None)
    report = {"first": probe.report}
    resumed, probe = fit(out, 3, out / "ckpt" / "last.ckpt")
    report["resumed"] = probe.report
    report["resumed_start_epoch"] = resumed.current_epoch
    if resumed.is_global_zero:
        (out / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
