"""``strategy="ddp"`` with two CPU processes (gloo), through ``tests/_ddp_script.py``.

Lightning's ``ddp`` launcher starts rank 1 by re-running the main script, so the run happens in
a subprocess (re-running pytest would run the whole session twice). One run covers training,
rank agreement, reduced statistics, checkpointing and resuming. The multiprocessing launchers
(``ddp_spawn``/``ddp_fork``) run in-process below; the refusal of sharded strategies is
unit-tested in ``test_callbacks_unit.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _lightning_helpers import LitClassifier, MixinClassifier, loader, predictions
from _lightning_helpers import trainer as make_trainer
from pytorch_lightning.callbacks import ModelCheckpoint

from lightning_spectral import (
    BandLimitCallback,
    SpectralPoolingCallback,
    load_from_checkpoint,
    transforms,
)

SCRIPT = Path(__file__).with_name("_ddp_script.py")


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return out, json.loads((out / "report.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("part", ["first", "resumed"])
def test_ranks_agree(ddp_run, part):
    _, report = ddp_run
    run = report[part]
    assert run["world_size"] == 2
    assert run["max_parameter_difference"] == 0.0
    for per_rank in run["bands"]:  # energy-mode bands, every epoch
        assert per_rank[0] == per_rank[1]
    for per_rank in run["draws"]:  # frequency-dropout counters and seeds, every epoch
        assert per_rank[0] == per_rank[1]


@pytest.mark.slow
@pytest.mark.parametrize("part", ["first", "resumed"])
def test_statistics_are_reduced_across_ranks(ddp_run, part):
    _, report = ddp_run
    run = report[part]
    # Bands chosen from the power summed over both ranks.
    assert run["bands"][-1][0] == pytest.approx(run["expected_bands"])
    for name, logged in run["logged_energy_input"].items():
        assert logged[0] == logged[1]
        assert logged[0][0] == pytest.approx(run["expected_energy_input"][name], abs=1e-6)
        # Each rank saw different samples: its local fraction is not the reduced one.
        local = [value[0] for value in run["local_energy_input"][name]]
        assert max(abs(value - logged[0][0]) for value in local) > 1e-4


@pytest.mark.slow
def test_bands_moved_and_resume_continued(ddp_run):
    _, report = ddp_run
    first = report["first"]["bands"]
    assert first[0][0] != first[1][0]  # the drifting inputs moved the energy bands
    assert len(report["resumed"]["bands"]) == 1  # only epoch 2 ran after the resume
    assert report["resumed"]["draws"][0][0][:2] == [6.0, 6.0]  # 3 epochs x 2 steps


@pytest.mark.slow
@pytest.mark.parametrize("cls", [LitClassifier, MixinClassifier])
def test_ddp_checkpoint_restores_without_callbacks(ddp_run, cls):
    out, _ = ddp_run
    model = load_from_checkpoint(cls, out / "ckpt" / "last.ckpt")
    expected = torch.load(out / "predictions_3.pt", weights_only=True)
    torch.testing.assert_close(predictions(model), expected, rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# Multiprocessing launchers: ddp_spawn / ddp_fork return weights with load_state_dict(strict=False)
# --------------------------------------------------------------------------------------------


def test_ddp_fork_refuses_a_rewrite_in_the_workers(tmp_path):
    trainer = make_trainer(tmp_path, [BandLimitCallback()], strategy="ddp_fork", devices=2)
    with pytest.raises(Exception, match="strict=False"):  # re-raised from the worker
        trainer.fit(LitClassifier(), loader())


@pytest.mark.parametrize(
    "strategy", ["ddp_fork", pytest.param("ddp_spawn", marks=pytest.mark.slow)]
)
def test_multiprocessing_returns_the_weights_of_a_model_rewritten_before_fit(tmp_path, strategy):
    model = LitClassifier()
    transforms.band_limit_(model, compression=0.5)
    transforms.replace_pooling_(model)
    initial = [p.detach().clone() for p in model.parameters()]
    callbacks = [
        BandLimitCallback(compression=0.5),
        SpectralPoolingCallback(),
        ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True),
    ]
    trainer = make_trainer(tmp_path, callbacks, strategy=strategy, devices=2, max_epochs=1)
    trainer.fit(model, loader())
    # The main process's model received the trained weights (not only what matched by name).
    assert all(not torch.equal(a, b) for a, b in zip(initial, model.parameters(), strict=True))
    trained = load_from_checkpoint(LitClassifier, tmp_path / "ckpt" / "last.ckpt")
    torch.testing.assert_close(predictions(model), predictions(trained), rtol=0, atol=0)
