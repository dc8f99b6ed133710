"""CIFAR-style ResNet-18 (He et al. 2016, with the small-image stem used for CIFAR).

Unlike the ImageNet ResNet, the stem is a single 3x3 convolution with stride 1 and no max
pooling, so a 32x32 image reaches the four stages at full resolution (32, 16, 8, 4).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "ResNet18"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the first convolution (2 halves the resolution).

    Shape:
        - Input: ``(B, in_channels, H, W)``.
        - Output: ``(B, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x: Shape ``(B, in_channels, H, W)``.

        Returns:
            Shape ``(B, out_channels, H', W')``.
        """
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for 32x32 images: 3x3 stem, four stages of two basic blocks, linear head.

    Stage widths are ``width * (1, 2, 4, 8)`` (64..512 by default) with strides 1, 2, 2, 2,
    followed by global average pooling and a linear classifier. Works for any input size.

    Args:
        in_channels: Image channels.
        num_classes: Number of classes.
        width: Channels of the stem and first stage (64 in the original; e.g. 8 for a fast CPU
            model).

    Shape:
        - Input: ``(B, in_channels, H, W)``.
        - Output: ``(B, num_classes)`` logits.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1 or width < 1:
            raise ValueError(
                "in_channels, num_classes and width must be >= 1, got "
                f"{in_channels}, {num_classes}, {width}"
            )
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        previous = width
        for index, stride in enumerate((1, 2, 2, 2)):
            channels = width * 2**index
            stages.append(
                nn.Sequential(
                    BasicBlock(previous, channels, stride), BasicBlock(channels, channels, 1)
                )
            )
            previous = channels
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(previous, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify a batch of images.

        Args:
            x: Images, shape ``(B, in_channels, H, W)``.

        Returns:
            Logits, shape ``(B, num_classes)``.
        """
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.pool(x).flatten(1))
