"""Smoke runs of the experiment scripts (``experiments/*.py --smoke``) and unit checks of the
helpers they rely on.

Each script runs in a subprocess (it sets global torch state: threads, deterministic mode) with
tiny settings and a temporary output folder and checkpoint cache; the tests check the structure
of the JSON, that the PNG was written, and relations that hold whatever the (tiny) training
reached: achieved compressions, shared cached models giving identical accuracies across
experiments, exact properties of the pooling round trips and of the memory count.
"""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from lightning_spectral.functional import band_for, bandlimited_conv2d, spectral_pool2d

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"


def _run(script: str, out: Path, cache: Path, *extra: str) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            str(EXPERIMENTS / f"{script}.py"),
            "--smoke",
            "--out-dir",
            str(out),
            "--cache-dir",
            str(cache),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert (out / f"{script}.png").stat().st_size > 1000
    payload = json.loads((out / f"{script}.json").read_text())
    assert payload["experiment"] == script
    assert payload["settings"]["smoke"] is True
    return payload["results"]


@pytest.fixture(scope="module")
def experiments_module() -> Any:
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        yield lambda name: importlib.import_module(name)
    finally:
        sys.path.remove(str(EXPERIMENTS))


# ---- experiment 1: information preservation ------------------------------------------------


def test_spectral_roundtrip_is_the_low_pass_projection(experiments_module: Any) -> None:
    info = experiments_module("information_preservation")
    x = torch.randn(2, 24, 24, dtype=torch.float64)
    # Odd sizes: pool + zero-pad upsampling == keeping the central block at full resolution.
    for size in (5, 11, 23):
        expected = spectral_pool2d(x, 24, cutoff=size)
        torch.testing.assert_close(info.spectral_roundtrip(x, size), expected)
    # Every size: a projection (applying it twice changes nothing), identity at full size.
    for size in (4, 7, 12):
        once = info.spectral_roundtrip(x, size)
        torch.testing.assert_close(info.spectral_roundtrip(once, size), once)
    torch.testing.assert_close(info.spectral_roundtrip(x, 24), x)


def test_information_preservation_smoke(tmp_path: Path) -> None:
    results = _run("information_preservation", tmp_path, tmp_path / "cache")
    spectral = results["spectral"]
    assert spectral["fraction_kept"][-1] == 1.0 and spectral["mean"][-1] < 1e-12
    # More parameters never approximate worse (nested low-pass projections).
    assert all(a >= b - 1e-12 for a, b in zip(spectral["mean"], spectral["mean"][1:], strict=False))
    # The window mean is the best constant in l2: avg+nearest beats max+nearest everywhere.
    for avg, mx in zip(
        results["avg"]["nearest"]["mean"], results["max"]["nearest"]["mean"], strict=True
    ):
        assert avg <= mx + 1e-12
    assert results["best_max_pool_error"] == min(results["max"]["best_mean"])


# ---- experiments 3, 4, 6 share trained checkpoints --------------------------------------------


