"""Models shared by the transforms tests (``tests/test_transforms*.py``)."""

from __future__ import annotations

import torch
from torch import nn

from lightning_spectral import transforms as T


class CustomConv(nn.Conv2d):
    """A user subclass with its own forward: replacing it would drop the behaviour."""

    def forward(self, x):
        return super().forward(x) * 2


class Zoo(nn.Module):
    """Supported and unsupported layers side by side (structure only, no forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.body = nn.Sequential(
            nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
        self.vol = nn.Conv3d(1, 1, 3)
        self.lazy = nn.LazyConv2d(4, 3)
        self.custom = CustomConv(4, 4, 3)
        self.line = nn.Conv1d(2, 2, 3)
        self.pool3d = nn.MaxPool3d(2)
        self.indices = nn.MaxPool2d(2, return_indices=True)
        self.widen = nn.AvgPool2d(2, stride=1, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)


class Net(nn.Module):
    """A small runnable network."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.norm = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(6, 6, 3, padding=1, groups=3, padding_mode="circular")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4))

    def forward(self, x):
        x = self.pool(torch.relu(self.norm(self.stem(x))))
        return self.head(torch.relu(self.conv(x)))


def transform_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, T.SpectralTransformWarning)]
