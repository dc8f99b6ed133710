"""Shared test configuration: deterministic seeds and hypothesis profiles.

Profiles (select with ``HYPOTHESIS_PROFILE=<name>``):

* ``dev`` (default): no deadline (CPU timings on shared machines are noisy).
* ``ci``: the same, derandomized so that a CI run is reproducible.

Threads: the tests use small tensors, for which intra-op threads only add synchronisation; on a
busy machine a 2-thread FFT of an 8x8 map took 1-15 ms against 10 us with one thread. The suite
therefore runs with one intra-op thread unless ``LIGHTNING_SPECTRAL_TEST_THREADS`` says otherwise.
"""

from __future__ import annotations

import os

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


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(int(os.environ.get("LIGHTNING_SPECTRAL_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    """Give every test the same torch random stream, independent of test order."""
    torch.manual_seed(0)
