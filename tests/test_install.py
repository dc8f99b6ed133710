"""Packaging: dependency declarations, the CI constraints file, and running without triton.

* runtime dependencies carry lower bounds, never exact pins, and triton is required only on the
  platforms it publishes wheels for;
* ``.ci/constraints.txt`` pins every distribution the project declares, each pin is admitted by
  the declaration, and ``.ci/run`` installs with it;
* in a process where ``import triton`` fails (as on macOS or Windows), the package imports and
  the band-limited convolution runs on the torch path.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, as pytest's dependency
    import tomli as tomllib

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _environment(system: str, machine: str) -> dict[str, str]:
    return {"platform_system": system, "platform_machine": machine, "sys_platform": system.lower()}


def test_runtime_dependencies_have_no_exact_pins():
    for text in PROJECT["dependencies"]:
        requirement = Requirement(text)
        operators = {spec.operator for spec in requirement.specifier}
        assert operators and operators <= {">=", "<", "!="}, f"{text}: lower bounds, no pins"


def test_runtime_bounds_admit_the_gpu_machines_versions():
    # The GPU test machine runs torch 2.11, triton 3.6 and pytorch-lightning 2.6.6.
    declared = {
        canonicalize_name(Requirement(t).name): Requirement(t) for t in PROJECT["dependencies"]
    }
    for name, version in (("torch", "2.11.0"), ("triton", "3.6.0"), ("pytorch-lightning", "2.6.6")):
        assert declared[name].specifier.contains(version), (name, version)


def test_triton_only_where_it_has_wheels():
    (triton,) = [Requirement(t) for t in PROJECT["dependencies"] if t.startswith("triton")]
    marker: Marker = triton.marker
    assert marker is not None
    for system, machine in (("Linux", "x86_64"), ("Linux", "aarch64")):
        assert marker.evaluate(_environment(system, machine)), (system, machine)
    for system, machine in (("Darwin", "arm64"), ("Darwin", "x86_64"), ("Windows", "AMD64")):
        assert not marker.evaluate(_environment(system, machine)), (system, machine)


def test_dev_extra_installs_both_namespaces_and_the_exporter():
    extras = PROJECT["optional-dependencies"]
    (own,) = [Requirement(t) for t in extras["dev"] if t.startswith(PROJECT["name"])]
    assert {"docs", "export", "lightning"} <= own.extras
    assert {Requirement(t).name for t in extras["lightning"]} == {"lightning"}
    assert {Requirement(t).name for t in extras["export"]} == {"onnx", "onnxruntime", "onnxscript"}


def test_constraints_pin_every_declared_distribution_within_its_bounds():
    pins = _pins()
    declared = list(PROJECT["dependencies"])
    for requirements in PROJECT["optional-dependencies"].values():
        declared.extend(requirements)
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == canonicalize_name(PROJECT["name"]):
            continue
        assert name in pins, f"{name} is declared but not pinned in {CONSTRAINTS.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (text, pins[name])
    run = (ROOT / ".ci" / "run").read_text()
    assert 'PIP_CONSTRAINT="$PWD/.ci/constraints.txt"' in run


BLOCK_TRITON = """
import importlib.abc
import sys


class NoTriton(importlib.abc.MetaPathFinder):
    # As on a platform without triton wheels: every import of triton fails.
    def find_spec(self, name, path=None, target=None):
        if name == "triton" or name.startswith("triton."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoTriton())
"""

WITHOUT_TRITON = """
import sys

import torch
import torch.nn.functional as F

import lightning_spectral
from lightning_spectral import kernels, transforms
from lightning_spectral.functional import bandlimited_conv2d

usable, reason = kernels.triton_status()
assert not usable and "triton" in reason, reason
x = torch.randn(2, 3, 12, 12)
weight = torch.randn(4, 3, 3, 3)
out = bandlimited_conv2d(x, weight, padding=1, compression=0.0)
torch.testing.assert_close(out, F.conv2d(x, weight, padding=1), atol=1e-4, rtol=1e-4)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
transforms.band_limit_(net, compression=0.5)
y = net(x)
assert type(net[0]).__name__ == "BandLimitedConv2d" and y.shape == (2, 4, 12, 12)
assert torch.isfinite(y).all()
assert not any(name == "triton" or name.startswith("triton.") for name in sys.modules)
print("ok", lightning_spectral.__name__)
"""


def test_package_and_torch_path_work_without_triton():
    code = textwrap.dedent(BLOCK_TRITON) + textwrap.dedent(WITHOUT_TRITON)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip() == "ok lightning_spectral"


def test_the_blocker_really_blocks_triton():
    # Guards the test above: with the finder installed, importing triton fails.
    code = textwrap.dedent(BLOCK_TRITON) + "import triton\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "No module named 'triton'" in result.stderr
