"""Tiny Lightning models, data and a TensorBoard reader shared by the callback tests.

Also imported by ``tests/_ddp_script.py`` (run in subprocesses), so it must not depend on pytest.

Namespaces: :class:`LitClassifier` is a user's ``pytorch_lightning`` module; the same steps on a
``lightning.pytorch`` base are :class:`UnifiedLitClassifier` (when ``lightning`` is installed).
:func:`lit_classifier` and :func:`trainer` take the namespace of ``conftest.lightning_namespace``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytorch_lightning as pl
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_spectral import SpectralCheckpointMixin

IMAGE = 16
CLASSES = 3


class TinyNet(nn.Module):
    """conv-relu-maxpool-conv-relu-avgpool-linear on ``(B, 1, 16, 16)`` images."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
        )
        self.head = nn.Linear(channels * (IMAGE // 4) ** 2, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class TinyNet1d(nn.Module):
    """1D twin of :class:`TinyNet` on ``(B, 1, 32)`` signals."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2)
        )
        self.head = nn.Linear(channels * 16, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class _ClassifierSteps:
    """The steps of :class:`LitClassifier`, put before either namespace's ``LightningModule``.

    ``drift`` adds ``drift * current_epoch`` to the training inputs: more DC energy every epoch,
    so energy-mode bands keep moving (deterministically, also after a resume).
    """

    def __init__(
        self, channels: int = 4, lr: float = 0.05, one_d: bool = False, drift: float = 0.0
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = TinyNet1d(channels) if one_d else TinyNet(channels)
        self.losses: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x + self.hparams.drift * self.current_epoch), y)
        self.losses.append(float(loss.detach()))
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("test_loss", F.cross_entropy(self(x), y))

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self(batch[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # Momentum: resuming must restore optimizer state to match an uninterrupted run.
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)


class LitClassifier(_ClassifierSteps, pl.LightningModule):
    """Classifier whose per-step training losses are recorded in ``self.losses``."""


try:
    import lightning.pytorch as L
except ImportError:  # the `lightning` extra is not installed
    L = None
else:

    class UnifiedLitClassifier(_ClassifierSteps, L.LightningModule):
        """:class:`LitClassifier` as a user of ``import lightning.pytorch as L`` writes it."""


def lit_classifier(namespace: ModuleType = pl) -> type:
    """:class:`LitClassifier` of ``namespace`` (``pytorch_lightning`` or ``lightning.pytorch``)."""
    return LitClassifier if namespace is pl else UnifiedLitClassifier


class MixinClassifier(SpectralCheckpointMixin, LitClassifier):
    """The same classifier with the checkpoint mixin."""


def dataset(n: int = 32, seed: int = 0, one_d: bool = False) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    shape = (n, 1, 32) if one_d else (n, 1, IMAGE, IMAGE)
    x = torch.randn(shape, generator=generator)
    y = torch.randint(0, CLASSES, (n,), generator=generator)
    return TensorDataset(x, y)


def loader(n: int = 32, seed: int = 0, batch_size: int = 8, one_d: bool = False) -> DataLoader:
    return DataLoader(dataset(n, seed, one_d), batch_size=batch_size, shuffle=False)


def trainer(
    root: Path,
    callbacks: list[pl.Callback] | None = None,
    *,
    namespace: ModuleType = pl,
    **overrides: Any,
) -> pl.Trainer:
    """A fast CPU trainer of ``namespace`` logging to its TensorBoard logger under ``root``."""
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 2,
        "limit_train_batches": 2,
        "limit_val_batches": 1,
        "limit_test_batches": 1,
        "limit_predict_batches": 1,
        "num_sanity_val_steps": 0,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
        "default_root_dir": str(root),
        "logger": namespace.loggers.TensorBoardLogger(str(root), name="tb", version=0),
        "callbacks": callbacks or [],
    }
    options.update(overrides)
    return namespace.Trainer(**options)


def scalars(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """All scalar series of a TensorBoard run: ``{tag: [(step, value), ...]}``."""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def tags(log_dir: str | Path) -> dict[str, list[str]]:
    """Tags per kind (``scalars``, ``images``, ``histograms``, ...) of a TensorBoard run."""
    events = EventAccumulator(
        str(log_dir), size_guidance={"scalars": 0, "images": 0, "histograms": 0}
    )
    events.Reload()
    return events.Tags()


def predictions(model: nn.Module, n: int = 8, seed: int = 123, one_d: bool = False) -> torch.Tensor:
    """Eval-mode outputs on fixed inputs."""
    model.eval()
    with torch.no_grad():
        return model(dataset(n, seed, one_d).tensors[0])
