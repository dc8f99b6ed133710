"""``benchmarks/gpu_check.sh --dry-run``: every step of the GPU check runs on the CPU.

The dry run takes the same steps as the GPU run (versions, the CUDA test selection, the benchmark
groups and the ResNet-18 step) with the Triton kernels interpreted and tiny sizes, so that a GPU
run can only fail for GPU reasons.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
STEPS = ("versions", "cuda-tests", "bench-dry-3x3", "bench-dry-7x7", "bench-dry-1d")


def _run(*args: str, env: dict[str, str] | None = None, timeout: int = 60):
    environment = {k: v for k, v in os.environ.items() if k != "OUT"}
    environment.update(PYTHON=sys.executable, **(env or {}))
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_gpu_check_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run("--dry-run", env={"OUT": str(out)}, timeout=600)
    summary = (out / "summary.txt").read_text()
    assert result.returncode == 0, summary + result.stdout[-3000:] + result.stderr[-3000:]
    for step in (*STEPS, "bench-resnet18-step", "profile"):
        assert f"{step}: ok" in summary, summary
        assert (out / f"{step}.log").is_file()
    assert "total:" in summary and "all steps ok" in summary

    versions = json.loads((out / "versions.json").read_text())
    assert versions["torch"] and versions["cuda available"] is False

    # The selection picks the CUDA tests (skipped here, with the reason) and nothing else.
    suite = ET.parse(out / "cuda-tests.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) > 50
    assert int(suite.get("failures")) == int(suite.get("errors")) == 0
    for case in cases:
        name = f"{case.get('classname')}.{case.get('name')}"
        assert "cuda" in name and "interpreter" not in name, name
    for case in cases:  # every selected test needs a GPU: on the CPU each one skips, saying so
        skipped = case.find("skipped")
        assert skipped is not None and "CUDA" in skipped.get("message", ""), case.get("name")

    for group in STEPS[2:]:
        payload = json.loads((out / f"{group}.json").read_text())
        assert {row["method"] for row in payload["layers"]} >= {"cudnn", "torch", "triton"}
        assert all(row["peak_mib"] is None for row in payload["layers"])  # not measured on CPU
        assert "not a measurement" in (out / f"{group}.md").read_text()
    steps = json.loads((out / "bench-resnet18-step.json").read_text())["resnet18_step"]
    assert [(s["method"], s["compression"]) for s in steps] == [("cudnn", None), ("torch", 0.5)]
    profiles = json.loads((out / "profile.json").read_text())["rows"]
    assert {(row["shape"], row["method"]) for row in profiles} == {
        (shape, method)
        for shape in ("dry/3x3", "dry/7x7-stride2", "dry/1d-k9")
        for method in ("cudnn", "torch", "triton")
    }
    assert all(row["launches"] == 0 for row in profiles)  # no device kernels on the CPU


def test_gpu_check_needs_an_output_folder() -> None:
    result = _run("--dry-run")
    assert result.returncode == 2
    assert "give an output folder as argument or set OUT" in result.stderr


def test_gpu_check_rejects_unknown_options(tmp_path: Path) -> None:
    result = _run("--fast", str(tmp_path))
    assert result.returncode == 2
    assert "unknown option '--fast'" in result.stderr and "--dry-run" in result.stderr
    result = _run(str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.returncode == 2 and "one output folder expected" in result.stderr
