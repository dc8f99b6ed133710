"""The Lightning-free plain path (``lightning_spectral.plans_io``) and the package's lazy table."""

from __future__ import annotations

import ast
import fractions
import io
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import lightning_spectral
from lightning_spectral import checkpoint, plans_io, transforms

_PLAIN_SCRIPT = textwrap.dedent(
    """
    import io, sys
    import torch
    from torch import nn
    from lightning_spectral import inference_checkpoint, restore_
    from lightning_spectral.plans_io import plan_from_checkpoint
    from lightning_spectral.transforms import band_limit_, replace_pooling_

    def net():
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2))

    trained = net()
    band_limit_(trained, compression=0.5)
    replace_pooling_(trained)
    buffer = io.BytesIO()
    torch.save(inference_checkpoint(trained), buffer)
    buffer.seek(0)
    assert plan_from_checkpoint(buffer)["band_limit"], "no plan"
    fresh = net()
    restore_(fresh, buffer)
    x = torch.randn(1, 1, 8, 8)
    assert torch.equal(fresh.eval()(x), trained.eval()(x))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pytorch_lightning", "lightning"))
    print("LIGHTNING:", loaded)
    """
)


def test_the_plain_path_runs_in_a_fresh_interpreter_without_importing_lightning():
    result = subprocess.run(
        [sys.executable, "-c", _PLAIN_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "LIGHTNING: []" in result.stdout, result.stdout


def test_the_old_import_location_re_exports_the_plain_names():
    for name in ("CHECKPOINT_KEY", "add_plan", "inference_checkpoint", "plan_from_checkpoint"):
        assert getattr(checkpoint, name) is getattr(plans_io, name)
    assert checkpoint.restore_ is plans_io.restore_ is lightning_spectral.restore_


def test_read_checkpoint_uses_weights_only_and_rewinds_a_file(tmp_path):
    path = tmp_path / "bad.pt"
    torch.save({"x": fractions.Fraction(1, 3)}, path)  # a global weights_only refuses
    with pytest.raises(
        plans_io.UnreadableCheckpointError, match="not a readable checkpoint"
    ) as info:
        plans_io.read_checkpoint(path)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)  # weights_only refused it
    buffer = io.BytesIO()
    model = nn.Sequential(nn.Conv1d(1, 1, 3))
    transforms.band_limit_(model)
    torch.save(plans_io.inference_checkpoint(model), buffer)
    buffer.seek(0)
    assert plans_io.plan_from_checkpoint(buffer) == transforms.plan_of(model)
    assert buffer.tell() == 0


def test_top_level_all_is_the_lazy_table_and_type_checking_imports_agree():
    assert sorted(lightning_spectral.__all__) == sorted(["__version__", *lightning_spectral._LAZY])
    for name in lightning_spectral._LAZY:
        assert getattr(lightning_spectral, name) is not None
    tree = ast.parse(Path(lightning_spectral.__file__).read_text())
    guarded = next(
        node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node)
    )
    imported = {
        alias.name: node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == lightning_spectral._LAZY
