"""The CNNs of Rippel et al. (2015): the Sec. 5.2 "generic" and deeper CNNs, and Eq. (5).

Notation of the paper: ``C^F_S`` a convolution with ``F`` filters of size ``S``, ``MP^T_S`` max
pooling of size ``S`` and stride ``T``, ``FC^F`` a fully connected layer, ``SP_S`` spectral
pooling to ``S x S``, ``GA`` global averaging.

- Generic, Eq. (6): ``C^96_3x3 -> MP^2_3x3 -> C^192_3x3 -> MP^2_3x3 -> FC^1024 -> FC^512 ->
  Softmax``.
- Deep, Eq. (7): ``C^96_3x3 -> C^96_3x3 -> MP^2_3x3 -> C^192_3x3 -> C^192_3x3 -> C^192_3x3
  -> MP^2_3x3 -> C^192_1x1 -> C^(10/100)_1x1 -> GA -> Softmax``.
- Spectral pooling, Eq. (5): ``(C^(96+32m)_3x3 -> SP_(floor(gamma H_m)))_(m=1..M) ->
  C^(96+32M)_1x1 -> C^(10/100)_1x1 -> GA -> Softmax``, at most 288 filters per layer, every
  convolution and pooling followed by ReLU.

Sec. 5.2 runs the first two with 3x3 and 5x5 filters (``kernel_size``). They use ordinary
``nn.Conv2d`` and ``nn.MaxPool2d`` so the package's callbacks and transforms can rewrite them
(spectral parametrization, band-limiting, spectral pooling). The softmax is left to the loss:
every network returns logits. Convolutions use "same" zero padding (``kernel_size // 2``) and
the max pools padding 1, so a map of size ``H`` pools to ``ceil(H / 2)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from lightning_spectral.nn import SpectralPool2d

__all__ = ["RippelDeepCNN", "RippelGenericCNN", "SpectralPoolingCNN", "spectral_pooling_sizes"]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


def _check_kernel(kernel_size: int) -> None:
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int (3 or 5), got {kernel_size}")


def _conv_block(
    in_channels: int, out_channels: int, kernel_size: int, batch_norm: bool
) -> list[nn.Module]:
    """Convolution with "same" padding, optional batch norm, ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return layers


def _max_pool() -> nn.MaxPool2d:
    """``MP^2_3x3``: overlapping 3x3 max pooling with stride 2 (padding 1: H -> ceil(H/2))."""
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)


def _pooled(size: int) -> int:
    return (size + 2 * 1 - 3) // 2 + 1


class RippelGenericCNN(nn.Module):
    """The "generic" CNN of Rippel et al., Sec. 5.2, Eq. (6).

    ``conv(k) -> ReLU -> maxpool -> conv(k) -> ReLU -> maxpool -> FC -> ReLU -> FC -> ReLU ->
    Linear(num_classes)``.

    Args:
        in_channels: Image channels.
        num_classes: Number of classes.
        input_size: Image size ``H`` or ``(H, W)``; fixes the width of the first FC layer.
        kernel_size: Filter size of the two convolutions (3 or 5 in the paper).
        channels: Filters of the two convolutions (96, 192 in the paper).
        hidden_features: Widths of the two FC layers (1024, 512 in the paper).
        batch_norm: Batch norm after each convolution (not in the paper).
        dropout: Dropout probability after each hidden FC layer (0 in the paper).

    Shape:
        - Input: ``(B, in_channels, H, W)``.
        - Output: ``(B, num_classes)`` logits.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        input_size: int | Sequence[int] = 32,
        kernel_size: int = 3,
        channels: Sequence[int] = (96, 192),
        hidden_features: Sequence[int] = (1024, 512),
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_kernel(kernel_size)
        height, width = _pair(input_size, "input_size")
        c1, c2 = _pair(tuple(channels), "channels")
        f1, f2 = _pair(tuple(hidden_features), "hidden_features")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.input_size = (height, width)
        self.features = nn.Sequential(
            *_conv_block(in_channels, c1, kernel_size, batch_norm),
            _max_pool(),
            *_conv_block(c1, c2, kernel_size, batch_norm),
            _max_pool(),
        )
        flat = c2 * _pooled(_pooled(height)) * _pooled(_pooled(width))
        self.classifier = nn.Sequential(
            nn.Linear(flat, f1),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(f1, f2),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(f2, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify a batch of images.

        Args:
            x: Images, shape ``(B, in_channels, H, W)`` with ``(H, W) == input_size``.

        Returns:
            Logits, shape ``(B, num_classes)``.
        """
        return self.classifier(self.features(x).flatten(1))


