"""Smoke tests of ``benchmarks/bench_conv.py`` and ``benchmarks/bench_model.py``: each CLI runs
in ``--quick`` mode and writes parseable results. Timings are never asserted (docs/design.md),
only the structure of the output and the quantities that do not depend on the machine's load."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from lightning_spectral.functional import band_for

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_conv.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_quick_run_writes_parseable_tables(tmp_path: Path) -> None:
    output = tmp_path / "quick"
    compressions = (0.0, 0.5, 0.9)
    result = _run(
        "--quick",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--compressions",
        ",".join(map(str, compressions)),
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr

    payload = json.loads(output.with_suffix(".json").read_text())
    assert payload["complete"] is True
    machine = payload["machine"]
    assert machine["threads"] == 2
    assert machine["cpu"] and machine["torch"]
    shapes = payload["shapes"]
    rows = payload["rows"]
    assert len(shapes) >= 2 and {s["ndim"] for s in shapes} == {1, 2}
    assert len(rows) == len(shapes) * len(compressions)

    padded = {}
    for shape in shapes:
        if shape["padding"] == "same":
            padded[shape["name"]] = tuple(
                n + k - 1 for n, k in zip(shape["size"], shape["kernel"], strict=True)
            )
        else:
            padded[shape["name"]] = tuple(n + 2 * shape["padding"] for n in shape["size"])
    saved: dict[str, dict[float, int]] = {}
    for row in rows:
        assert row["achieved"] == band_for(padded[row["shape"]], row["compression"]).compression
        for key in ("fwd_ratio", "train_ratio", "mem_ratio", "ref_fwd_ms", "ours_train_ms"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        assert math.isclose(row["train_ratio"], row["ours_train_ms"] / row["ref_train_ms"])
        saved.setdefault(row["shape"], {})[row["compression"]] = row["ours_saved_bytes"]
    # Bytes saved for backward shrink with the band (slice, never mask).
    for name, by_compression in saved.items():
        assert by_compression[0.9] < by_compression[0.5] < by_compression[0.0], name

    table = output.with_suffix(".md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| shape | compression | achieved | fwd | fwd+bwd | mem")
    assert len(lines) == 1 + len(rows)
    assert f"threads {machine['threads']}" in table
    # The table is also printed.
    assert lines[1] in result.stdout


def test_shape_filter_without_match_fails(tmp_path: Path) -> None:
    result = _run("--quick", "--shapes", "no-such-shape", "--output", str(tmp_path / "x"))
    assert result.returncode != 0
    assert "matches no shape" in result.stderr
    assert not (tmp_path / "x.json").exists()


# ---- bench_model.py ----------------------------------------------------------------------

MODEL_SCRIPT = ROOT / "benchmarks" / "bench_model.py"


def _run_model(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MODEL_SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_model_quick_run_writes_parseable_tables(tmp_path: Path) -> None:
    output = tmp_path / "models"
    result = _run_model("--quick", "--compressions", "0.5,0.9", "--output", str(output))
    assert result.returncode == 0, result.stderr

    payload = json.loads(output.with_suffix(".json").read_text())
    assert payload["complete"] is True and payload["quick"] is True
    assert payload["machine"]["threads"] == 2 and payload["machine"]["cpu"]
    rows = payload["rows"]
    models = {"resnet18-cifar", "tv-resnet18-64"}
    assert set(payload["models"]) == models
    assert [(r["model"], r["variant"]) for r in rows] == [
        (m, v) for m in sorted(models) for v in ("plain", "bl-0.5", "bl-0.9")
    ]
    switch = payload["spectrum_cache_switch"]
    by_key = {(r["model"], r["variant"]): r for r in rows}
    for row in rows:
        plain = by_key[(row["model"], "plain")]
        assert set(row["eval_ms"]) == {"1", "2"}  # JSON keys of the eval batches
        for key in ("train_ms", "train_ratio", "saved_ratio"):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
        assert math.isclose(row["train_ratio"], row["train_ms"] / plain["train_ms"])
        assert math.isclose(row["eval_ratio"]["1"], row["eval_ms"]["1"] / plain["eval_ms"]["1"])
        assert row["weight_bytes"] == plain["weight_bytes"]  # same parameters, rewritten
        if row["variant"] != "plain":
            assert set(row["eval_nocache_ms"]) == ({"1", "2"} if switch else set())
    for model in models:
        # Bytes saved for backward shrink with the band (slice, never mask).
        assert by_key[(model, "bl-0.9")]["saved_bytes"] < by_key[(model, "bl-0.5")]["saved_bytes"]

    table = output.with_suffix(".md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| model | variant | train step | eval b1 | eval b2 |")
    assert ("no cache b1" in lines[0]) == switch
    assert len(lines) == 1 + len(rows)
    assert "threads 2" in table and lines[1] in result.stdout


def test_model_unknown_name_fails(tmp_path: Path) -> None:
    result = _run_model("--quick", "--models", "vgg", "--output", str(tmp_path / "x"))
    assert result.returncode != 0
    assert "unknown ['vgg']" in result.stderr
    assert not (tmp_path / "x.json").exists()


# ---- profile_model.py --------------------------------------------------------------------

PROFILE_SCRIPT = ROOT / "benchmarks" / "profile_model.py"


def test_profile_quick_run_names_the_operators(tmp_path: Path) -> None:
    out = tmp_path / "profile"
    result = subprocess.run(
        [sys.executable, str(PROFILE_SCRIPT), "--quick", "--top", "4", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    report = (out.with_suffix(".md")).read_text()
    assert report in result.stdout
    for setting in ("## eval, batch 1", "## train step, batch 2"):
        assert setting in report
    shares = [line for line in report.splitlines() if line.startswith("| `")]
    assert len(shares) == 4 * 4  # two settings x two models x --top rows
    assert all(line.split("|")[2].strip().endswith("%") for line in shares)


def test_profile_rejects_a_bad_compression(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(PROFILE_SCRIPT), "--quick", "--compression", "1.5"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2 and "--compression must be in [0, 1), got 1.5" in result.stderr
