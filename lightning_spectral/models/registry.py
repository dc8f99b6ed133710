"""Reference networks by name, for configs that pick a network without a ``class_path``."""

from __future__ import annotations

from typing import Any

from torch import nn

from lightning_spectral.models.fcn import FCN
from lightning_spectral.models.resnet import ResNet18
from lightning_spectral.models.rippel import RippelDeepCNN, RippelGenericCNN, SpectralPoolingCNN

__all__ = ["NETWORKS", "build_network"]

#: Name -> network class, for ``SpectralClassifier(network="<name>", network_kwargs={...})``.
NETWORKS: dict[str, type[nn.Module]] = {
    "rippel_generic": RippelGenericCNN,
    "rippel_deep": RippelDeepCNN,
    "spectral_pooling_cnn": SpectralPoolingCNN,
    "fcn": FCN,
    "resnet18": ResNet18,
}


def build_network(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate a reference network by name.

    Args:
        name: A key of :data:`NETWORKS` (case-insensitive; ``-`` may replace ``_``).
        **kwargs: Constructor arguments of that network.

    Returns:
        The network.

    Raises:
        ValueError: If the name is unknown.
    """
    key = name.lower().replace("-", "_")
    if key not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of {sorted(NETWORKS)}")
    return NETWORKS[key](**kwargs)
