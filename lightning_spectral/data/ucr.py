"""UCR/UEA time-series classification datasets through ``aeon.datasets.load_classification``."""

from __future__ import annotations

import contextlib
import functools
import os

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

__all__ = ["UCRDataModule", "bundled_ucr_datasets", "encode_labels", "znormalize"]

# aeon downloads from the Zenodo tsml community.
_DOWNLOAD_HOST = "zenodo.org"


def _aeon_datasets_dir() -> str:
    return os.path.dirname(import_extra("aeon.datasets", "UCRDataModule").__file__)


def _local_datasets(root: str | None) -> list[str]:
    """Datasets with both ``.ts`` files under ``root`` (None: aeon's bundled data and cache)."""
    from aeon.datasets.dataset_collections import get_downloaded_tsc_tsr_datasets

    return get_downloaded_tsc_tsr_datasets(root)


def _has_class_labels(ts_file: str) -> bool:
    """Whether a ``.ts`` file's header declares class labels (``@classLabel true``)."""
    with open(ts_file, encoding="utf-8", errors="replace") as f:
        for line in f:
            words = line.strip().lower().split()
            if words[:1] == ["@data"]:
                return False
            if words[:2] == ["@classlabel", "true"]:
                return True
    return False


@functools.lru_cache(maxsize=1)
def _bundled() -> tuple[str, ...]:
    root = os.path.join(_aeon_datasets_dir(), "data")
    # The bundled folder also holds regression problems; keep those with class labels.
    return tuple(
        sorted(
            name
            for name in _local_datasets(root)
            if _has_class_labels(os.path.join(root, name, f"{name}_TRAIN.ts"))
        )
    )


def bundled_ucr_datasets() -> list[str]:
    """Names of the classification datasets shipped inside aeon (usable offline).

    Returns:
        Sorted dataset names, e.g. ``["ArrowHead", "BasicMotions", "GunPoint", ...]``.
    """
    return list(_bundled())


