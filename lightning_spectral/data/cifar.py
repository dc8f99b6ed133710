"""CIFAR-10 and CIFAR-100 from a local folder (python version), or downloaded by torchvision."""

from __future__ import annotations

import os
from types import ModuleType
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from lightning_spectral.data._common import (
    ArrayDataset,
    ClassificationDataModule,
    import_extra,
    probe_host,
    seeded_permutation,
    stratified_split,
)

if TYPE_CHECKING:
    from torchvision import datasets
    from torchvision.transforms import v2

__all__ = ["CIFARDataModule", "read_cifar"]

# Per-channel statistics of the training sets (the customary values).
_STATS = {
    10: ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    100: ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_DOWNLOAD_HOST = "www.cs.toronto.edu"


def _torchvision_datasets() -> ModuleType:
    """``torchvision.datasets``, imported on first use (torchvision is in the data extra)."""
    return import_extra("torchvision.datasets", "CIFARDataModule")


def _dataset_class(variant: int, verify: bool = True) -> type[datasets.CIFAR10]:
    """torchvision's reader of the variant; unverified, it checks only that the files exist."""
    datasets = _torchvision_datasets()
    cls = datasets.CIFAR10 if variant == 10 else datasets.CIFAR100
    if verify:
        return cls
    # torchvision checks every file's MD5 when it opens the dataset; check_integrity(path, None)
    # only checks that the file exists, so a subclass without sums reads modified copies.
    return type(
        f"Unverified{cls.__name__}",
        (cls,),
        {
            "train_list": [[name, None] for name, _ in cls.train_list],
            "test_list": [[name, None] for name, _ in cls.test_list],
            "meta": {**cls.meta, "md5": None},
        },
    )


def read_cifar(
    root: str, variant: Literal[10, 100] = 10, train: bool = True, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read CIFAR in the python-pickle format under ``root`` with ``torchvision.datasets``.

    The layout is torchvision's: ``root/cifar-10-batches-py/{data_batch_1..5, test_batch,
    batches.meta}`` or ``root/cifar-100-python/{train, test, meta}``. Nothing is downloaded.

    Args:
        root: Folder holding the extracted archive.
        variant: 10 or 100 (CIFAR-100's fine labels).
        train: Read the training batches (else the test batch).
        verify: Check each file's MD5 against torchvision's reference sums.

    Returns:
        ``(images, labels, classes)``: ``uint8`` images ``(N, 3, 32, 32)``, ``int64`` labels
        ``(N,)`` and the class names.

    Raises:
        FileNotFoundError: If a file is missing.
        RuntimeError: If ``verify`` and a checksum differs.
    """
    cls = _dataset_class(variant)
    folder = os.path.join(root, cls.base_folder)
    names = [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    for name in names:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(path)
    try:
        dataset = _dataset_class(variant, verify)(root, train=train, download=False)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise RuntimeError(
            f"a file under {folder} does not match the MD5 of the official CIFAR-{variant} "
            "release; re-download it (download=True) or pass verify=False to read it anyway"
        ) from err
    # torchvision keeps (N, 32, 32, 3); the networks take channels first.
    images = np.ascontiguousarray(np.asarray(dataset.data, dtype=np.uint8).transpose(0, 3, 1, 2))
    return images, np.asarray(dataset.targets, dtype=np.int64), list(dataset.classes)


class CIFARDataModule(ClassificationDataModule):
    """CIFAR-10 or CIFAR-100 (50,000 training and 10,000 test images of 3x32x32).

    The data are read from ``root`` (the folder that holds ``cifar-10-batches-py`` or
    ``cifar-100-python``, as torchvision lays it out). With ``download=True`` and internet
    access, missing data are first downloaded by ``torchvision.datasets.CIFAR10/100``; when
    neither is possible, :meth:`prepare_data` (or :meth:`setup`) raises a message saying what
    to do.

    Images are ``float32`` tensors of shape ``(3, 32, 32)``, scaled to ``[0, 1]`` and
    normalised per channel. With ``augment``, training images get the standard augmentation
    (random crop of 32 after 4-pixel zero padding, random horizontal flip); validation and test
    images never do. With ``val_fraction > 0`` a stratified, seeded part of the training set is
    held out for validation, otherwise validation runs on the test set. Every split is
    shuffled once with ``seed``, so its first batches hold every class.

    Args:
        root: Folder with the extracted python-version archive (or receiving a download).
        variant: 10 for CIFAR-10, 100 for CIFAR-100 (fine labels).
        download: Download the archive when it is missing (needs internet).
        batch_size: Samples per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
        val_fraction: Fraction of the training set held out for validation, in ``[0, 1)``.
        seed: Seed of the validation split and of the splits' order.
        augment: Random crop and horizontal flip on training images.
        verify: Check the files' MD5 sums against the official release.
        download_timeout: Seconds the connectivity probe waits before declaring the machine
            offline.
        pin_memory: Pin host memory for faster transfer to a GPU.

    Attributes:
        num_classes: 10 or 100.
        in_channels: 3.
        input_size: 32.
        input_shape: ``(3, 32, 32)``.
        classes: Class names (after :meth:`setup`).
        split_indices: ``train``/``val`` indices into the official training set, ``test``
            into the test set, each in the order of its dataset (after :meth:`setup`).
    """

    in_channels: int = 3
    input_size: int = 32
    input_shape: tuple[int, int, int] = (3, 32, 32)

    def __init__(
        self,
        root: str = "data",
        variant: Literal[10, 100] = 10,
        download: bool = False,
        batch_size: int = 128,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        augment: bool = True,
        verify: bool = True,
        download_timeout: float = 10.0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            val_fraction=val_fraction,
            seed=seed,
            pin_memory=pin_memory,
        )
        if variant not in (10, 100):
            raise ValueError(f"variant must be 10 or 100, got {variant!r}")
        if download_timeout <= 0:
            raise ValueError(f"download_timeout must be > 0, got {download_timeout!r}")
        self.root = root
        self.variant = variant
        self.download = download
        self.augment = augment
        self.verify = verify
        self.download_timeout = download_timeout
        self.classes: list[str] = []
        # Stored in checkpoints (``datamodule_hyper_parameters``) and sent to the logger.
        self.save_hyperparameters()

    @property
    def num_classes(self) -> int:
        """10 or 100."""
        return self.variant

    @property
    def _folder(self) -> str:
        return os.path.join(self.root, _dataset_class(self.variant).base_folder)

    def _present(self) -> bool:
        cls = _dataset_class(self.variant)
        names = [n for n, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return all(os.path.isfile(os.path.join(self._folder, n)) for n in names)

    def prepare_data(self) -> None:
        """Download CIFAR if it is missing and ``download`` is set.

        Raises:
            FileNotFoundError: If the data are missing and ``download`` is False.
            RuntimeError: If the download fails (e.g. offline).
        """
        if self._present():
            return
        name = f"CIFAR-{self.variant}"
        if not self.download:
            raise FileNotFoundError(
                f"{name} not found under root={self.root!r} (expected {self._folder}). Pass "
                f"download=True to fetch it (needs internet), or extract the python version "
                f"of {_dataset_class(self.variant).url} into {self.root!r}."
            )
        offline = RuntimeError(
            f"{name} not found under root={self.root!r} and downloading it failed: "
            f"{_DOWNLOAD_HOST} cannot be reached (offline?). Extract the python version of "
            f"{_dataset_class(self.variant).url} into {self.root!r} instead."
        )
        if not probe_host(_DOWNLOAD_HOST, timeout=self.download_timeout):
            raise offline
        try:
            for train in (True, False):
                _dataset_class(self.variant)(self.root, train=train, download=True)
        except OSError as err:  # URLError is an OSError
            raise offline from err

    def _transform(self, train: bool) -> v2.Compose:
        from torchvision.transforms import v2

        mean, std = _STATS[self.variant]
        steps: list[v2.Transform] = []
        if train and self.augment:
            steps += [v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()]
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
        return v2.Compose(steps)

    def _load(self) -> tuple[ArrayDataset, ArrayDataset, ArrayDataset]:
        self.prepare_data()
        train_x, train_y, self.classes = read_cifar(self.root, self.variant, True, self.verify)
        test_x, test_y, _ = read_cifar(self.root, self.variant, False, self.verify)
        train_idx, val_idx = stratified_split(train_y, self.val_fraction, self.seed)
        test_idx = seeded_permutation(test_y.size, self.seed)
        self.split_indices = {"train": train_idx, "val": val_idx, "test": test_idx}

        def subset(x: np.ndarray, y: np.ndarray, train: bool) -> ArrayDataset:
            return ArrayDataset(
                torch.from_numpy(np.ascontiguousarray(x)),
                torch.from_numpy(np.ascontiguousarray(y)),
                transform=self._transform(train),
            )

        test = subset(test_x[test_idx], test_y[test_idx], train=False)
        val = subset(train_x[val_idx], train_y[val_idx], train=False) if val_idx.size else test
        return subset(train_x[train_idx], train_y[train_idx], train=True), val, test
