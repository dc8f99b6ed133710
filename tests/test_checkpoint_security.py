"""A checkpoint is data, never code; a file that is not a checkpoint says so.

A crafted checkpoint names, in its hyperparameters, a class from a module whose import leaves a
trace (it writes a file). Every loader of the package (``load_from_checkpoint``, the mixin's
``load_from_checkpoint``, the sweep and the CLI's ``sweep``) must refuse it before anything is
imported, naming the class and ``allowed_classes``; a plain Lightning load of the same file does
import it (so the trace is real), and allowing the class explicitly loads it.

Then every loader is given an empty, a truncated, a text and a non-dict file, and a directory:
each raises ``UnreadableCheckpointError`` (a ``ValueError``) naming the file, with torch's own
error kept as ``__cause__``.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

import lightning_spectral
from lightning_spectral import SpectralCheckpointMixin
from lightning_spectral.cli import SpectralTrainer
from lightning_spectral.plans_io import (
    UnreadableCheckpointError,
    UntrustedCheckpointError,
    check_checkpoint_classes,
    plan_from_checkpoint,
    read_checkpoint,
    restore_,
)
from lightning_spectral.sweep import compression_sweep

INSTANTIATOR = f"{pl.__name__}.cli.instantiate_module"


class Holder(pl.LightningModule):
    """A user model whose network comes from the configuration (a class_path)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network


class MixinHolder(SpectralCheckpointMixin, Holder):
    """The same, with the package's checkpoint mixin."""


