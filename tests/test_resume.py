"""Exact resume from a checkpoint written in the middle of an epoch, with every callback.

Lightning does not call ``on_train_epoch_start`` again when it resumes mid-epoch, so state a
callback or layer derives at epoch boundaries must be derived at use or saved in the checkpoint.
The runs here use :class:`ResumableLoader` (see ``tests/_resume_helpers.py``): with a plain
``DataLoader`` the resumed epoch would restart at its first batch, and no run could match.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from _lightning_helpers import LitClassifier, dataset, loader, scalars
from _lightning_helpers import trainer as make_trainer
from _resume_helpers import ResumableLoader
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import TensorDataset

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
    transforms,
)
from lightning_spectral.callbacks._statistics import (
    STATISTICS_KEY,
    load_statistics,
    reduced_statistics,
    save_statistics,
)
from lightning_spectral.nn import BandLimitedConv2d

BATCHES = 4  # per epoch
EPOCHS = 3
EVERY = 3  # checkpoint steps 3, 6, 9, 12: steps 3 and 6 are in the middle of epochs 0 and 1


def _callbacks(energy: bool) -> list[pl.Callback]:
    band_limit = (
        BandLimitCallback(compression=0.2, mode="energy", energy=0.6)
        if energy
        else BandLimitCallback(compression=0.3, schedule={1: 0.5})
    )
    return [
        SpectralParametrizationCallback(),
        band_limit,
        SpectralPoolingCallback(),
        ResolutionDropoutScheduler(alpha=0.6, beta=0.4, scheduling={1: [0.5, 0.3]}),
        EnergyCompressionMonitor(),
    ]


def _data(energy: bool) -> TensorDataset:
    # The last batch of every epoch is smaller (6): a resume after the epoch's full batches
    # must not take it for the epoch's largest one (the monitor's saved-bytes figures).
    data = dataset(n=8 * BATCHES - 2)
    if energy:
        # The first half of every epoch is nearly constant (DC), the second half white noise:
        # a band chosen from the batches after a mid-epoch resume point alone would be wider.
        x, y = data.tensors
        x = x.clone()
        x[: x.shape[0] // 2] = 0.05 * x[: x.shape[0] // 2] + 3.0
        data = TensorDataset(x, y)
    return data


def _fit(root, energy: bool, ckpt_path=None) -> tuple[pl.Trainer, LitClassifier]:
    pl.seed_everything(7)
    checkpoint = ModelCheckpoint(
        dirpath=root / "ckpt", filename="{step}", every_n_train_steps=EVERY, save_top_k=-1
    )
    trainer = make_trainer(
        root,
        [*_callbacks(energy), checkpoint],
        max_epochs=EPOCHS,
        limit_train_batches=BATCHES,
    )
    model = LitClassifier(drift=1.0)
    train = ResumableLoader(_data(energy), batch_size=8, shuffle=False)
    trainer.fit(model, train, loader(seed=1), ckpt_path=ckpt_path)
    return trainer, model


@pytest.fixture(scope="module", params=[False, True], ids=["fixed", "energy"])
def uninterrupted(request, tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    _, model = _fit(root, request.param)
    return request.param, root, model


@pytest.mark.parametrize("step", [3, 6])
def test_mid_epoch_resume_equals_the_uninterrupted_run(uninterrupted, tmp_path, step):
    energy, root, expected = uninterrupted
    path = root / "ckpt" / f"step={step}.ckpt"
    assert (step % BATCHES) != 0  # a mid-epoch checkpoint
    trainer, resumed = _fit(tmp_path, energy, ckpt_path=path)

    assert trainer.global_step == EPOCHS * BATCHES
    assert len(expected.losses) == EPOCHS * BATCHES
    assert resumed.losses == expected.losses[step:]
    want, got = expected.state_dict(), resumed.state_dict()
    assert list(got) == list(want)
    for name, value in want.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(got[name], value), name
        else:
            assert got[name] == value, name
    pools = [m for m in resumed.modules() if type(m).__name__ == "SpectralPool2d"]
    assert pools and all(p.dropout_min is not None for p in pools)
    assert all(p.dropout_draws == EPOCHS * BATCHES for p in pools)


def test_mid_epoch_checkpoint_holds_the_epochs_partial_statistics(uninterrupted):
    _, root, _ = uninterrupted
    saved = torch.load(root / "ckpt" / "step=6.ckpt", weights_only=True).get(STATISTICS_KEY)
    assert saved is not None and set(saved) == {"net.features.0", "net.features.3"}
    for entry in saved.values():
        assert entry["count"].tolist() == [2 * 8]  # two batches of epoch 1, one rank
        assert entry["power"].shape[0] == 1 and entry["power"].sum() > 0


def _energy_conv() -> torch.nn.Module:
    conv = BandLimitedConv2d(1, 2, 3, padding=1, compression=0.2, mode="energy", energy=0.6)
    conv.train()
    conv(torch.randn(4, 1, 8, 8))
    return conv


@pytest.mark.parametrize("rank", [0, 1])
def test_statistics_of_another_world_size_keep_the_sum_over_ranks(rank):
    source = _energy_conv()
    saved = {
        "conv": {
            "power": torch.stack([source.stats_power, 2 * source.stats_power]),
            "count": torch.tensor([4, 4]),
            "signal_shape": list(source.stats_signal_shape),
        }
    }
    conv = _energy_conv()
    load_statistics(SimpleNamespace(global_rank=rank, world_size=3), [("conv", conv)], saved)
    factor = 3 if rank == 0 else 0
    torch.testing.assert_close(conv.stats_power, factor * source.stats_power)
    assert int(conv.stats_count) == 8 * (rank == 0)
    assert conv.stats_signal_shape == source.stats_signal_shape


def test_malformed_statistics_name_the_layer():
    with pytest.raises(ValueError, match=r"'conv'.*'power', 'count' and 'signal_shape'"):
        load_statistics(
            SimpleNamespace(global_rank=0, world_size=1),
            [("conv", _energy_conv())],
            {"conv": {"power": torch.zeros(1)}},
        )


@pytest.mark.parametrize("step", [3, 6])
def test_mid_epoch_resume_logs_the_same_spectral_curves(uninterrupted, tmp_path, step):
    energy, root, _ = uninterrupted
    trainer, _ = _fit(tmp_path, energy, ckpt_path=root / "ckpt" / f"step={step}.ckpt")
    want = scalars(root / "tb" / "version_0")
    got = scalars(trainer.logger.log_dir)
    spectral = sorted(tag for tag in want if tag.startswith("spectral/"))
    assert {"spectral/net.features.0/input_energy", "spectral/saved_spectrum_bytes"} <= set(
        spectral
    )
    assert sorted(tag for tag in got if tag.startswith("spectral/")) == spectral
    first = step // BATCHES  # the interrupted epoch, logged at its end by the resumed run
    for tag in spectral:
        assert len(want[tag]) == EPOCHS, tag
        assert got[tag] == want[tag][first:], tag  # the same values at the same global steps


# Found in the same audit: energy mode that would silently move no band.


def test_energy_mode_over_fixed_mode_layers_warns(tmp_path):
    model = LitClassifier()
    transforms.band_limit_(model, compression=0.3)  # fixed mode, before fit
    callback = BandLimitCallback(compression=0.2, mode="energy", energy=0.6)
    trainer = make_trainer(tmp_path, [callback], max_epochs=1, limit_val_batches=0)
    with pytest.warns(UserWarning, match=r"no band-limited layer is in energy mode") as record:
        trainer.fit(model, loader())
    messages = [str(w.message) for w in record if "energy mode" in str(w.message)]
    assert len(messages) == 1 and "'net.features.0', 'net.features.3'" in messages[0]
    assert model.net.features[0].compression == 0.3


def test_saved_statistics_give_each_rank_its_own_sums():
    # Two ranks as a DDP all_gather returns them: rank 1 holds twice rank 0's sums.
    strategy = SimpleNamespace(all_gather=lambda tensor: torch.stack([tensor, 2 * tensor]))
    conv = _energy_conv()
    checkpoint: dict = {}
    save_statistics(SimpleNamespace(world_size=2, strategy=strategy), [("conv", conv)], checkpoint)
    entry = checkpoint[STATISTICS_KEY]["conv"]
    assert entry["power"].shape == (2, *conv.stats_power.shape)
    assert entry["count"].tolist() == [4, 8]
    for rank in (0, 1):
        restored = _energy_conv()
        restored.reset_stats()
        trainer = SimpleNamespace(global_rank=rank, world_size=2)
        load_statistics(trainer, [("conv", restored)], checkpoint[STATISTICS_KEY])
        torch.testing.assert_close(restored.stats_power, (rank + 1) * conv.stats_power)
        assert int(restored.stats_count) == 4 * (rank + 1)
    # A second callback saving the same layer adds nothing (and gathers nothing).
    save_statistics(SimpleNamespace(world_size=2, strategy=None), [("conv", conv)], checkpoint)


def test_statistics_are_not_reused_across_batches_of_one_accumulated_step():
    # With accumulate_grad_batches=2 two training batches share a global step.
    conv = _energy_conv()
    progress = SimpleNamespace(ready=1)
    trainer = SimpleNamespace(
        current_epoch=0,
        global_step=1,
        fit_loop=SimpleNamespace(
            epoch_loop=SimpleNamespace(batch_progress=SimpleNamespace(total=progress))
        ),
        strategy=SimpleNamespace(reduce=lambda tensor, reduce_op: tensor),
    )
    assert reduced_statistics(trainer, [("conv", conv)])["conv"].count == 4
    conv(torch.randn(4, 1, 8, 8))  # the next batch, same global step
    progress.ready = 2
    assert reduced_statistics(trainer, [("conv", conv)])["conv"].count == 8


def test_resume_from_an_epochs_last_batch_starts_the_next_epochs_statistics(tmp_path):
    # A checkpoint written at the end of an epoch's last batch (step 8 of 4-batch epochs):
    # Lightning 2.6 resumes it as a mid-epoch restart and runs the next epoch without calling
    # on_train_epoch_start, so per-epoch state must start from the epoch number, not the hook.
    def fit(root, ckpt_path=None) -> dict:
        pl.seed_everything(7)
        checkpoint = ModelCheckpoint(
            dirpath=root / "ckpt", filename="{step}", every_n_train_steps=2 * BATCHES, save_top_k=-1
        )
        callbacks = [BandLimitCallback(compression=0.3), EnergyCompressionMonitor(), checkpoint]
        trainer = make_trainer(root, callbacks, max_epochs=EPOCHS, limit_train_batches=BATCHES)
        # A plain loader restarts at the epoch's first batch: right at an epoch boundary.
        train = torch.utils.data.DataLoader(_data(False), batch_size=8)
        trainer.fit(LitClassifier(drift=1.0), train, loader(seed=1), ckpt_path=ckpt_path)
        return scalars(trainer.logger.log_dir)

    want = fit(tmp_path / "uninterrupted")
    got = fit(tmp_path / "resumed", tmp_path / "uninterrupted" / "ckpt" / "step=8.ckpt")
    last = EPOCHS * BATCHES - 1
    for tag in (t for t in want if t.startswith("spectral/")):
        assert got[tag] == [(last, dict(want[tag])[last])], tag  # the last epoch alone


def test_resume_from_an_epochs_last_batch_follows_the_compression_schedule(tmp_path):
    def fit(root, ckpt_path=None) -> LitClassifier:
        pl.seed_everything(7)
        checkpoint = ModelCheckpoint(
            dirpath=root / "ckpt", filename="{step}", every_n_train_steps=BATCHES, save_top_k=-1
        )
        callbacks = [BandLimitCallback(compression=0.3, schedule={1: 0.5}), checkpoint]
        trainer = make_trainer(root, callbacks, max_epochs=2, limit_train_batches=BATCHES)
        model = LitClassifier(drift=1.0)
        train = torch.utils.data.DataLoader(_data(False), batch_size=8)
        trainer.fit(model, train, loader(seed=1), ckpt_path=ckpt_path)
        return model

    want = fit(tmp_path / "uninterrupted")
    got = fit(tmp_path / "resumed", tmp_path / "uninterrupted" / "ckpt" / f"step={BATCHES}.ckpt")
    assert got.net.features[0].compression == want.net.features[0].compression == 0.5
    assert got.losses == want.losses[BATCHES:]
