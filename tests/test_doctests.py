"""Run the ``>>>`` examples of every module of the package as doctests.

The modules are collected by walking the package, so a new module is covered without an edit
here. A module that cannot be imported fails its test (it is never skipped silently).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import lightning_spectral

_MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(lightning_spectral.__path__, prefix="lightning_spectral.")
    if info.name != "lightning_spectral.__main__"  # runs the CLI on import
)


def test_every_package_module_is_collected():
    assert {"lightning_spectral.transforms.plans", "lightning_spectral.plans_io"} <= set(_MODULES)
    assert len(_MODULES) > 30


@pytest.mark.parametrize("name", ["lightning_spectral", *_MODULES])
def test_doctests(name):
    module = importlib.import_module(name)
    torch.manual_seed(0)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=vars(module).copy()):
        # Only examples written in this module (not those of names it re-exports).
        if test.filename and not test.filename.startswith(str(module.__file__).rsplit(".", 1)[0]):
            continue
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name}"
