"""Both Lightning namespaces: ``pytorch_lightning`` and ``lightning.pytorch`` (docs/design.md).

Each test runs once per installed namespace (the ``lightning_namespace`` fixture of conftest): a
user's own LightningModule of that namespace with the package's callbacks, the package's data
module and classifier, ``lightning_spectral.load_from_checkpoint`` and that namespace's
``LightningCLI`` with the package's callbacks. The rest checks the mechanism itself: the dual
bases of ``_lightning_compat`` look to either namespace's ``is_overridden`` like plain ones.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
import torch
from _lightning_helpers import lit_classifier, loader, predictions, scalars
from _lightning_helpers import trainer as make_trainer
from conftest import LIGHTNING_NAMESPACES
from lightning_utilities.core.overrides import is_overridden

import lightning_spectral
from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    SpectralPoolingCallback,
    load_from_checkpoint,
)
from lightning_spectral import _lightning_compat as compat
from lightning_spectral.data import MNISTDigitsDataModule
from lightning_spectral.models import SpectralClassifier
from lightning_spectral.nn import BandLimitedConv2d, SpectralPool2d
from lightning_spectral.transforms import spectral_modules

TINY_NETWORK = {
    "in_channels": 1,
    "num_classes": 10,
    "input_size": 28,
    "channels": [4, 8],
    "hidden_features": [16, 16],
}


def test_every_installed_namespace_is_a_base() -> None:
    assert [ns.__name__ for ns in compat.NAMESPACES] == LIGHTNING_NAMESPACES
    for name in ("Callback", "LightningDataModule", "LightningModule"):
        for namespace in compat.NAMESPACES:
            assert issubclass(getattr(compat, name), getattr(namespace, name)), (name, namespace)


def test_users_own_module_with_the_callbacks_fits_resumes_and_predicts(
    lightning_namespace: ModuleType, tmp_path: Path
) -> None:
    model_class = lit_classifier(lightning_namespace)
    checkpoint = lightning_namespace.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)

    def callbacks() -> list:
        return [
            BandLimitCallback(compression=0.5),
            SpectralPoolingCallback(),
            EnergyCompressionMonitor(),
            checkpoint,
        ]

    first = make_trainer(tmp_path, callbacks(), namespace=lightning_namespace, max_epochs=1)
    model = model_class()
    first.fit(model, loader(), loader(seed=1))
    assert [type(m) for _, m in spectral_modules(model)] == [BandLimitedConv2d] * 2
    assert any(isinstance(m, SpectralPool2d) for m in model.modules())
    # The monitor found this namespace's TensorBoardLogger and logged through it.
    logged = scalars(tmp_path / "tb" / "version_0")
    assert "spectral/net.features.0/train_compression" in logged, sorted(logged)

    second = make_trainer(tmp_path, callbacks(), namespace=lightning_namespace, max_epochs=2)
    resumed = model_class()
    second.fit(resumed, loader(), loader(seed=1), ckpt_path=str(tmp_path / "last.ckpt"))
    assert second.current_epoch == 2
    (out,) = second.predict(resumed, loader(n=8))
    assert out.shape == (8, 3)


def test_data_module_and_classifier_fit_test_and_predict(
    lightning_namespace: ModuleType, tmp_path: Path
) -> None:
    model = SpectralClassifier("rippel_generic", network_kwargs=TINY_NETWORK)
    data = MNISTDigitsDataModule(batch_size=16)
    trainer = make_trainer(
        tmp_path, [BandLimitCallback(compression=0.5)], namespace=lightning_namespace, max_epochs=1
    )
    trainer.fit(model, data)
    # Validation ran: the dual bases do not make the Trainer skip or misread any loader.
    assert "val_loss" in trainer.callback_metrics
    (result,) = trainer.test(model, data, verbose=False)
    assert {"test_acc", "test_loss"} <= set(result)
    (logits, *_) = trainer.predict(model, data)
    assert logits.shape == (16, 10)


def test_load_from_checkpoint_accepts_the_namespaces_module_class(
    lightning_namespace: ModuleType, tmp_path: Path
) -> None:
    model_class = lit_classifier(lightning_namespace)
    checkpoint = lightning_namespace.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = make_trainer(
        tmp_path,
        [BandLimitCallback(compression=0.5), checkpoint],
        namespace=lightning_namespace,
        max_epochs=1,
    )
    model = model_class()
    trainer.fit(model, loader())
    loaded = load_from_checkpoint(model_class, tmp_path / "last.ckpt")
    assert type(loaded) is model_class
    assert [type(m) for _, m in spectral_modules(loaded)] == [BandLimitedConv2d] * 2
    torch.testing.assert_close(predictions(loaded), predictions(model))


def test_load_from_checkpoint_refuses_a_class_of_no_namespace() -> None:
    with pytest.raises(TypeError, match=r"model_class.*LightningModule class.*Linear"):
        load_from_checkpoint(torch.nn.Linear, "unused.ckpt")


def test_the_namespaces_lightning_cli_takes_the_package_callbacks(
    lightning_namespace: ModuleType, tmp_path: Path
) -> None:
    cli_module = importlib.import_module(f"{lightning_namespace.__name__}.cli")
    args = [
        "fit",
        "--model.network=rippel_generic",
        *(f"--model.network_kwargs.{k}={v}" for k, v in TINY_NETWORK.items()),
        "--data.batch_size=16",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=1",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.callbacks+=lightning_spectral.BandLimitCallback",
        "--trainer.callbacks.compression=0.5",
        "--trainer.callbacks+=lightning_spectral.EnergyCompressionMonitor",
    ]
    cli = cli_module.LightningCLI(SpectralClassifier, MNISTDigitsDataModule, args=args)
    kinds = [type(cb) for cb in cli.trainer.callbacks]
    assert BandLimitCallback in kinds and EnergyCompressionMonitor in kinds
    assert [type(m) for _, m in spectral_modules(cli.model)] == [BandLimitedConv2d] * 2
    (path,) = Path(tmp_path).rglob("*.ckpt")
    # Saved under this namespace's CLI, the hyperparameters rebuild the model by themselves.
    loaded = load_from_checkpoint(SpectralClassifier, path)
    torch.testing.assert_close(predictions_of(loaded), predictions_of(cli.model))


def predictions_of(model: SpectralClassifier) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)))


def test_configuration_error_is_caught_as_either_namespaces_exception() -> None:
    for namespace in compat.NAMESPACES:
        exceptions = importlib.import_module(f"{namespace.__name__}.utilities.exceptions")
        with pytest.raises(exceptions.MisconfigurationException):
            raise compat.MisconfigurationException("refused")


# Every hook the installed Lightning versions check with `is_overridden(...)` (grep of their
# sources): what a false "overridden" answer would change is in `_lightning_compat`.
_CHECKED_HOOKS = {
    "LightningModule": (
        "training_step",
        "validation_step",
        "test_step",
        "predict_step",
        "forward",
        "configure_optimizers",
        "configure_model",
        "configure_sharded_model",
        "prepare_data",
        "train_dataloader",
        "val_dataloader",
        "test_dataloader",
        "predict_dataloader",
        "transfer_batch_to_device",
        "on_before_batch_transfer",
        "on_after_batch_transfer",
        "optimizer_step",
        "optimizer_zero_grad",
        "lr_scheduler_step",
        "configure_gradient_clipping",
        "backward",
    ),
    "LightningDataModule": (
        "prepare_data",
        "train_dataloader",
        "val_dataloader",
        "test_dataloader",
        "predict_dataloader",
        "transfer_batch_to_device",
        "on_before_batch_transfer",
        "on_after_batch_transfer",
    ),
    "Callback": ("state_dict",),
}
# Hooks that read as overridden on the dual base under the second namespace and why that is
# harmless (the comment in `_lightning_compat` says what each changes).
_HARMLESS = {
    "LightningModule": {
        "predict_step",
        "configure_optimizers",
        "optimizer_step",
        "lr_scheduler_step",
    }
}


@pytest.mark.parametrize("kind", sorted(_CHECKED_HOOKS))
@pytest.mark.parametrize("namespace_name", LIGHTNING_NAMESPACES)
def test_dual_bases_read_as_plain_ones_to_is_overridden(kind: str, namespace_name: str) -> None:
    namespace = importlib.import_module(namespace_name)
    plain_base, dual_base = getattr(namespace, kind), getattr(compat, kind)
    plain, dual = type("Plain", (plain_base,), {})(), type("Dual", (dual_base,), {})()
    wrong = {
        hook
        for hook in _CHECKED_HOOKS[kind]
        if is_overridden(hook, dual, plain_base) != is_overridden(hook, plain, plain_base)
    }
    allowed = _HARMLESS.get(kind, set()) if namespace is not compat.pl else set()
    assert wrong <= allowed, sorted(wrong - allowed)


def test_package_classes_derive_from_the_dual_bases() -> None:
    assert issubclass(SpectralClassifier, compat.LightningModule)
    assert issubclass(MNISTDigitsDataModule, compat.LightningDataModule)
    for name in ("BandLimitCallback", "EnergyCompressionMonitor", "ResolutionDropoutScheduler"):
        assert issubclass(getattr(lightning_spectral, name), compat.Callback), name