class RippelDeepCNN(nn.Module):
    """The deeper CNN of Rippel et al., Sec. 5.2, Eq. (7) (from Snoek et al. 2015).

    Five k x k convolutions in two max-pooled groups, then two 1x1 convolutions (the last one
    producing one map per class) and global average pooling. Works for any input size.

    Args:
        in_channels: Image channels.
        num_classes: Number of classes.
        kernel_size: Filter size of the five spatial convolutions (3 or 5 in the paper).
        channels: Filters of the first group and of the second group (96, 192 in the paper);
            the 1x1 convolution after the second pool keeps the second width.
        batch_norm: Batch norm after each convolution but the last (not in the paper).

    Shape:
        - Input: ``(B, in_channels, H, W)``.
        - Output: ``(B, num_classes)`` logits.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        kernel_size: int = 3,
        channels: Sequence[int] = (96, 192),
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_kernel(kernel_size)
        c1, c2 = _pair(tuple(channels), "channels")
        self.in_channels = in_channels
        self.num_classes = num_classes
        k = kernel_size
        self.features = nn.Sequential(
            *_conv_block(in_channels, c1, k, batch_norm),
            *_conv_block(c1, c1, k, batch_norm),
            _max_pool(),
            *_conv_block(c1, c2, k, batch_norm),
            *_conv_block(c2, c2, k, batch_norm),
            *_conv_block(c2, c2, k, batch_norm),
            _max_pool(),
            *_conv_block(c2, c2, 1, batch_norm),
            nn.Conv2d(c2, num_classes, 1),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify a batch of images.

        Args:
            x: Images, shape ``(B, in_channels, H, W)``.

        Returns:
            Logits, shape ``(B, num_classes)``.
        """
        return self.pool(self.features(x)).flatten(1)


def spectral_pooling_sizes(
    input_size: int | Sequence[int], num_layers: int, gamma: float
) -> list[tuple[int, int]]:
    """Map sizes after each spectral pooling layer of Eq. (5): ``H_(m+1) = floor(gamma H_m)``.

    ``H_1`` is the input size (the convolutions keep the size), and layer ``m`` pools its
    ``H_m x W_m`` map to ``floor(gamma H_m) x floor(gamma W_m)``, so the size after ``M``
    layers is about ``gamma^M H`` (the floors compound, so it can be a little smaller).

    Args:
        input_size: Input size ``H`` or ``(H, W)``.
        num_layers: Number of convolution + pooling layers ``M``.
        gamma: Dimensionality decay rate in ``(0, 1)``.

    Returns:
        ``[(H_2, W_2), ..., (H_(M+1), W_(M+1))]``: the output size of each pooling layer.

    Raises:
        ValueError: If ``gamma`` is outside ``(0, 1)``, ``num_layers < 1``, or a map would
            shrink below 1x1.
    """
    height, width = _pair(input_size, "input_size")
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma!r}")
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    sizes: list[tuple[int, int]] = []
    for layer in range(1, num_layers + 1):
        # The epsilon keeps e.g. 0.5 * 32 from flooring to 15 through rounding error.
        height, width = (math.floor(gamma * height + 1e-9), math.floor(gamma * width + 1e-9))
        if height < 1 or width < 1:
            raise ValueError(
                f"input_size={input_size!r} with gamma={gamma} shrinks below 1x1 at pooling "
                f"layer {layer} of {num_layers}; use fewer layers or a larger gamma"
            )
        sizes.append((height, width))
    return sizes