def test_compression_experiments_share_cached_models(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    acc = _run("accuracy_vs_compression", tmp_path, cache)
    assert set(acc) == {"mnist", "ItalyPowerDemand"}
    for res in acc.values():
        fixed = {r["compression"]: r for r in res["fixed"]}
        assert set(fixed) == {0.0, 0.5}
        assert fixed[0.0]["achieved_compression"] == 0.0
        assert 0.3 < fixed[0.5]["achieved_compression"] < 0.7
        (energy,) = res["energy"]
        assert energy["energy"] == 0.9 and 0.0 <= energy["achieved_compression"]["mean"] < 1.0
        for row in res["fixed"]:
            # Two seeds: mean, sample spread and range of the per-seed accuracies.
            seeds, accuracy = row["accuracy_per_seed"], row["accuracy"]
            assert len(seeds) == accuracy["n"] == 2
            assert accuracy["min"] == min(seeds) <= accuracy["mean"] <= accuracy["max"]
            assert accuracy["std"] == pytest.approx(abs(seeds[0] - seeds[1]) / math.sqrt(2))
        assert fixed[0.0]["overlaps_full_band"] is True
    ckpts = sorted(cache.glob("*.ckpt"))
    assert len(ckpts) == 12  # 2 datasets x (2 fixed + 1 energy) x 2 seeds

    matrix = _run("train_vs_inference_compression", tmp_path, cache)
    noise = _run("noise_robustness", tmp_path, cache)
    assert sorted(cache.glob("*.ckpt")) == ckpts  # reused, nothing retrained
    for dataset, res in matrix.items():
        assert len(res["accuracy"]) == 2 and all(len(row) == 3 for row in res["accuracy"])
        fixed = {r["compression"]: r["accuracy"]["mean"] for r in acc[dataset]["fixed"]}
        sigma0 = noise[dataset]["sigmas"].index(0.0)
        for i, c in enumerate(res["train_compressions"]):
            # Same checkpoints, same test set, eval at its train compression: same accuracy.
            own = res["eval_compressions"].index(c)
            assert res["accuracy"][i][own] == pytest.approx(fixed[c], abs=1e-12)
            curve = noise[dataset]["curves"][f"{c:g}"]
            assert curve["accuracy_mean"][sigma0] == pytest.approx(fixed[c], abs=1e-12)
            per_seed = [row[own] for row in res["accuracy_per_seed"][i]]
            assert per_seed == [row[sigma0] for row in curve["accuracy_per_seed"]]
            summary = res["summary"][i]
            assert summary["seeds_best_at_train_compression"] == sum(
                row[own] >= max(row) for row in res["accuracy_per_seed"][i]
            )


# ---- experiment 5: energy curves from TensorBoard ---------------------------------------------


def test_energy_compression_curves_smoke(tmp_path: Path) -> None:
    results = _run("energy_compression_curves", tmp_path, tmp_path / "cache")
    run = results["ItalyPowerDemand"]["runs"]["0.9"]
    assert run["epochs"] == 3 and set(run["seeds"]) == {"0", "1"}
    for seed in run["seeds"].values():
        curves = seed["layer_compression"]
        assert len(curves) == 3  # the FCN's three convolutions
        for values in curves.values():
            assert len(values) == 3
            assert values[0] == 0.0  # the first epoch runs at full band
            assert all(0.0 <= v < 1.0 for v in values)
        # The last epoch's band is a band of the layer's padded length (quantised, achievable).
        assert any(v > 0 for values in curves.values() for v in values[1:])
        assert 1 <= seed["settled_epoch"] <= 3
    for layer, stats in run["layers"].items():
        finals = [seed["layer_compression"][layer][-1] for seed in run["seeds"].values()]
        assert stats["final"]["min"] == min(finals) and stats["final"]["max"] == max(finals)


def test_settled_epoch(experiments_module: Any) -> None:
    curves = experiments_module("energy_compression_curves")
    assert curves.settled_epoch({"a": [0.0, 0.5, 0.5], "b": [0.0, 0.2, 0.3]}) == 3
    assert curves.settled_epoch({"a": [0.0, 0.5, 0.5, 0.5]}) == 2
    assert curves.settled_epoch({"a": [0.1, 0.1]}) == 1


# ---- experiment 7: resource use ---------------------------------------------------------------


def test_saved_activation_bytes_counts_distinct_saved_storages(experiments_module: Any) -> None:
    resource = experiments_module("resource_use")
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x, y = torch.randn(4, 6), torch.tensor([0, 1, 2, 0])
    saved = resource.saved_activation_bytes(model, x, y)
    # Linear 1 saves x; ReLU saves its output; Linear 2 saves that same output (counted once);
    # cross entropy saves the log-softmax output, the int64 targets and (nll_loss) a 0-dim
    # float total weight. The parameters (weights, biases: 212 bytes) are not counted.
    expected = (4 * 6 + 4 * 5 + 4 * 3) * 4 + 4 * 8
    assert expected <= saved <= expected + 8


def test_resource_use_smoke(tmp_path: Path) -> None:
    results = _run("resource_use", tmp_path, tmp_path / "cache")
    rows = {r["setting"]: r for r in results["ucr_acsf1"]["rows"]}
    assert set(rows) == {"direct", "fft 0%", "50%"}
    full, half = rows["fft 0%"], rows["50%"]
    length = results["ucr_acsf1"]["input_shape"][-1]
    # Padded length of the first layer (kernel 8, "same"): L + 7.
    assert math.isclose(
        half["achieved_compression"],
        sum(band_for((length + k - 1,), 0.5).compression for k in (8, 5, 3)) / 3,
    )
    assert half["kept_spectrum_bytes"] < full["kept_spectrum_bytes"] == full["full_spectrum_bytes"]
    assert half["saved_activation_bytes"] < full["saved_activation_bytes"]
    assert all(r["epoch_time_s"] > 0 for r in rows.values())


# ---- experiment 2: spectral parametrization convergence ---------------------------------------


def test_speedup_matches_rippels_definition(experiments_module: Any) -> None:
    conv = experiments_module("spectral_parametrization_convergence")
    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    spatial = [0.9, 0.3, 0.2, 0.1, 0.15]
    spectral = [0.9, 0.2, 0.1, 0.05, 0.05]
    match = conv.speedup(times, spatial, spectral)
    assert match["t_spatial"] == 1.5 and match["t_spectral"] == 1.0
    assert match["speedup"] == 1.5
    assert conv.speedup(times, spatial, [0.9] * 5)["speedup"] is None


def test_speedup_summary_uses_the_sample_spread(experiments_module: Any) -> None:
    conv = experiments_module("spectral_parametrization_convergence")
    stats = conv.summary([1.0, 2.0, None])
    assert stats["mean"] == 1.5 and stats["not_reached"] == 1
    assert stats["std"] == pytest.approx(math.sqrt(0.5))
    assert conv.summary([None])["mean"] is None


def test_spectral_parametrization_convergence_smoke(tmp_path: Path) -> None:
    results = _run("spectral_parametrization_convergence", tmp_path, tmp_path / "cache")
    assert set(results) == {"deep_3x3"}
    res = results["deep_3x3"]
    for opt, lrs in (("adam", {"0.001", "0.003"}), ("sgd", {"0.1"})):
        block = res[opt]
        assert set(block["runs"]) == lrs
        for by_param in block["runs"].values():
            for a, b in zip(by_param["spatial"], by_param["spectral"], strict=True):
                assert len(a["error"]) == len(b["error"]) == len(res["epochs"]) == 3
                # Same initial network: the spectral parametrization starts from the same function.
                assert a["error"][0] == b["error"][0]
        # Best against best: each parametrization's chosen rate has its lowest mean best error.
        for param, lr in block["chosen_lr"].items():
            means = block["mean_best_error"][param]
            assert means[next(k for k in means if float(k) == lr)] == min(means.values())
        assert len(block["pairs"]) == 2 and len(block["speedup"]["per_seed"]) == 2
    # The SGD control: a rotation does not change SGD's filters (float32 round-off only).
    for run in res["sgd"]["runs"]["0.1"]["spatial"]:
        assert run["relative_filter_difference"] < 1e-4


# ---- operator check: the package's vs the paper's transform size ---------------------------


def test_zero_extended_operator_is_the_full_transform_size(experiments_module: Any) -> None:
    od = experiments_module("operator_difference")
    x = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    exact = torch.nn.functional.conv2d(x, w, padding=1)
    torch.testing.assert_close(od.zero_extended_conv(x, w, 1, 0.0), exact)
    assert not torch.allclose(od.zero_extended_conv(x, w, 1, 0.5), exact, atol=1e-3)
    full = bandlimited_conv2d(x, w, padding=1, compression=0.5, transform_size="full")
    torch.testing.assert_close(od.zero_extended_conv(x, w, 1, 0.5), full)


def test_operator_difference_smoke(tmp_path: Path) -> None:
    results = _run("operator_difference", tmp_path, tmp_path / "cache")
    # 12x12 maps, 3x3 filters, padding 1: 14 points vs 14 + max(2, 11) = 25.
    assert results["package_transform_size"] == 14 and results["paper_transform_size"] == 25
    for rows in results["inputs"].values():
        zero, half = rows
        assert zero["compression"] == 0.0
        assert max(zero[k]["max"] for k in ("package_vs_paper", "package_vs_exact")) < 1e-12
        assert half["achieved_package"] == band_for((14, 14), 0.5).compression
        assert half["package_vs_paper"]["mean"] > 0
        assert half["kept_coefficients_paper"] > half["kept_coefficients_package"]
    assert results["option_vs_zero_extension_max"] < 1e-12
    # One classifier trained at each transform size, tested at the compression it trained at.
    (row,) = results["training"]["mnist"]["rows"]
    padded, full = row["padded"], row["full"]
    assert row["compression"] == 0.5 and 0.3 < padded["achieved_compression"] < 0.7
    assert 0.3 < full["achieved_compression"] < 0.7
    assert padded["achieved_compression"] != full["achieved_compression"]  # other spectra
    assert row["full_minus_padded"]["mean"] == pytest.approx(
        full["accuracy"]["mean"] - padded["accuracy"]["mean"]
    )
    assert results["one_sided_coefficients"] == {"package": 14 * 8, "paper": 25 * 13}
    assert results["closest_compression_example"]["achieved"] == band_for((10, 10), 0.8).compression


# ---- experiment 8: spectral pooling classification ------------------------------------------


def test_spectral_pooling_classification_smoke(tmp_path: Path) -> None:
    results = _run("spectral_pooling_classification", tmp_path, tmp_path / "cache")
    assert set(results) == {"mnist", "GunPoint"}
    for block in results.values():
        variants = block["variants"]
        assert set(variants) == {"spectral_dropout", "spectral", "max"}
        # All three pool to the same sizes: the same dimensionality reduction.
        assert len({v["reduction"] for v in variants.values()}) == 1
        assert 0 < variants["max"]["reduction"] < 1
        for a, b in zip(
            variants["spectral"]["runs"], variants["spectral_dropout"]["runs"], strict=True
        ):
            # Same initialisation and no dropout at evaluation: same starting test error.
            assert a["test_error"][0] == b["test_error"][0]
            assert len(a["test_error"]) == block["epochs"] + 1 == len(a["train_loss"]) + 1
        for v in variants.values():
            assert v["test_error_min"] <= v["test_error_mean"] <= v["test_error_max"]
    # Batch-norm statistics re-estimated at full band: only the 2D network has batch norm.
    for variant in results["mnist"]["variants"].values():
        recalibrated = variant["test_error_bn_recalibrated"]
        assert recalibrated["n"] == 2 and 0.0 <= recalibrated["mean"] <= 1.0
    for variant in results["GunPoint"]["variants"].values():
        assert variant["test_error_bn_recalibrated"] is None
