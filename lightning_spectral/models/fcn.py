"""The fully convolutional network for time-series classification (Wang et al. 2017).

Dziedzic et al. (2019, Sec. 4.6) band-limit this network on the UCR archive: three
convolution blocks (128, 256, 128 filters; kernels 8, 5, 3; stride 1, "same" padding), each
followed by batch normalisation and ReLU, then global average pooling over time and a linear
classifier.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["FCN"]


class FCN(nn.Module):
    """Wang et al.'s 3-block FCN baseline for time series.

    ``Conv1d(C, 128, 8) -> BN -> ReLU -> Conv1d(128, 256, 5) -> BN -> ReLU -> Conv1d(256,
    128, 3) -> BN -> ReLU -> global average pool -> Linear(128, num_classes)``. Convolutions
    use ``padding="same"`` (for the even kernel 8 the extra zero goes at the end, as in
    PyTorch), so any series length works and the band-limited rewrite sees the same geometry.

    Args:
        in_channels: Channels ``C`` of the input series (1 for the univariate UCR archive).
        num_classes: Number of classes.
        channels: Filters of the three blocks (smaller values give a fast CPU model).
        kernel_sizes: Kernel lengths of the three blocks.

    Shape:
        - Input: ``(B, C, L)``.
        - Output: ``(B, num_classes)`` logits.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        channels: Sequence[int] = (128, 256, 128),
        kernel_sizes: Sequence[int] = (8, 5, 3),
    ) -> None:
        super().__init__()
        channels, kernel_sizes = list(channels), list(kernel_sizes)
        if len(channels) != len(kernel_sizes) or not channels:
            raise ValueError(
                "channels and kernel_sizes must be non-empty and of equal length, got "
                f"{channels} and {kernel_sizes}"
            )
        if in_channels < 1 or num_classes < 1 or min(channels) < 1 or min(kernel_sizes) < 1:
            raise ValueError(
                "in_channels, num_classes, channels and kernel_sizes must be >= 1, got "
                f"{in_channels}, {num_classes}, {channels}, {kernel_sizes}"
            )
        self.in_channels = in_channels
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        previous = in_channels
        for width, kernel in zip(channels, kernel_sizes, strict=True):
            # BN follows, so the convolution's bias would be redundant.
            layers += [
                nn.Conv1d(previous, width, kernel, padding="same", bias=False),
                nn.BatchNorm1d(width),
                nn.ReLU(inplace=True),
            ]
            previous = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(previous, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify a batch of series.

        Args:
            x: Series, shape ``(B, C, L)``.

        Returns:
            Logits, shape ``(B, num_classes)``.
        """
        return self.classifier(self.pool(self.features(x)).flatten(1))