class SpectralPoolingCNN(nn.Module):
    """The spectral-pooling CNN of Rippel et al., Sec. 5.1, Eq. (5).

    ``M`` layers ``conv(k, 96 + 32 m filters) -> ReLU -> SpectralPool2d(floor(gamma H_m)) ->
    ReLU`` (:func:`spectral_pooling_sizes`), then ``conv1x1(96 + 32 M) -> ReLU ->
    conv1x1(num_classes) -> global average pool``. Filter counts are capped at
    ``max_channels`` (288 in the paper). The paper's best CIFAR configuration is
    ``gamma = 0.85`` with frequency dropout ``alpha ~ 0.30, beta ~ 0.15``.

    Frequency dropout (random resolution reduction) gives layer ``m`` the minimum cutoff
    fraction ``c_m = alpha + (m / M) (beta - alpha)``; pass ``dropout_alpha`` and
    ``dropout_beta`` to set it here for use without Lightning, or schedule it with the
    package's ``ResolutionDropoutScheduler`` callback.

    Args:
        in_channels: Image channels.
        num_classes: Number of classes.
        num_layers: Number of convolution + spectral pooling layers ``M`` (1..15 in the paper).
        gamma: Dimensionality decay rate per pooling layer, in ``(0, 1)``.
        input_size: Image size ``H`` or ``(H, W)``; fixes the pooling output sizes.
        kernel_size: Filter size of the ``M`` spatial convolutions (3 in the paper).
        base_channels: Filters of layer ``m`` are ``base_channels + growth * m`` (96).
        growth: Added filters per layer (32).
        max_channels: Upper bound on filters per layer (288).
        dropout_alpha: Rippel's ``alpha`` (requires ``dropout_beta``); None: no dropout.
        dropout_beta: Rippel's ``beta``.
        batch_norm: Batch norm after each convolution but the last (not in the paper).

    Attributes:
        map_sizes: Output size of each pooling layer, ``[(H_2, W_2), ...]``.

    Shape:
        - Input: ``(B, in_channels, H, W)`` with ``(H, W) == input_size``.
        - Output: ``(B, num_classes)`` logits.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        num_layers: int = 3,
        gamma: float = 0.85,
        input_size: int | Sequence[int] = 32,
        kernel_size: int = 3,
        base_channels: int = 96,
        growth: int = 32,
        max_channels: int = 288,
        dropout_alpha: float | None = None,
        dropout_beta: float | None = None,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        _check_kernel(kernel_size)
        if base_channels < 1 or growth < 0 or max_channels < 1:
            raise ValueError(
                "base_channels and max_channels must be >= 1 and growth >= 0, got "
                f"{base_channels}, {growth}, {max_channels}"
            )
        if (dropout_alpha is None) != (dropout_beta is None):
            raise ValueError("dropout_alpha and dropout_beta must be given together")
        dropout = None
        if dropout_alpha is not None and dropout_beta is not None:
            if not (0.0 <= dropout_alpha <= 1.0 and 0.0 <= dropout_beta <= 1.0):
                raise ValueError(
                    f"dropout_alpha and dropout_beta must be in [0, 1], got {dropout_alpha}, "
                    f"{dropout_beta}"
                )
            dropout = (dropout_alpha, dropout_beta)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.num_layers = num_layers
        self.gamma = gamma
        self.input_size = _pair(input_size, "input_size")
        self.map_sizes = spectral_pooling_sizes(self.input_size, num_layers, gamma)

        def width(m: int) -> int:
            return min(base_channels + growth * m, max_channels)

        layers: list[nn.Module] = []
        previous = in_channels
        for m, size in enumerate(self.map_sizes, start=1):
            c_m = (
                None
                if dropout is None
                else dropout[0] + (m / num_layers) * (dropout[1] - dropout[0])
            )
            # A distinct seed per layer: the layers' cutoffs are drawn independently.
            pool = SpectralPool2d(output_size=size, dropout_min=c_m, dropout_seed=m)
            # Not in place: a pool may return its input unchanged, which a ReLU saved for backward.
            layers += [
                *_conv_block(previous, width(m), kernel_size, batch_norm),
                pool,
                nn.ReLU(),
            ]
            previous = width(m)
        layers += [
            *_conv_block(previous, width(num_layers), 1, batch_norm),
            nn.Conv2d(width(num_layers), num_classes, 1),
        ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify a batch of images.

        Args:
            x: Images, shape ``(B, in_channels, H, W)`` with ``(H, W) == input_size``.

        Returns:
            Logits, shape ``(B, num_classes)``.
        """
        return self.pool(self.features(x)).flatten(1)
