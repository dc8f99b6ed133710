"""Every example runs: the YAML configs (parsed, and a tiny fit each) and the Python scripts."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_spectral.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CONFIGS = EXAMPLES / "configs"
EXPECTED_CONFIGS = {
    "mnist_bandlimited.yaml",
    "rippel_spectral.yaml",
    "ucr_fcn.yaml",
    "cifar_resnet18.yaml",
}
TINY = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--data.init_args.batch_size=8",
]
NARROW_RIPPEL = [
    "--model.init_args.network.init_args.channels=[4,8]",
    "--model.init_args.network.init_args.hidden_features=[16,16]",
]


@pytest.fixture(autouse=True)
def _argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs get their arguments explicitly, not pytest's ``sys.argv``."""
    monkeypatch.setattr(sys, "argv", ["lightning-spectral"])


def _scalar_tags(log_dir: Path) -> set[str]:
    tags: set[str] = set()
    for path in log_dir.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path))
        accumulator.Reload()
        tags.update(accumulator.Tags()["scalars"])
    return tags


def test_every_config_is_covered() -> None:
    assert {p.name for p in CONFIGS.glob("*.yaml")} == EXPECTED_CONFIGS


@pytest.mark.parametrize("name", sorted(EXPECTED_CONFIGS))
def test_config_parses_and_prints(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIGS / name), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"] == "lightning_spectral.models.SpectralClassifier"
    callbacks = [cb["class_path"].rsplit(".", 1)[-1] for cb in printed["trainer"]["callbacks"]]
    assert "EnergyCompressionMonitor" in callbacks
    assert printed["seed_everything"] == 0


@pytest.mark.parametrize(
    ("name", "overrides", "expected_tags"),
    [
        (
            "mnist_bandlimited.yaml",
            NARROW_RIPPEL,
            {
                "spectral/network.features.0/train_compression",
                "spectral/network.features.3/input_energy",
                "spectral/mean_eval_compression",
            },
        ),
        (
            "rippel_spectral.yaml",
            NARROW_RIPPEL,
            {
                "spectral/network.features.0/spectral_sparsity",
                "spectral/network.features.3/spectral_sparsity",
                "spectral/network.features.2/dropout_min",
                "spectral/network.features.5/dropout_min",
            },
        ),
        (
            "ucr_fcn.yaml",
            ["--model.init_args.network.init_args.channels=[4,8,4]"],
            {
                "spectral/network.features.0/train_compression",
                "spectral/network.features.6/input_energy",
            },
        ),
    ],
)
def test_config_runs_a_tiny_fit(
    name: str, overrides: list[str], expected_tags: set[str], tmp_path: Path
) -> None:
    logs = f"--trainer.logger.init_args.save_dir={tmp_path}"
    main(["fit", "--config", str(CONFIGS / name), *TINY, *overrides, logs])
    version = tmp_path / "lightning_logs" / "version_0"
    tags = _scalar_tags(version)
    assert expected_tags <= tags, sorted(tags)
    assert {"train_loss_step", "val_acc"} <= tags
    assert (version / "checkpoints" / "last.ckpt").is_file()


def test_cifar_config_without_data_says_where_it_looked(tmp_path: Path) -> None:
    empty = tmp_path / "no_cifar_here"
    empty.mkdir()
    args = [
        "fit",
        "--config",
        str(CONFIGS / "cifar_resnet18.yaml"),
        *TINY,
        f"--data.init_args.root={empty}",
        "--data.init_args.num_workers=0",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
    ]
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 not found under root=.*download=True"):
        main(args)


def test_train_callbacks_example_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = EXAMPLES / "train_callbacks.py"
    sys.argv = [str(script), "--fast", "--root", str(tmp_path)]
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "band-limited layers: ['features.0', 'features.3']" in out
    assert "without callbacks; same outputs: True" in out
    assert "same outputs as the baked model: True" in out
    sweep = out[out.index("compression  achieved") :].splitlines()
    assert [line.split()[0] for line in sweep[1:5]] == ["0.0000", "0.2500", "0.5000", "0.7500"]
    assert (tmp_path / "digitnet_deploy.pt").is_file()
    assert list((tmp_path / "train_callbacks").glob("version_0/events.out.tfevents.*"))


def test_transforms_plain_example_fast_runs_without_lightning() -> None:
    script = EXAMPLES / "transforms_plain.py"
    # A fresh interpreter, to check that the example never imports Lightning.
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}, '--fast']\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
        "assert 'pytorch_lightning' not in sys.modules, 'imported pytorch_lightning'\n"
        "assert 'lightning' not in sys.modules, 'imported lightning'\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert run.returncode == 0, run.stderr[-4000:]
    out = run.stdout
    assert "parametrize_spectral_: changed ['0', '3']" in out  # the two convolutions
    assert "band_limit_: changed ['0', '3']" in out
    assert "replace_pooling_: changed ['2', '5']" in out  # the two max pools
    sweep = re.findall(r"^  (\d\.\d\d) -> (\d\.\d+)$", out, flags=re.MULTILINE)
    assert [c for c, _ in sweep] == ["0.00", "0.25", "0.50", "0.75", "0.90"]
    restored = re.search(r"restored from the plan: accuracy (\S+) \(saved model (\S+)\)", out)
    assert restored is not None and restored[1] == restored[2], out
    baked = re.search(r"baked: max output change (\S+)", out)
    assert baked is not None and float(baked[1]) < 1e-4, out
