"""The ``lightning-spectral`` command line, invoked as a user would, and the compression sweep.

Each subprocess pays for importing PyTorch Lightning (seconds on a busy machine), so only the
behaviours that need a real process (the console script, ``python -m``) use one; the rest call
:func:`lightning_spectral.cli.main` or :class:`SpectralLightningCLI` in-process.
"""

from __future__ import annotations

import csv
import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import yaml
from pytorch_lightning.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_spectral import BandLimitCallback, EnergyCompressionMonitor, load_from_checkpoint
from lightning_spectral.callbacks import ResolutionDropoutScheduler, SpectralPoolingCallback
from lightning_spectral.cli import SpectralLightningCLI, main, plain_text
from lightning_spectral.data import MNISTDigitsDataModule
from lightning_spectral.models import SpectralClassifier
from lightning_spectral.sweep import (
    SWEEP_CSV,
    SWEEP_JSON,
    check_compressions,
    compression_sweep,
    format_sweep_table,
)
from lightning_spectral.transforms import set_compression_, spectral_modules

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "examples" / "configs"
MNIST = CONFIGS / "mnist_bandlimited.yaml"

# Keeps a fit to a few small batches of a narrow network (seconds, not minutes).
TINY = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.limit_test_batches=1",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--data.init_args.batch_size=16",
]
TINY_MNIST = [
    *TINY,
    "--model.init_args.network.init_args.channels=[4,8]",
    "--model.init_args.network.init_args.hidden_features=[16,16]",
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JSONARGPARSE_DEBUG", None)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``tag -> [(step, value), ...]`` of every scalar in a TensorBoard folder."""
    events = sorted(log_dir.glob("events.out.tfevents.*"))
    assert events, f"no TensorBoard event file in {log_dir}"
    out: dict[str, list[tuple[int, float]]] = {}
    for path in events:
        accumulator = EventAccumulator(str(path))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return out


@pytest.fixture(autouse=True)
def _argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs get their arguments explicitly, not pytest's ``sys.argv``."""
    monkeypatch.setattr(sys, "argv", ["lightning-spectral"])


def _print_config(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--print_config"])
    assert exit_info.value.code in (0, None)
    return capsys.readouterr().out


# ---- the console script and python -m ---------------------------------------------------


def test_console_script_fit_writes_per_layer_spectral_curves(tmp_path: Path) -> None:
    exe = shutil.which("lightning-spectral")
    assert exe is not None, "the console script is missing: pip install -e ."
    run = subprocess.run(
        [exe, "fit", "--config", str(MNIST), *TINY_MNIST],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    version = tmp_path / "lightning_logs" / "version_0"  # the default TensorBoard logger
    scalars = _scalars(version)
    for layer in ("network.features.0", "network.features.3"):  # the two convolutions
        for quantity in ("train_compression", "eval_compression", "input_energy"):
            assert f"spectral/{layer}/{quantity}" in scalars, sorted(scalars)
        # The config asks for 50%; quantisation of the band moves it a little.
        (_, achieved), *_ = scalars[f"spectral/{layer}/train_compression"]
        assert abs(achieved - 0.5) < 0.05
        (_, energy), *_ = scalars[f"spectral/{layer}/input_energy"]
        assert 0.0 < energy <= 1.0
    assert (version / "checkpoints" / "last.ckpt").is_file()
    assert (version / "config.yaml").is_file()


def test_python_dash_m_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    # What `python -m lightning_spectral --help` runs, without paying for a new interpreter.
    sys.argv = [str(ROOT / "lightning_spectral" / "__main__.py"), "--help"]
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("lightning_spectral", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m lightning_spectral")
    for subcommand in ("fit", "validate", "test", "predict", "sweep"):
        assert subcommand in out


# ---- parsing, in-process -------------------------------------------------------------------


def test_print_config_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    override = "--model.init_args.lr=0.0123"
    first = _print_config(["fit", "--config", str(MNIST), override], capsys)
    printed = yaml.safe_load(first)
    assert printed["model"]["init_args"]["lr"] == 0.0123
    callbacks = printed["trainer"]["callbacks"]
    assert callbacks[0]["class_path"].endswith("BandLimitCallback")
    assert callbacks[0]["init_args"]["compression"] == 0.5
    # TensorBoard is the default logger.
    assert printed["trainer"]["logger"]["class_path"].endswith("TensorBoardLogger")
    saved = tmp_path / "printed.yaml"
    saved.write_text(first)
    assert _print_config(["fit", "--config", str(saved)], capsys) == first


def test_yaml_callbacks_plus_short_name_callback_from_the_command_line(tmp_path: Path) -> None:
    cli = SpectralLightningCLI(
        args=[
            "--config",
            str(CONFIGS / "rippel_spectral.yaml"),
            "--trainer.logger=false",
            f"--trainer.default_root_dir={tmp_path}",
            "--model.init_args.lr=0.01",
            "--trainer.callbacks+=BandLimitCallback",
            "--trainer.callbacks.compression=0.25",
            "--trainer.callbacks+=EnergyCompressionMonitor",
            "--trainer.callbacks.logging_interval=step",
        ],
        run=False,
    )
    by_type = {type(cb): cb for cb in cli.trainer.callbacks}
    assert by_type[SpectralPoolingCallback].kinds == ("max",)
    assert by_type[ResolutionDropoutScheduler].alpha == 0.3
    assert by_type[BandLimitCallback].compression == 0.25
    monitors = [cb for cb in cli.trainer.callbacks if isinstance(cb, EnergyCompressionMonitor)]
    # One from the YAML file, one added on the command line with its own argument.
    assert [m.logging_interval for m in monitors] == ["epoch", "step"]
    assert cli.model.lr == 0.01


def test_default_logger_is_tensorboard_and_num_classes_is_linked(tmp_path: Path) -> None:
    cli = SpectralLightningCLI(
        args=[
            "--model=SpectralClassifier",
            "--model.network=FCN",  # the UCR data module has 2 classes, FCN's default too
            "--data=UCRDataModule",
            "--data.dataset=GunPoint",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
        ],
        run=False,
    )
    assert isinstance(cli.trainer.logger, TensorBoardLogger)
    assert Path(cli.trainer.logger.save_dir) == tmp_path
    assert cli.datamodule.num_classes == 2
    assert cli.model.num_classes == 2


def test_num_classes_mismatch_is_a_readable_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        SpectralLightningCLI(
            args=[
                "--model=SpectralClassifier",
                "--model.network=lightning_spectral.models.FCN",
                "--model.network.num_classes=3",
                "--data=UCRDataModule",
                "--data.dataset=GunPoint",
                "--trainer.logger=false",
            ],
            run=False,
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "num_classes=2 but the network has num_classes=3" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("--trainer.callbacks.compression=1.5", "`compression` must be in [0, 1), got 1.5"),
        ("--trainer.callbacks.mode=energy", "mode='energy' needs `energy`"),
    ],
)
def test_bad_callback_value_is_a_one_line_error(
    override: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("JSONARGPARSE_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                "--config",
                str(MNIST),
                "--trainer.logger=false",
                "--trainer.callbacks+=BandLimitCallback",
                override,
            ]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "error:" in err and "Traceback" not in err


def test_bad_type_is_a_parse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(MNIST), "--model.init_args.lr=fast"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "lr" in err and "fast" in err


# ---- the compression sweep ---------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``last.ckpt`` of a tiny band-limited MNIST fit (compression 0.5) run through ``main``."""
    root = tmp_path_factory.mktemp("fit")
    logs = f"--trainer.logger.init_args.save_dir={root}"
    main(["fit", "--config", str(MNIST), *TINY_MNIST, logs])
    path = root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert path.is_file()
    return path


def test_sweep_subcommand_prints_writes_and_logs_one_row_per_compression(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compressions = [0.0, 0.5, 0.9]
    main(
        [
            "sweep",
            "--config",
            str(MNIST),
            *TINY_MNIST,
            "--trainer.limit_test_batches=2",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            f"--ckpt_path={trained}",
            f"--compressions={json.dumps(compressions)}",
        ]
    )
    out = capsys.readouterr().out
    table = out[out.index("compression  achieved") :].splitlines()
    assert "test_acc" in table[0] and "test_loss" in table[0]
    assert [float(line.split()[0]) for line in table[1:4]] == compressions

    version = tmp_path / "lightning_logs" / "version_0"
    document = json.loads((version / SWEEP_JSON).read_text())
    assert document["checkpoint"] == str(trained)
    rows = document["rows"]
    assert [row["compression"] for row in rows] == compressions
    achieved = [row["achieved_compression"] for row in rows]
    assert achieved[0] == 0.0 and achieved[0] < achieved[1] < achieved[2]
    assert set(rows[0]["layers"]) == {"network.features.0", "network.features.3"}
    # Different eval bands give different outputs, so the loss must move.
    assert rows[0]["test_loss"] != rows[2]["test_loss"]
    with open(version / SWEEP_CSV, newline="") as f:
        lines = list(csv.DictReader(f))
    assert [float(line["compression"]) for line in lines] == compressions
    assert [float(line["test_acc"]) for line in lines] == pytest.approx(
        [row["test_acc"] for row in rows]
    )

    scalars = _scalars(version)
    assert [step for step, _ in scalars["sweep/test_acc"]] == [0, 50, 90]
    assert [v for _, v in scalars["sweep/test_acc"]] == pytest.approx(
        [row["test_acc"] for row in rows]
    )
    # The evaluation runs themselves are not logged (they would all land on step 0).
    assert "test_acc" not in scalars


def test_sweep_subcommand_without_saved_hyperparameters_uses_the_configured_model(
    trained: Path, tmp_path: Path
) -> None:
    checkpoint = torch.load(trained, map_location="cpu", weights_only=True)
    del checkpoint["hyper_parameters"]
    bare = tmp_path / "bare.ckpt"
    torch.save(checkpoint, bare)
    out = tmp_path / "out"
    main(
        [
            "sweep",
            "--config",
            str(MNIST),
            *TINY_MNIST,  # the same architecture as the checkpoint's
            "--trainer.logger=false",
            f"--trainer.default_root_dir={tmp_path}",
            f"--ckpt_path={bare}",
            "--compressions=[0.2]",
            f"--output_dir={out}",
        ]
    )
    rows = json.loads((out / SWEEP_JSON).read_text())["rows"]
    assert [row["compression"] for row in rows] == [0.2]
    assert 0.15 < rows[0]["achieved_compression"] < 0.25


def test_sweep_rows_match_a_manual_evaluation(trained: Path, tmp_path: Path) -> None:
    datamodule = MNISTDigitsDataModule(batch_size=32)
    trainer = pl.Trainer(
        logger=False,
        default_root_dir=tmp_path,
        limit_test_batches=2,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    rows = compression_sweep(
        trainer, SpectralClassifier, trained, [0.1, 0.8], datamodule=datamodule, verbose=False
    )
    model = load_from_checkpoint(SpectralClassifier, trained).eval()
    datamodule.setup("test")
    batches = [b for _, b in zip(range(2), datamodule.test_dataloader(), strict=False)]
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    for row in rows:
        set_compression_(model, eval_compression=row["compression"])
        with torch.no_grad():
            logits = model(x)
        accuracy = (logits.argmax(1) == y).float().mean().item()
        assert row["test_acc"] == pytest.approx(accuracy, abs=1e-6)
        # Two full batches of equal size: the epoch loss is the mean over all samples.
        loss = F.cross_entropy(logits, y).item()
        assert row["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert rows[0]["test_loss"] != pytest.approx(rows[1]["test_loss"], rel=1e-5)
    assert (tmp_path / SWEEP_JSON).is_file()  # no logger: default_root_dir


def test_sweep_on_an_instance_restores_its_compressions(trained: Path, tmp_path: Path) -> None:
    model = load_from_checkpoint(SpectralClassifier, trained)
    before = {name: m.get_extra_state() for name, m in spectral_modules(model)}
    trainer = pl.Trainer(
        logger=False,
        default_root_dir=tmp_path,
        limit_test_batches=1,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    compression_sweep(
        trainer, model, trained, [0.3], datamodule=MNISTDigitsDataModule(), verbose=False
    )
    assert {name: m.get_extra_state() for name, m in spectral_modules(model)} == before


def test_sweep_refuses_a_model_without_band_limited_layers(tmp_path: Path) -> None:
    model = SpectralClassifier("rippel_generic", {"in_channels": 1, "input_size": 28})
    path = tmp_path / "plain.ckpt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": pl.__version__,
        },
        path,
    )
    trainer = pl.Trainer(logger=False, default_root_dir=tmp_path, enable_progress_bar=False)
    with pytest.raises(ValueError, match="no band-limited convolutions"):
        compression_sweep(trainer, SpectralClassifier, path, [0.5])


@pytest.mark.parametrize(
    ("compressions", "error", "match"),
    [
        ([], ValueError, "at least one"),
        ([0.5, 1.0], ValueError, r"\[0, 1\)"),
        ([0.5, 0.501], ValueError, "same step 50"),
        ("0.5", TypeError, "list of numbers"),
    ],
)
def test_check_compressions_rejects(compressions: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        check_compressions(compressions)  # type: ignore[arg-type]


def test_format_sweep_table_aligns_columns() -> None:
    rows = [
        {"compression": 0.0, "achieved_compression": 0.0, "test_acc": 0.5},
        {"compression": 0.75, "achieved_compression": 0.7509, "test_acc": 0.25, "x": 1.0},
    ]
    lines = format_sweep_table(rows).splitlines()
    assert lines[0].split() == ["compression", "achieved", "test_acc", "x"]
    assert lines[1].split() == ["0.0000", "0.0000", "0.5000", "-"]
    assert lines[2].split() == ["0.7500", "0.7509", "0.2500", "1.0000"]
    assert len({len(line) for line in lines}) == 1


# ---- Lightning's CLI conventions, through the console script --------------------------------

# A user's model in a file of the working directory (``--model my_model.MyNet``).
_MY_MODEL = '''
from lightning_spectral.models import SpectralClassifier


class MyNet(SpectralClassifier):
    """A user's LightningModule, defined next to where the command runs."""
'''
_MY_NETWORK = (
    '{"in_channels": 1, "input_size": 28, "channels": [4, 8], "hidden_features": [16, 16]}'
)


def _console(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lightning-spectral ARGS`` run from ``cwd``, the checkout first on ``PYTHONPATH``."""
    exe = shutil.which("lightning-spectral")
    assert exe is not None, "the console script is missing: pip install -e ."
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def user_fit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder where ``lightning-spectral fit --model my_model.MyNet
    --trainer.default_root_dir=out`` ran (``my_model.py`` lies there)."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "my_model.py").write_text(_MY_MODEL)
    run = _console(
        [
            "fit",
            "--model=my_model.MyNet",
            "--model.network=rippel_generic",
            f"--model.network_kwargs={_MY_NETWORK}",
            "--data=MNISTDigitsDataModule",
            "--trainer.callbacks+=BandLimitCallback",
            "--trainer.callbacks.compression=0.5",
            "--trainer.default_root_dir=out",
            *TINY,
        ],
        cwd=folder,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return folder


def test_console_script_imports_a_model_from_the_working_directory(user_fit: Path) -> None:
    config = yaml.safe_load((user_fit / "out/lightning_logs/version_0/config.yaml").read_text())
    assert config["model"]["class_path"] == "my_model.MyNet"


def test_default_root_dir_holds_the_logs_and_checkpoints(user_fit: Path) -> None:
    version = user_fit / "out" / "lightning_logs" / "version_0"
    assert list(version.glob("events.out.tfevents.*"))
    assert list((version / "checkpoints").glob("*.ckpt"))
    assert not (user_fit / "lightning_logs").exists()  # nothing in the working directory


def test_sweep_runs_from_the_config_fit_saved_and_shows_each_compression(user_fit: Path) -> None:
    version = user_fit / "out" / "lightning_logs" / "version_0"
    (checkpoint,) = (version / "checkpoints").glob("*.ckpt")
    run = _console(
        [
            "sweep",
            f"--config={version / 'config.yaml'}",  # holds fit's options, weights_only too
            f"--ckpt_path={checkpoint}",
            "--compressions=[0.0, 0.5]",
            "--trainer.enable_progress_bar=true",
        ],
        cwd=user_fit,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    bars = run.stdout + run.stderr
    assert "Sweep 1/2: compression 0.00" in bars and "Sweep 2/2: compression 0.50" in bars
    document = json.loads((user_fit / "out/lightning_logs/version_1" / SWEEP_JSON).read_text())
    assert [row["compression"] for row in document["rows"]] == [0.0, 0.5]


def test_console_script_sweep_error_is_one_line_with_exit_code_2(tmp_path: Path) -> None:
    run = _console(["sweep", "--config", str(MNIST), "--ckpt_path=missing.ckpt"], cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "error: sweep: no checkpoint file at ckpt_path='missing.ckpt'" in run.stderr


def test_console_script_help_has_no_sphinx_markup(tmp_path: Path) -> None:
    run = _console(["sweep", "--help"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "a pytorch_lightning.Trainer with a sweep method" in run.stdout
    assert ":class:" not in run.stdout and "``" not in run.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "--model.help=SpectralClassifier"],
        ["fit", "--data.help=MNISTDigitsDataModule"],
        ["fit", "--trainer.callbacks.help=BandLimitCallback"],
        ["fit", "--trainer.callbacks.help=EnergyCompressionMonitor"],
        ["fit", "--help"],
    ],
    ids=lambda args: args[-1],
)
def test_help_texts_have_no_sphinx_markup(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert len(out) > 500
    for markup in (":class:", ":func:", ":data:", ":meth:", ":mod:", "``"):
        assert markup not in out, (markup, out[max(0, out.find(markup) - 200) :][:400])


def test_plain_text_resolves_roles_and_literals() -> None:
    assert plain_text(":class:`~a.b.C` and :func:`a.f`, ``x=1``") == "C and a.f, x=1"
    assert plain_text(":doc:`the guide <design>`") == "the guide"


def _plain_checkpoint(folder: Path) -> Path:
    """A checkpoint of the MNIST configuration fit without its callbacks (no band-limited layer)."""
    no_callbacks = ["--trainer.callbacks=[]", "--trainer.logger=false"]
    main(
        [
            "fit",
            "--config",
            str(MNIST),
            *TINY_MNIST,
            *no_callbacks,
            f"--trainer.default_root_dir={folder}",
        ]
    )
    (path,) = folder.glob("checkpoints/*.ckpt")
    return path


@pytest.mark.parametrize(
    ("ckpt", "compressions", "message"),
    [
        ("missing", "[0.5]", "no checkpoint file at ckpt_path='{missing}'"),
        ("folder", "[0.5]", "ckpt_path='{folder}' is a folder"),
        ("trained", "[]", "compressions=[] is empty"),
        ("trained", "[0.5, 1.5]", "`compressions` must be in [0, 1), got 1.5"),
        ("plain", "[0.5]", "the model restored from '{plain}' has no band-limited convolutions"),
    ],
    ids=["missing", "folder", "empty", "out-of-range", "no-band-limited-layers"],
)
def test_sweep_refusals_are_one_line_errors(
    ckpt: str,
    compressions: str,
    message: str,
    trained: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {
        "missing": tmp_path / "missing.ckpt",
        "folder": trained.parent,
        "trained": trained,
    }
    if ckpt == "plain":
        paths["plain"] = _plain_checkpoint(tmp_path / "plain")
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "sweep",
                "--config",
                str(MNIST),
                *TINY_MNIST,
                "--trainer.logger=false",
                f"--trainer.default_root_dir={tmp_path}",
                f"--ckpt_path={paths[ckpt]}",
                f"--compressions={compressions}",
            ]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert message.format(**{k: str(v) for k, v in paths.items()}) in line
