"""EnergyCompressionMonitor: arguments, loggers, and what a real run writes to TensorBoard.

The pictures (spectra with the band's edge, retained-energy curves) and the text summary are
read back from the event file with TensorBoard's ``EventAccumulator``, as TensorBoard shows them.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from _lightning_helpers import LitClassifier, dataset, loader, scalars, tags
from _lightning_helpers import trainer as make_trainer
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralPoolingCallback,
)
from lightning_spectral.callbacks import _figures
from lightning_spectral.functional import (
    Band,
    band_chain,
    band_energy_fraction,
    band_for,
    band_for_energy,
    power_map,
    retained_energy,
    spectrum_shape,
)
from lightning_spectral.nn import BandLimitedConv1d, SpectralPool1d

CONVS = {"net.features.0": (18, 18), "net.features.3": (10, 10)}  # padded input sizes
PER_LAYER = ("train_compression", "eval_compression", "input_energy", "filter_energy")
IMAGES = ("input_power", "filter_power_map", "energy_curve")
PICTURES_SCRIPT = (
    Path(__file__).resolve().parents[1] / "docs" / "figures" / "make_monitor_pictures.py"
)


def _values(series: dict, tag: str) -> list[float]:
    return [value for _, value in series[tag]]


def _events(log_dir: str) -> EventAccumulator:
    events = EventAccumulator(
        log_dir, size_guidance={"images": 0, "histograms": 0, "tensors": 0, "scalars": 0}
    )
    events.Reload()
    return events


def _summary(events: EventAccumulator) -> dict[int, dict[str, dict[str, str]]]:
    """The ``spectral/summary`` texts per step, parsed: ``{step: {layer: {header: cell}}}``."""
    (tag,) = [t for t in events.Tags()["tensors"] if t.startswith("spectral/summary")]
    tables = {}
    for event in events.Tensors(tag):
        text = event.tensor_proto.string_val[0].decode()
        header, _, *lines = text.splitlines()
        columns = [cell.strip() for cell in header.strip("|").split("|")]
        rows = [
            dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True))
            for line in lines
        ]
        tables[event.step] = {row["layer"]: row for row in rows}
    return tables


def _rgb(encoded: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(encoded))
    assert image.mode == "RGB"
    return np.asarray(image)


# --------------------------------------------------------------------------------------------
# Arguments and loggers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "bad", "error"),
    [
        ({"logging_interval": "batch"}, "batch", ValueError),
        ({"logging_interval": None}, None, TypeError),
        ({"log_spectra_every_n_epochs": 0}, 0, ValueError),
        ({"log_spectra_every_n_epochs": -1}, -1, ValueError),
        ({"log_spectra_every_n_epochs": 1.5}, 1.5, TypeError),
        ({"log_spectra_every_n_epochs": True}, True, TypeError),
    ],
)
def test_monitor_rejects(kwargs, bad, error):
    # A wrong type is a TypeError, a wrong value a ValueError (docs/design.md).
    name = next(iter(kwargs))
    with pytest.raises(error, match=rf"`{name}`.*{re.escape(repr(bad))}"):
        EnergyCompressionMonitor(**kwargs)


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        (
            {"batch_size": 8},
            ValueError,
            r"keys 'epoch' and 'batch_size', got keys \['batch_size'\]",
        ),
        ({"epoch": 0, "batch_size": "8"}, TypeError, r"`batch_size` must be an int, got str '8'"),
        ({"epoch": 0, "batch_size": True}, TypeError, r"`batch_size` must be an int, got bool"),
        ({"epoch": 0, "batch_size": 0}, ValueError, r"`batch_size` must be >= 1, got 0"),
        ({"epoch": -1, "batch_size": 8}, ValueError, r"`epoch` must be >= 0, got -1"),
        ({"epoch": 1.0, "batch_size": 8}, TypeError, r"`epoch` must be an int, got float 1.0"),
    ],
)
def test_monitor_checkpoint_state_is_validated(state, error, message):
    monitor = EnergyCompressionMonitor()
    with pytest.raises(error, match=message):
        monitor.load_state_dict(state)
    for epoch in (None, 2):  # None: saved before the first training batch
        monitor.load_state_dict({"epoch": epoch, "batch_size": 8})
        assert monitor.state_dict() == {"epoch": epoch, "batch_size": 8}


def test_monitors_with_different_settings_have_their_own_checkpoint_state(tmp_path):
    by_epoch, by_step = EnergyCompressionMonitor(), EnergyCompressionMonitor("step")
    assert by_epoch.state_key != by_step.state_key
    make_trainer(tmp_path, [by_epoch, by_step])  # Lightning refuses stateful duplicates
    with pytest.raises(RuntimeError, match="more than one stateful callback"):
        make_trainer(tmp_path, [by_epoch, EnergyCompressionMonitor()])


def test_monitor_requires_a_logger(tmp_path):
    trainer = make_trainer(
        tmp_path, [BandLimitCallback(), EnergyCompressionMonitor()], logger=False
    )
    with pytest.raises(MisconfigurationException, match="has none"):
        trainer.fit(LitClassifier(), loader())


def test_monitor_spectra_require_tensorboard(tmp_path):
    trainer = make_trainer(
        tmp_path,
        [EnergyCompressionMonitor(log_spectra_every_n_epochs=1)],
        logger=CSVLogger(str(tmp_path)),
    )
    with pytest.raises(MisconfigurationException, match="TensorBoardLogger"):
        trainer.fit(LitClassifier(), loader())


def test_pictures_go_to_the_tensorboard_logger_among_several(tmp_path):
    board = TensorBoardLogger(str(tmp_path), name="tb", version=0)
    callbacks = [
        BandLimitCallback(compression=0.5),
        EnergyCompressionMonitor(log_spectra_every_n_epochs=1),
    ]
    trainer = make_trainer(
        tmp_path, callbacks, max_epochs=1, logger=[CSVLogger(str(tmp_path / "csv")), board]
    )
    trainer.fit(LitClassifier(), loader())
    logged = tags(board.log_dir)["images"]
    assert {f"spectral/{name}/{image}" for name in CONVS for image in IMAGES} <= set(logged)


def test_an_interval_longer_than_the_fit_warns(tmp_path):
    callbacks = [BandLimitCallback(), EnergyCompressionMonitor(log_spectra_every_n_epochs=3)]
    trainer = make_trainer(tmp_path, callbacks, max_epochs=2, limit_train_batches=1)
    with pytest.warns(UserWarning, match=r"every 3 epochs.*max_epochs=2: no pictures"):
        trainer.fit(LitClassifier(), loader())
    assert tags(trainer.logger.log_dir)["images"] == []


def test_without_matplotlib_it_warns_and_writes_histograms_and_summary(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    callbacks = [
        BandLimitCallback(compression=0.5),
        EnergyCompressionMonitor(log_spectra_every_n_epochs=1),
    ]
    trainer = make_trainer(tmp_path, callbacks, max_epochs=1)
    with pytest.warns(
        UserWarning, match=r"matplotlib is not installed.*lightning-spectral\[data\]"
    ):
        trainer.fit(LitClassifier(), loader(), loader(seed=1))
    events = _events(trainer.logger.log_dir)
    assert events.Tags()["images"] == []
    assert sorted(events.Tags()["histograms"]) == [f"spectral/{n}/filter_power" for n in CONVS]
    assert set(_summary(events)[2]) == set(CONVS)


# --------------------------------------------------------------------------------------------
# What a real run writes
# --------------------------------------------------------------------------------------------


def test_run_writes_spectra_curves_and_summary(tmp_path, monkeypatch, caplog):
    curves = []
    draw = _figures.energy_curve_image
    monkeypatch.setattr(
        _figures,
        "energy_curve_image",
        lambda curve, title: curves.append(curve) or draw(curve, title),
    )
    callbacks = [
        BandLimitCallback(compression=0.5, eval_compression=0.25),
        EnergyCompressionMonitor(log_spectra_every_n_epochs=2),
    ]
    # One sanity-check batch: the layers know their input size when training starts.
    trainer = make_trainer(tmp_path, callbacks, max_epochs=4, num_sanity_val_steps=1)
    model = LitClassifier()
    with caplog.at_level(logging.INFO, logger="pytorch_lightning"):
        trainer.fit(model, loader(), loader(seed=1))

    events = _events(trainer.logger.log_dir)
    for name in CONVS:
        for image in IMAGES:
            logged = events.Images(f"spectral/{name}/{image}")
            assert [event.step for event in logged] == [4, 8]  # every 2 epochs of 2 steps
            for event in logged:
                assert 200 <= event.width <= 1000 and 200 <= event.height <= 1000
                pixels = _rgb(event.encoded_image_string)
                assert pixels.shape == (event.height, event.width, 3)
                # Colour, not grey: some pixels have different red, green and blue.
                assert (np.ptp(pixels.astype(int), axis=-1) > 32).mean() > 0.01
        assert [h.step for h in events.Histograms(f"spectral/{name}/filter_power")] == [4, 8]

    # The summary: at the start of training (step 0) and with every set of pictures.
    tables = _summary(events)
    assert sorted(tables) == [0, 4, 8]
    series = scalars(trainer.logger.log_dir)
    for name, shape in CONVS.items():
        layer = model.get_submodule(name)
        train, evaluation = layer.band(training=True), layer.band(training=False)
        assert train == band_for(shape, 0.5) and evaluation == band_for(shape, 0.25)
        for step, table in tables.items():
            row = table[name]
            assert row["type"] == "BandLimitedConv2d" and row["mode"] == "fixed"
            assert row["signal"] == "x".join(map(str, shape))
            assert float(row["train compression"]) == pytest.approx(train.compression, abs=1e-4)
            assert float(row["eval compression"]) == pytest.approx(evaluation.compression, abs=1e-4)
            if step:  # the same energy as the scalar logged at the end of that epoch
                logged = dict(series[f"spectral/{name}/input_energy"])[step - 1]
                assert float(row["input energy kept"]) == pytest.approx(logged, abs=1e-4)
            else:
                assert row["input energy kept"] == "-"  # no training statistics yet

    # The curve's operating point is the layer's achieved compression, on the curve.
    assert len(curves) == 2 * len(CONVS)
    for curve, shape in zip(curves, [*CONVS.values()] * 2, strict=True):
        assert curve.operating_compression == band_for(shape, 0.5).compression
        assert curve.eval_compression == band_for(shape, 0.25).compression
        assert curve.target is None
        index = [b.compression for b in band_chain(shape)].index(curve.operating_compression)
        assert curve.input_energy[index].item() == curve.operating_energy
        assert float(curve.compressions[index]) == curve.operating_compression
    first_input = dict(series["spectral/net.features.0/input_energy"])[3]
    assert curves[0].operating_energy == pytest.approx(first_input, abs=1e-6)

    # One console table at the start of training, listing every layer.
    (message,) = [
        r.getMessage() for r in caplog.records if "spectral layers at the" in r.getMessage()
    ]
    for name, shape in CONVS.items():
        (line,) = [line for line in message.splitlines() if line.startswith(name)]
        assert f"{band_for(shape, 0.5).compression:.4f}" in line.split()


def test_energy_curve_is_the_one_energy_mode_picks_its_band_from(tmp_path, monkeypatch):
    curves = []
    draw = _figures.energy_curve_image
    monkeypatch.setattr(
        _figures,
        "energy_curve_image",
        lambda curve, title: curves.append(curve) or draw(curve, title),
    )
    callbacks = [
        BandLimitCallback(compression=0.0, mode="energy", energy=0.6, include="net.features.0"),
        EnergyCompressionMonitor(log_spectra_every_n_epochs=1),
    ]
    trainer = make_trainer(tmp_path, callbacks, max_epochs=2)
    model = LitClassifier()
    trainer.fit(model, loader(), loader(seed=1))

    first, second = curves
    # Epoch 0 ran at the full band; its curve is that of the epoch's summed input power.
    power = power_map(F.pad(dataset().tensors[0][:16], (1, 1, 1, 1)), 2)
    chain = band_chain((18, 18))
    assert first.input_energy.tolist() == pytest.approx(retained_energy(power, chain).tolist())
    assert (first.operating_compression, first.operating_energy) == (0.0, pytest.approx(1.0))
    assert first.target == 0.6
    # The band picked at the end of epoch 0 is the most compressed point of that curve at or
    # above the target, and epoch 1 operates there.
    above = first.compressions[first.input_energy >= 0.6 - 1e-6]
    picked = band_for_energy(power, (18, 18), 0.6).compression
    assert float(above.max()) == pytest.approx(picked)
    assert second.operating_compression == pytest.approx(picked)
    assert model.get_submodule("net.features.0").compression == pytest.approx(picked)
    series = scalars(trainer.logger.log_dir)
    train = _values(series, "spectral/net.features.0/train_compression")
    energy = _values(series, "spectral/net.features.0/input_energy")
    assert [c.operating_compression for c in curves] == pytest.approx(train)
    assert [c.operating_energy for c in curves] == pytest.approx(energy)


def test_monitor_step_interval_and_1d_layers(tmp_path):
    callbacks = [
        BandLimitCallback(compression=0.5),
        SpectralPoolingCallback(),
        ResolutionDropoutScheduler(),
        EnergyCompressionMonitor(logging_interval="step", log_spectra_every_n_epochs=1),
    ]
    trainer = make_trainer(tmp_path, callbacks, max_epochs=1, limit_train_batches=3)
    model = LitClassifier(one_d=True)
    trainer.fit(model, loader(one_d=True), loader(seed=1, one_d=True))

    assert isinstance(model.net.features[0], BandLimitedConv1d)
    assert isinstance(model.net.features[2], SpectralPool1d)
    series = scalars(trainer.logger.log_dir)
    name = "net.features.0"
    for quantity in PER_LAYER:
        assert [step for step, _ in series[f"spectral/{name}/{quantity}"]] == [0, 1, 2]
    assert _values(series, f"spectral/{name}/train_compression") == pytest.approx(
        [band_for((36,), 0.5).compression] * 3
    )
    assert [s for s, _ in series["spectral/net.features.2/dropout_min"]] == [0, 1, 2]
    events = _events(trainer.logger.log_dir)
    for image in IMAGES:
        (event,) = events.Images(f"spectral/{name}/{image}")
        assert event.step == 3 and _rgb(event.encoded_image_string).shape[-1] == 3
    assert f"spectral/{name}/filter_power" in events.Tags()["histograms"]
    tables = _summary(events)
    # No sanity check: at the start of training no layer has run, so its size is unknown.
    assert tables[0][name]["train compression"] == "0.5 requested"
    assert tables[0][name]["signal"] == "-"
    table = tables[3]
    assert table[name]["signal"] == "36"
    assert table["net.features.2"]["type"] == "SpectralPool1d"

    # The docs' script puts the layer's pictures side by side, unchanged.
    spec = importlib.util.spec_from_file_location("make_monitor_pictures", PICTURES_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    run = Path(trainer.logger.log_dir)
    step, pictures = script.read_pictures(run, name)
    assert step == 3 and [p.shape[-1] for p in pictures] == [3, 3, 3]
    output = script.write_pictures(run, name, tmp_path / "pictures.png")
    joined = np.asarray(Image.open(output))
    assert joined.shape == (
        max(p.shape[0] for p in pictures),
        sum(p.shape[1] for p in pictures),
        3,
    )
    assert (joined[: pictures[0].shape[0], : pictures[0].shape[1]] == pictures[0]).all()
    with pytest.raises(ValueError, match=r"no spectral/net\.head/.*\['net\.features\.0'\]"):
        script.read_pictures(run, "net.head")


@pytest.mark.parametrize("mode", ["fixed", "energy"])
def test_a_second_fit_of_the_same_model_uses_its_own_statistics(tmp_path, mode):
    # A fresh trainer repeats the first fit's (epoch, step, batch) counters: the sums reduced
    # at the end of the second fit's epoch must be its own, not those cached by the first.
    def fit(model: LitClassifier, root: Path, data: TensorDataset) -> dict:
        pl.seed_everything(0)
        band_limit = (
            BandLimitCallback(compression=0.2, mode="energy", energy=0.6)
            if mode == "energy"
            else BandLimitCallback(compression=0.3)
        )
        callbacks = [band_limit, EnergyCompressionMonitor()]
        trainer = make_trainer(root, callbacks, max_epochs=1, limit_val_batches=0)
        trainer.fit(model, DataLoader(data, batch_size=8))
        return scalars(trainer.logger.log_dir)

    white = dataset(n=16)
    x, y = white.tensors
    nearly_constant = TensorDataset(0.05 * x + 3.0, y)  # almost all energy at DC
    model = LitClassifier()
    first = fit(model, tmp_path / "first", white)
    twin = copy.deepcopy(model)  # new layers: nothing cached for them
    again = fit(model, tmp_path / "again", nearly_constant)
    fresh = fit(twin, tmp_path / "fresh", nearly_constant)
    tag = "spectral/net.features.0/input_energy"
    assert again[tag] != first[tag]
    assert {t: v for t, v in again.items() if t.startswith("spectral/")} == {
        t: v for t, v in fresh.items() if t.startswith("spectral/")
    }
    for name in CONVS:  # in energy mode, the band picked from those statistics
        assert model.get_submodule(name).compression == twin.get_submodule(name).compression


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def test_spectrum_images_show_the_band_edge():
    power = torch.rand(12, 7, generator=torch.Generator().manual_seed(0)) + 0.1
    narrow, wide = band_for((12, 12), 0.8), band_for((12, 12), 0.2)
    a = _figures.spectrum_image(power, narrow, "a")
    b = _figures.spectrum_image(power, wide, "a")
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[-1] == 3
    assert a.shape == b.shape
    # The title's kept count differs too; the edge alone changes pixels inside the axes.
    assert (a != b).any(axis=-1).sum() > 100
    line = _figures.spectrum_image(torch.rand(9) + 0.1, band_for((16,), 0.5), "1d")
    assert line.ndim == 3 and line.shape[-1] == 3


@settings(max_examples=25, deadline=None)
@given(
    shape=st.one_of(
        st.tuples(st.integers(1, 40)),
        st.tuples(st.integers(1, 24), st.integers(1, 24)),
    ),
    compression=st.floats(0.0, 0.99),
    seed=st.integers(0, 2**16),
)
def test_energy_curve_is_monotone_and_passes_through_the_band(shape, compression, seed):
    generator = torch.Generator().manual_seed(seed)
    spectrum = spectrum_shape(shape)
    inputs = torch.rand(spectrum, generator=generator, dtype=torch.float64)
    filters = torch.rand(spectrum, generator=generator, dtype=torch.float64)
    band = band_for(shape, compression)
    curve = _figures.energy_curve(band, filters, inputs, band_for(shape, 0.0), target=0.9)
    chain = band_chain(shape)
    assert curve.compressions.tolist() == [b.compression for b in chain]
    # Nested bands: less compression never keeps less energy, and the full band keeps it all.
    for energy in (curve.input_energy, curve.filter_energy):
        assert (energy.diff() >= -1e-12).all() and energy[-1] == pytest.approx(1.0)
    index = chain.index(band)
    assert curve.operating_compression == band.compression
    assert curve.operating_energy == pytest.approx(
        float(band_energy_fraction(inputs, band)), abs=1e-12
    )
    assert curve.operating_energy == curve.input_energy[index].item()
    assert (curve.eval_compression, curve.target) == (0.0, 0.9)
    # Without input statistics the operating point sits on the filter curve.
    alone = _figures.energy_curve(band, filters)
    assert alone.input_energy is None
    assert alone.operating_energy == curve.filter_energy[index].item()


def test_energy_curve_rejects_a_band_off_the_chain():
    off_chain = Band((12, 12), 0, 7)  # all columns, one row: never a member of the chain
    with pytest.raises(ValueError, match="not a band of the chain"):
        _figures.energy_curve(off_chain, torch.ones(12, 7))


def test_cache_bytes_are_logged_at_the_end_of_every_validation(tmp_path):
    callbacks = [BandLimitCallback(compression=0.5), EnergyCompressionMonitor()]
    trainer = make_trainer(tmp_path, callbacks, max_epochs=2)
    model = LitClassifier()
    trainer.fit(model, loader(), loader(seed=1))
    series = scalars(trainer.logger.log_dir)
    # What the eval caches hold after a validation forward of the same size.
    layers = [model.net.features[0], model.net.features[3]]
    model.eval()
    with torch.no_grad():
        model(dataset(2, seed=1).tensors[0])
    expected = sum(layer.cache_bytes for layer in layers)
    assert expected > 0
    assert [step for step, _ in series["spectral/cache_bytes"]] == [1, 3]  # each epoch's end
    assert _values(series, "spectral/cache_bytes") == [float(expected)] * 2
    # With the caches off, the layers hold nothing, and the monitor says so.
    for layer in layers:
        layer.spectrum_cache = False
    trainer = make_trainer(tmp_path / "off", [EnergyCompressionMonitor()], max_epochs=1)
    trainer.fit(model.train(), loader(), loader(seed=1))
    assert _values(scalars(trainer.logger.log_dir), "spectral/cache_bytes") == [0.0]
