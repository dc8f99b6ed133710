"""``ddp_spawn`` and spectral parametrization: refused in ``setup``, with what to use instead.

``ddp_spawn`` pickles the trainer and the model to start its workers; torch refuses to pickle a
module with a ``torch.nn.utils.parametrize`` parametrization, so a model parametrized before
``fit`` cannot be sent, and one parametrized in the workers comes back to the main process through
``load_state_dict(strict=False)`` into an unparametrized model (its filters dropped).
"""

from __future__ import annotations

import pickle

import pytest
import pytorch_lightning as pl
from _lightning_helpers import LitClassifier, loader
from _lightning_helpers import trainer as make_trainer
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from lightning_spectral import SpectralParametrizationCallback, transforms
from lightning_spectral.nn import is_spectrally_parametrized


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_pickling_launchers_are_refused_before_rewriting(start_method):
    strategy = DDPStrategy(start_method=start_method)  # "spawn" is strategy="ddp_spawn"
    trainer = pl.Trainer(strategy=strategy, accelerator="cpu", devices=2, logger=False)
    model = LitClassifier()
    with pytest.raises(MisconfigurationException, match="strategy='ddp'") as info:
        SpectralParametrizationCallback().setup(trainer, model, "fit")
    message = str(info.value)
    assert "_MultiProcessingLauncher" in message and "cannot pickle parametrized" in message
    assert not is_spectrally_parametrized(model.net.features[0])


def test_ddp_fork_trains_a_model_parametrized_before_fit(tmp_path):
    # Fork does not pickle: the advice of the refusal works.
    model = LitClassifier()
    transforms.parametrize_spectral_(model)
    callbacks = [SpectralParametrizationCallback()]
    trainer = make_trainer(
        tmp_path, callbacks, strategy="ddp_fork", devices=2, max_epochs=1, limit_val_batches=0
    )
    before = model.net.features[0].parametrizations.weight.original.detach().clone()
    trainer.fit(model, loader())
    after = model.net.features[0].parametrizations.weight.original
    assert is_spectrally_parametrized(model.net.features[0])
    assert not after.equal(before)  # the workers' trained coefficients came back


@pytest.mark.xfail(
    raises=RuntimeError,
    strict=True,
    reason="torch refuses to pickle parametrized modules; ddp_spawn would need "
    "lightning_spectral.nn.parametrization to make them picklable",
)
def test_a_parametrized_model_pickles():
    model = LitClassifier()
    transforms.parametrize_spectral_(model)
    copy = pickle.loads(pickle.dumps(model))
    assert is_spectrally_parametrized(copy.net.features[0])
