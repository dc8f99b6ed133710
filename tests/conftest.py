"""Shared test configuration: deterministic seeds, hypothesis profiles, Lightning namespaces.

Profiles (select with ``HYPOTHESIS_PROFILE=<name>``):

* ``dev`` (default): no deadline (CPU timings on shared machines are noisy).
* ``ci``: the same, derandomized so that a CI run is reproducible.

Threads: the tests use small tensors, for which intra-op threads only add synchronisation; on a
busy machine a 2-thread FFT of an 8x8 map took 1-15 ms against 10 us with one thread. The suite
therefore runs with one intra-op thread unless ``LIGHTNING_SPECTRAL_TEST_THREADS`` says otherwise.

Namespaces: a test that takes the ``lightning_namespace`` fixture runs once per installed Lightning
namespace (``pytorch_lightning``, and ``lightning.pytorch`` when the ``lightning`` extra is
installed, as in CI); ``tests/_lightning_helpers.py`` builds its trainers and models from it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import pytest
import torch
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "print_blob": True,
}
settings.register_profile("dev", **_COMMON)
settings.register_profile("ci", derandomize=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


#: Import names of the Lightning namespaces installed here, the required one first. Found
#: without importing them, so that collecting tests imports no Lightning.
LIGHTNING_NAMESPACES = ["pytorch_lightning"] + (
    ["lightning.pytorch"] if importlib.util.find_spec("lightning") is not None else []
)


@pytest.fixture(params=LIGHTNING_NAMESPACES)
def lightning_namespace(request: pytest.FixtureRequest) -> ModuleType:
    """The Lightning namespace module (``pl`` or ``L``) this run of the test uses."""
    return importlib.import_module(request.param)


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(int(os.environ.get("LIGHTNING_SPECTRAL_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    """Give every test the same torch random stream, independent of test order."""
    torch.manual_seed(0)