@pytest.fixture
def trap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A module whose import writes a file, and a checkpoint that names its class."""
    name = f"trace_{uuid.uuid4().hex}"
    trace = tmp_path / f"{name}.imported"
    source = tmp_path / "modules"
    source.mkdir()
    (source / f"{name}.py").write_text(
        "from pathlib import Path\n"
        "import torch\n"
        f"Path({str(trace)!r}).write_text('imported')\n"
        "class Net(torch.nn.Linear):\n"
        "    def __init__(self):\n"
        "        super().__init__(2, 2)\n"
    )
    monkeypatch.syspath_prepend(str(source))
    checkpoint = {
        "state_dict": {"network.weight": torch.zeros(2, 2), "network.bias": torch.zeros(2)},
        "pytorch-lightning_version": pl.__version__,
        "hyper_parameters": {
            "network": {"class_path": f"{name}.Net", "init_args": {}},
            "_instantiator": INSTANTIATOR,
        },
    }
    path = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, path)
    yield path, f"{name}.Net", trace
    sys.modules.pop(name, None)


def _refused(path: Path, class_path: str, trace: Path, error: pytest.ExceptionInfo) -> None:
    message = str(error.value)
    assert repr(class_path) in message and "allowed_classes" in message
    assert repr(str(path)) in message
    assert not trace.exists(), "the module was imported"
    assert class_path.split(".")[0] not in sys.modules


def test_the_trap_is_real_plain_lightning_imports_the_module(trap):
    path, _, trace = trap
    model = Holder.load_from_checkpoint(path, weights_only=True)
    assert trace.exists()
    assert type(model.network).__module__ == trap[1].split(".")[0]


def test_load_from_checkpoint_refuses_a_foreign_class(trap):
    path, class_path, trace = trap
    with pytest.raises(UntrustedCheckpointError) as error:
        lightning_spectral.load_from_checkpoint(Holder, path)
    _refused(path, class_path, trace, error)
    assert isinstance(error.value, ValueError)


def test_mixin_load_from_checkpoint_refuses_a_foreign_class(trap):
    path, class_path, trace = trap
    with pytest.raises(UntrustedCheckpointError) as error:
        MixinHolder.load_from_checkpoint(path)
    _refused(path, class_path, trace, error)
    with pytest.raises(UntrustedCheckpointError):
        lightning_spectral.load_from_checkpoint(MixinHolder, path)
    assert not trace.exists()


def test_sweep_and_cli_sweep_refuse_a_foreign_class(trap, tmp_path):
    path, class_path, trace = trap
    trainer = SpectralTrainer(logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(UntrustedCheckpointError) as error:
        compression_sweep(trainer, Holder, path, [0.0])
    _refused(path, class_path, trace, error)
    # The CLI's subcommand: the model instance comes from the configuration.
    with pytest.raises(UntrustedCheckpointError) as error:
        trainer.sweep(Holder(nn.Identity()), str(path), [0.0])
    _refused(path, class_path, trace, error)


def test_an_allowed_class_is_imported(trap):
    path, class_path, trace = trap
    model = lightning_spectral.load_from_checkpoint(Holder, path, allowed_classes=[class_path])
    assert trace.exists()
    assert type(model.network).__module__ == class_path.split(".")[0]


def test_classes_of_the_package_and_the_model_class_are_allowed():
    checkpoint = {
        "hyper_parameters": {
            "_class_path": f"{Holder.__module__}.{Holder.__qualname__}",
            "nets": [{"class_path": "lightning_spectral.models.FCN"}],
        }
    }
    check_checkpoint_classes(checkpoint, [Holder])
    with pytest.raises(UntrustedCheckpointError, match="FCN"):
        check_checkpoint_classes({"hyper_parameters": {"n": {"class_path": "FCN"}}})
    with pytest.raises(TypeError, match=r"`allowed_classes` must hold classes or import paths"):
        check_checkpoint_classes(checkpoint, [3])


# ------------------------------------------------------------------------------------------
# Files that are not checkpoints
# ------------------------------------------------------------------------------------------


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": nn.Linear(64, 64).state_dict()}, good)
    data = good.read_bytes()
    files = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "text": b"model:\n  class_path: x\n",
        "random": bytes(range(256)) * 4,
    }
    paths = {}
    for kind, content in files.items():
        paths[kind] = tmp_path / f"{kind}.ckpt"
        paths[kind].write_bytes(content)
    paths["tensor"] = tmp_path / "tensor.ckpt"
    torch.save(torch.ones(3), paths["tensor"])
    paths["directory"] = tmp_path / "folder.ckpt"
    paths["directory"].mkdir()
    return paths


LOADERS = {
    "read_checkpoint": read_checkpoint,
    "plan_from_checkpoint": plan_from_checkpoint,
    "restore_": lambda path: restore_(nn.Linear(64, 64), path),
    "load_from_checkpoint": lambda path: lightning_spectral.load_from_checkpoint(Holder, path),
    "mixin": lambda path: MixinHolder.load_from_checkpoint(path),
}


@pytest.mark.parametrize("loader", LOADERS)
def test_bad_files_are_named_as_not_readable_checkpoints(tmp_path, loader):
    for kind, path in _bad_files(tmp_path).items():
        with pytest.raises(UnreadableCheckpointError) as error:
            LOADERS[loader](path)
        message = str(error.value)
        assert repr(str(path)) in message and "not a readable checkpoint" in message, kind
        if kind != "tensor":  # a readable file that holds a tensor: nothing to chain
            assert error.value.__cause__ is not None, kind


def test_a_bad_stream_is_named_and_rewound(tmp_path):
    stream = (tmp_path / "bad.ckpt").open("w+b")
    stream.write(b"garbage")
    stream.seek(3)
    with pytest.raises(UnreadableCheckpointError, match=r"bad\.ckpt' is not a readable checkpoint"):
        read_checkpoint(stream)
    assert stream.tell() == 3
    stream.close()


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.ckpt"):
        read_checkpoint(tmp_path / "missing.ckpt")


def test_cli_sweep_names_an_unreadable_checkpoint(tmp_path):
    path = _bad_files(tmp_path)["truncated"]
    trainer = SpectralTrainer(logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(UnreadableCheckpointError, match="not a readable checkpoint"):
        trainer.sweep(Holder(nn.Identity()), str(path), [0.0])
