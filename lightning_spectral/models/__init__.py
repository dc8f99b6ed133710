"""Reference networks of the papers and a generic classifier LightningModule.

Networks are plain ``nn.Module``s built from ordinary ``nn.Conv1d``/``nn.Conv2d`` and pooling
layers, so every transform and callback of the package applies to them:

- :class:`RippelGenericCNN`, :class:`RippelDeepCNN`: Rippel et al. 2015, Sec. 5.2, Eqs. (6)-(7).
- :class:`SpectralPoolingCNN`: Rippel et al. 2015, Sec. 5.1, Eq. (5).
- :class:`FCN`: Wang et al. 2017, the time-series network of Dziedzic et al. 2019, Sec. 4.6.
- :class:`ResNet18`: CIFAR-style ResNet-18.

:class:`SpectralClassifier` trains any of them (or any module producing logits).
"""

from lightning_spectral.models.classifier import SpectralClassifier
from lightning_spectral.models.fcn import FCN
from lightning_spectral.models.registry import NETWORKS, build_network
from lightning_spectral.models.resnet import BasicBlock, ResNet18
from lightning_spectral.models.rippel import (
    RippelDeepCNN,
    RippelGenericCNN,
    SpectralPoolingCNN,
    spectral_pooling_sizes,
)

__all__ = [
    "FCN",
    "NETWORKS",
    "BasicBlock",
    "ResNet18",
    "RippelDeepCNN",
    "RippelGenericCNN",
    "SpectralClassifier",
    "SpectralPoolingCNN",
    "build_network",
    "spectral_pooling_sizes",
]