def encode_labels(*label_arrays: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    """Map class labels (strings in the UCR files) to ``0..K-1``, consistently across splits.

    Classes are ordered numerically when every label parses as a number (so ``"-1" < "1" <
    "10"``), lexicographically otherwise.

    Args:
        *label_arrays: One label array per split, each of shape ``(N_i,)``.

    Returns:
        ``(classes, codes)``: the class names in code order, and one ``int64`` code array per
        input array.
    """
    names = sorted({str(v) for arr in label_arrays for v in np.asarray(arr).tolist()})
    with contextlib.suppress(ValueError):  # some label is not a number: keep the text order
        names.sort(key=float)
    lookup = {name: code for code, name in enumerate(names)}
    codes = [
        np.array([lookup[str(v)] for v in np.asarray(arr).tolist()], dtype=np.int64)
        for arr in label_arrays
    ]
    return names, codes


def znormalize(series: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Z-normalise each series and channel to zero mean and unit variance over time.

    Missing values (NaN) are ignored in the statistics and then set to 0 (the mean); a
    constant series becomes all zeros.

    Args:
        series: Shape ``(N, C, L)``.
        eps: Standard deviations below this count as zero.

    Returns:
        ``float32`` array of shape ``(N, C, L)``.
    """
    series = np.asarray(series, dtype=np.float64)
    finite = np.isfinite(series)
    count = np.maximum(finite.sum(axis=-1, keepdims=True), 1)
    filled = np.where(finite, series, 0.0)
    mean = filled.sum(axis=-1, keepdims=True) / count
    var = (np.where(finite, series - mean, 0.0) ** 2).sum(axis=-1, keepdims=True) / count
    std = np.sqrt(var)
    out = (filled - mean) / np.where(std > eps, std, 1.0)
    return np.where(finite, out, 0.0).astype(np.float32)


def _prepare(
    series: np.ndarray | list[np.ndarray], normalize: bool
) -> np.ndarray | list[np.ndarray]:
    """``float32`` series, z-normalised one by one when ``normalize`` (lengths may differ)."""
    if isinstance(series, np.ndarray):
        return znormalize(series) if normalize else series.astype(np.float32)
    return [znormalize(x[None])[0] if normalize else x.astype(np.float32) for x in series]


def _to_array(series: np.ndarray | list[np.ndarray], length: int) -> np.ndarray:
    """Stack a collection to ``(N, C, length)``, zero-padding shorter series at the end."""
    if isinstance(series, np.ndarray) and series.shape[-1] == length:
        return series
    out = np.zeros((len(series), series[0].shape[0], length), dtype=np.float32)
    for i, x in enumerate(series):
        out[i, :, : x.shape[-1]] = x
    return out


def _length(series: np.ndarray | list[np.ndarray]) -> int:
    if isinstance(series, np.ndarray):
        return int(series.shape[-1])
    return max(int(x.shape[-1]) for x in series)


class UCRDataModule(ClassificationDataModule):
    """A UCR/UEA classification dataset loaded with ``aeon.datasets.load_classification``.

    Datasets bundled with aeon (``ArrowHead``, ``BasicMotions``, ``GunPoint``,
    ``ItalyPowerDemand``, ``JapaneseVowels``, ``OSULeaf``, ... see
    :func:`bundled_ucr_datasets`) load offline. Any other name of the archive is read from
    ``data_dir`` (or aeon's cache) when present there and otherwise downloaded from Zenodo by
    aeon, which needs internet; offline, a quick connection probe turns that into a clear
    error instead of a long network timeout.

    Series are returned as ``float32`` tensors of shape ``(C, L)`` (``C = 1`` for the
    univariate UCR archive), z-normalised per series and channel when ``normalize`` is set;
    unequal-length series are zero-padded at the end to the longest length. Labels are mapped
    to ``0..K-1`` (order in :attr:`classes`). The official train/test split is kept; with
    ``val_fraction > 0`` a stratified, seeded part of the training split is held out for
    validation, otherwise validation runs on the test split (the usual UCR protocol). Every
    split is shuffled once with ``seed``, so its first batches hold every class.

    Args:
        dataset: Dataset name, e.g. ``"GunPoint"``.
        data_dir: Folder holding ``<dataset>/<dataset>_TRAIN.ts`` and ``_TEST.ts`` or receiving
            a download; None uses aeon's cache folder. Bundled datasets ignore it.
        batch_size: Samples per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
        val_fraction: Fraction of the training split held out for validation, in ``[0, 1)``;
            0 validates on the test split.
        seed: Seed of the validation split and of the splits' order.
        normalize: Z-normalise every series and channel.
        download_timeout: Seconds the connectivity probe waits before declaring the machine
            offline.
        pin_memory: Pin host memory for faster transfer to a GPU.

    Attributes:
        num_classes: Number of classes (loads the data on first access).
        in_channels: Number of channels ``C`` (loads the data on first access).
        series_length: Series length ``L`` (loads the data on first access).
        input_shape: ``(C, L)``.
        classes: Original class labels, in code order.
        split_indices: ``train``/``val`` indices into the official training split, ``test``
            into the official test split, each in the order of its dataset (after
            :meth:`setup`).
    """

    def __init__(
        self,
        dataset: str = "GunPoint",
        data_dir: str | None = None,
        batch_size: int = 16,
        num_workers: int = 0,
        val_fraction: float = 0.0,
        seed: int = 0,
        normalize: bool = True,
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
        if not dataset:
            raise ValueError("dataset must be a non-empty UCR/UEA dataset name")
        if download_timeout <= 0:
            raise ValueError(f"download_timeout must be > 0, got {download_timeout!r}")
        self.dataset = dataset
        self.data_dir = data_dir
        self.normalize = normalize
        self.download_timeout = download_timeout
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.classes: list[str] = []
        # Stored in checkpoints (``datamodule_hyper_parameters``) and sent to the logger.
        self.save_hyperparameters()

    # ---- locating and reading -------------------------------------------------------------

    def _is_bundled(self) -> bool:
        return self.dataset in bundled_ucr_datasets()

    def _is_local(self) -> bool:
        return self._is_bundled() or self.dataset in _local_datasets(self.data_dir)

    def prepare_data(self) -> None:
        """Download the dataset if it is neither bundled nor in ``data_dir``/aeon's cache.

        Raises:
            ValueError: If the name is not in the UCR/UEA archive.
            RuntimeError: If a download is needed and the machine is offline.
        """
        if self._is_local():
            return
        from aeon.datasets.tsc_datasets import tsc_zenodo

        if self.dataset not in tsc_zenodo:
            raise ValueError(
                f"unknown UCR/UEA dataset {self.dataset!r}: it is not bundled with aeon "
                f"({', '.join(bundled_ucr_datasets())}) and not in the archive list "
                "aeon.datasets.tsc_datasets.tsc_zenodo"
            )
        if not probe_host(_DOWNLOAD_HOST, timeout=self.download_timeout):
            raise RuntimeError(
                f"UCR dataset {self.dataset!r} is not available locally and {_DOWNLOAD_HOST} "
                f"cannot be reached (offline?). Use a bundled dataset "
                f"({', '.join(bundled_ucr_datasets())}), connect to the internet, or place "
                f"{self.dataset}/{self.dataset}_TRAIN.ts and _TEST.ts under data_dir="
                f"{self.data_dir!r}."
            )
        self._read()  # aeon downloads on first load

    def _read(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is not None:
            return self._arrays
        from aeon.datasets import load_classification

        # An explicit extract_path makes aeon look only there, so bundled names go without it.
        extract_path = None if self._is_bundled() else self.data_dir
        try:
            X_train, y_train = load_classification(
                self.dataset, split="train", extract_path=extract_path
            )
            X_test, y_test = load_classification(
                self.dataset, split="test", extract_path=extract_path
            )
        except ValueError as err:
            raise RuntimeError(f"could not load UCR dataset {self.dataset!r}: {err}") from err

        # Normalise each series over its own length, then pad: padding zeros stay zeros.
        length = max(_length(X_train), _length(X_test))
        X_train, X_test = (
            _to_array(_prepare(x, self.normalize), length) for x in (X_train, X_test)
        )
        self.classes, (codes_train, codes_test) = encode_labels(y_train, y_test)
        self._arrays = (X_train, codes_train, X_test, codes_test)
        return self._arrays

    def _load(self) -> tuple[ArrayDataset, ArrayDataset, ArrayDataset]:
        X_train, y_train, X_test, y_test = self._ensure()
        train_idx, val_idx = stratified_split(y_train, self.val_fraction, self.seed)
        self.split_indices = {
            "train": train_idx,
            "val": val_idx,
            # The official test files are often sorted by class: shuffle them once too.
            "test": seeded_permutation(y_test.size, self.seed),
        }

        def subset(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> ArrayDataset:
            x, y = x[idx], y[idx]
            return ArrayDataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))

        test = subset(X_test, y_test, self.split_indices["test"])
        val = subset(X_train, y_train, val_idx) if val_idx.size else test
        return subset(X_train, y_train, train_idx), val, test

    # ---- shape metadata (available before setup, so a CLI can link it to the model) --------

    def _ensure(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None and not self._is_local():
            self.prepare_data()
        return self._read()

    @property
    def num_classes(self) -> int:
        """Number of classes ``K``."""
        self._ensure()
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        """Channels ``C`` per series."""
        return int(self._ensure()[0].shape[1])

    @property
    def series_length(self) -> int:
        """Series length ``L`` (after padding unequal lengths)."""
        return int(self._ensure()[0].shape[2])

    @property
    def input_shape(self) -> tuple[int, int]:
        """Shape ``(C, L)`` of one sample."""
        return (self.in_channels, self.series_length)
