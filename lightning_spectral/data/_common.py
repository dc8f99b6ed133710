"""Shared pieces of the example DataModules: an in-memory dataset, seeded splits, a base class.

Every DataModule here loads a whole (small) dataset into memory once, splits it stratified by
class with a fixed seed (so two instances with the same arguments see the same samples on every
rank), shuffles every split once with that seed (so the first batches of validation and test
hold every class) and serves plain ``(input, label)`` batches.
"""

from __future__ import annotations

import importlib
import socket
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lightning_spectral._lightning_compat import LightningDataModule

__all__ = [
    "ArrayDataset",
    "ClassificationDataModule",
    "import_extra",
    "probe_host",
    "seeded_permutation",
    "stratified_split",
]


def import_extra(module: str, owner: str) -> ModuleType:
    """Import an optional dependency of the ``data`` extra, or say which install provides it.

    Args:
        module: the module to import, e.g. ``"torchvision.datasets"``.
        owner: who needs it, for the message.

    Returns:
        The imported module.

    Raises:
        ImportError: naming ``owner``, the missing package and ``pip install
            'lightning-spectral[data]'`` (the original error is the cause).

    Examples:
        >>> import_extra("math", "this example").sqrt(4.0)
        2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:  # pragma: no cover - depends on the environment
        package = module.split(".")[0]
        raise ImportError(
            f"{owner} needs {package}: pip install 'lightning-spectral[data]'"
        ) from err


class ArrayDataset(Dataset):
    """In-memory classification dataset over two tensors.

    Args:
        inputs: Samples, shape ``(N, ...)``.
        targets: Integer class labels, shape ``(N,)``.
        transform: Optional callable applied to one sample ``inputs[i]`` on access (e.g.
            augmentation and normalisation of a ``uint8`` image).
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if inputs.shape[0] != targets.shape[0]:
            raise ValueError(
                f"inputs and targets differ in length: {inputs.shape[0]} vs {targets.shape[0]}"
            )
        self.inputs = inputs
        self.targets = targets
        self.transform = transform

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inputs[index]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.targets[index]


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into a kept and a held-out part, stratified by class, both shuffled.

    ``sklearn.model_selection.train_test_split(stratify=labels)`` draws the held-out part: its
    size is ``ceil(fraction * N)``, shared among the classes in proportion to their sizes. Both
    parts come back in a seeded random order, so a prefix (the first batches, as
    ``limit_val_batches`` evaluates them) holds every class, not one class after the other.
    The result depends only on the labels, the fraction and the seed.

    Args:
        labels: Integer labels, shape ``(N,)``.
        fraction: Held-out fraction in ``[0, 1)``; 0 holds out nothing.
        seed: Seed of the split and of the order.

    Returns:
        ``(kept, held_out)``: index arrays, in shuffled order, partitioning ``range(N)``.

    Raises:
        ValueError: If ``fraction`` is outside ``[0, 1)``, or the labels cannot be split
            stratified at this fraction (a class with a single sample, or fewer held-out
            samples than classes).

    Examples:
        >>> kept, held = stratified_split(np.repeat([0, 1], 5), 0.4, seed=0)
        >>> sorted(np.repeat([0, 1], 5)[held].tolist())
        [0, 0, 1, 1]
        >>> sorted(np.concatenate([kept, held]).tolist()) == list(range(10))
        True
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"split fraction must be in [0, 1), got {fraction!r}")
    labels = np.asarray(labels)
    if fraction == 0.0:  # train_test_split refuses an empty part
        return seeded_permutation(labels.size, seed), np.empty(0, dtype=np.int64)
    from sklearn.model_selection import train_test_split

    try:
        kept, held_out = train_test_split(
            np.arange(labels.size), test_size=fraction, random_state=seed, stratify=labels
        )
    except ValueError as err:
        counts = np.unique(labels, return_counts=True)[1]
        raise ValueError(
            f"cannot hold out fraction={fraction!r} of {labels.size} samples stratified by "
            f"class (smallest class: {counts.min() if counts.size else 0} samples; every "
            f"class needs 2 and the held-out part one per class): {err}"
        ) from err
    return kept.astype(np.int64), held_out.astype(np.int64)


def seeded_permutation(size: int, seed: int) -> np.ndarray:
    """Indices ``0..size-1`` in a random order fixed by ``seed``.

    Used to shuffle the official test splits (often stored class by class) once.

    Args:
        size: Number of indices.
        seed: Seed of ``numpy.random.default_rng``.

    Returns:
        ``int64`` array of shape ``(size,)``.

    Examples:
        >>> sorted(seeded_permutation(4, seed=0).tolist())
        [0, 1, 2, 3]
    """
    return np.random.default_rng(seed).permutation(size).astype(np.int64)


def probe_host(host: str, port: int = 443, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds.

    Name resolution ignores socket timeouts, so the probe runs in a daemon thread that is
    abandoned when the deadline passes: an offline machine answers in at most ``timeout``.

    Args:
        host: Host name.
        port: TCP port.
        timeout: Deadline in seconds.

    Returns:
        True if the connection opened.
    """
    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


class ClassificationDataModule(LightningDataModule):
    """Base of the example DataModules: seeded train/val/test splits of in-memory data.

    Subclasses implement :meth:`_load` (return the three datasets and fill ``split_indices``)
    and provide ``num_classes``, ``in_channels`` and ``input_shape``. ``val_fraction > 0``
    holds out a stratified part of the training data for validation; ``val_fraction == 0``
    validates on the test split (the usual practice for the UCR archive, whose training sets
    are tiny). Every split is stored in an order shuffled once with ``seed`` (see
    :func:`stratified_split`), so ``limit_val_batches`` / ``limit_test_batches`` evaluate a
    sample of every class.

    Args:
        batch_size: Samples per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
        val_fraction: Fraction of the training data held out for validation, in ``[0, 1)``.
        seed: Seed of the splits and of their order.
        pin_memory: Pin host memory for faster transfer to a GPU.

    Attributes:
        train_set: Training split (after :meth:`setup`).
        val_set: Validation split (the test split when ``val_fraction == 0``).
        test_set: Test split.
        split_indices: ``{"train", "val", "test"}`` index arrays into the source data the
            splits were drawn from (see each DataModule).
    """

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.seed = seed
        self.pin_memory = pin_memory
        self.train_set: ArrayDataset | None = None
        self.val_set: ArrayDataset | None = None
        self.test_set: ArrayDataset | None = None
        # Indices of each split into the source array it was drawn from (set by ``_load``).
        self.split_indices: dict[str, np.ndarray] = {}

    def _load(self) -> tuple[ArrayDataset, ArrayDataset, ArrayDataset]:
        """Return ``(train, val, test)`` datasets; called once, by :meth:`setup`."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        """Load the data and build the splits (idempotent; every stage gets all splits).

        Args:
            stage: Lightning stage (``fit``, ``validate``, ``test``, ``predict``); unused,
                the data are small enough to hold every split.
        """
        if self.train_set is None:
            self.train_set, self.val_set, self.test_set = self._load()

    def _loader(self, dataset: ArrayDataset | None, shuffle: bool) -> DataLoader:
        assert dataset is not None, "setup() builds every split"
        kwargs: dict[str, Any] = {}
        if self.num_workers > 0:
            kwargs["persistent_workers"] = True
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            **kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of the training split."""
        self.setup()
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Batches of the validation split (the test split when ``val_fraction == 0``)."""
        self.setup()
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Batches of the test split."""
        self.setup()
        return self._loader(self.test_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """Batches of the test split, for ``predict``."""
        return self.test_dataloader()
