"""Plans (``lightning_spectral.transforms.plans``): loading plans written by earlier versions,
and re-applying a plan through the same code path as the rewrite it describes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from _transform_helpers import Net
from torch import nn

from lightning_spectral import transforms as T
from lightning_spectral.nn import SpectralPool2d, is_spectrally_parametrized

_FIXTURES = Path(__file__).parent / "fixtures"


class PlanNet(nn.Module):
    """The model ``tests/fixtures/plan_v1_all_rewrites.json`` was written from (all rewrites)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(6, 6, 3, padding=1)
        self.line = nn.Conv1d(6, 4, 3, padding=1)
        self.pool1 = nn.AvgPool1d(2)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.stem(x)))
        x = torch.relu(self.conv(x))
        feats = self.gap(x).flatten(1)  # (N, 6)
        seq = self.pool1(self.line(x.flatten(2)))  # (N, 4, L/2)
        return torch.cat([feats, seq.mean(-1)], dim=1)


def _rewrite_like_the_fixture(model: PlanNet) -> PlanNet:
    # The exact calls that wrote the fixture with the version-1 code (transforms.py, one file).
    T.band_limit_(model, compression=0.5, eval_compression=0.25, include=["stem", "line"])
    T.band_limit_(model, compression=0.2, mode="energy", energy=0.9, include="conv")
    T.replace_pooling_(model, kinds=("max", "avg", "adaptive_avg"), dropout_min=0.3, seed=7)
    T.parametrize_spectral_(model, include=["stem", "conv"])
    return model


def test_a_version_1_plan_file_still_loads_and_rebuilds_the_same_model():
    plan = json.loads((_FIXTURES / "plan_v1_all_rewrites.json").read_text())
    torch.manual_seed(0)
    reference = _rewrite_like_the_fixture(PlanNet())
    fresh = PlanNet()
    report = T.apply_plan_(fresh, plan)
    assert sorted(report.changed) == sorted(
        ["stem", "line", "conv", "pool", "pool1", "gap", "stem", "conv"]
    )
    assert T.plan_of(fresh) == T.plan_of(reference) == plan
    # Parametrized modules get a fresh injected class per instance: compare class names.
    assert {n: type(m).__name__ for n, m in fresh.named_modules()} == {
        n: type(m).__name__ for n, m in reference.named_modules()
    }
    assert is_spectrally_parametrized(fresh.stem) and is_spectrally_parametrized(fresh.conv)
    fresh.load_state_dict(reference.state_dict())  # strict: same keys and shapes
    x = torch.randn(2, 3, 8, 8)
    reference.eval(), fresh.eval()
    torch.testing.assert_close(fresh(x), reference(x), rtol=0, atol=0)


def test_reapplying_a_plan_gives_the_plan_geometry_to_an_existing_spectral_pool():
    source = nn.Sequential(nn.Conv2d(1, 1, 1), nn.MaxPool2d(2))
    T.replace_pooling_(source)
    plan = T.plan_of(source)
    # The target already has a spectral pool of another geometry (output size 3).
    target = nn.Sequential(nn.Conv2d(1, 1, 1), SpectralPool2d(3))
    report = T.apply_plan_(target, plan)
    assert report.changed == ["1"]
    assert T.plan_of(target)["spectral_pool"] == plan["spectral_pool"]
    assert target(torch.randn(1, 1, 8, 8)).shape == (1, 1, 4, 4)  # the plan's window, not 3x3
    assert T.apply_plan_(target, plan).changed == []  # now in the plan's state


def test_reapplying_a_plan_restores_an_existing_pools_dropout_seed():
    source = nn.Sequential(nn.Conv2d(1, 1, 1), nn.MaxPool2d(2))
    T.replace_pooling_(source, dropout_min=0.5, seed=3)
    target = nn.Sequential(nn.Conv2d(1, 1, 1), nn.MaxPool2d(2))
    T.replace_pooling_(target, dropout_min=0.5, seed=4)
    T.apply_plan_(target, T.plan_of(source))
    assert target[1].dropout_seed == source[1].dropout_seed


def test_the_new_rewrite_example_of_the_design_guide_runs(monkeypatch):
    from lightning_spectral.transforms import plans

    # A private copy of the registry: the example's registration does not leak into other tests.
    monkeypatch.setattr(plans, "_REGISTRY", dict(plans._REGISTRY))
    text = (Path(__file__).parents[1] / "docs" / "design.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    example = next(block for block in blocks if "register_rewrite" in block)
    exec(compile(example, "docs/design.md", "exec"), {})
    assert [r.key for r in plans.registered_rewrites()][-1] == "gelu"


def test_the_registry_refuses_a_taken_key_and_plans_refuse_unknown_sections():
    taken = T.registered_rewrites()[0]
    with pytest.raises(ValueError, match="'band_limit' is already used"):
        T.register_rewrite(taken)
    with pytest.raises(TypeError, match="must be a Rewrite"):
        T.register_rewrite("band_limit")
    plan = T.plan_of(nn.Sequential(nn.Conv1d(1, 1, 3)))
    plan["gelu"] = {"0": {}}
    with pytest.raises(ValueError, match=r"section\(s\) \['gelu'\] that no registered rewrite"):
        T.apply_plan_(nn.Sequential(nn.Conv1d(1, 1, 3)), plan)


def _rewritten_net() -> Net:
    model = Net()
    T.band_limit_(model, compression=0.5, eval_compression=0.25, exclude="conv")
    T.band_limit_(model, compression=0.0, mode="energy", energy=0.5, include="conv")
    T.replace_pooling_(model, kinds=("max", "adaptive_avg"), dropout_min=0.5)
    T.parametrize_spectral_(model, include="stem")
    return model


def test_plan_round_trip_through_json_restores_identical_outputs():
    torch.manual_seed(0)
    model = _rewritten_net()
    model.train()
    model(torch.randn(4, 3, 12, 12))  # energy statistics, BN statistics, a dropout draw
    model.conv.update_band()
    plan = json.loads(json.dumps(T.plan_of(model)))
    # Version 1: nothing in it needs a newer reader (see the transform-size test).
    assert plan["format"] == T.PLAN_FORMAT and plan["version"] == 1 < T.PLAN_VERSION
    assert set(plan["band_limit"]) == {"stem", "conv"}
    assert set(plan["spectral_pool"]) == {"pool", "head.0"}
    assert plan["spectral_parametrization"] == ["stem"]
    fresh = Net()
    report = T.apply_plan_(fresh, plan)
    assert set(report.changed) >= {"stem", "conv", "pool", "head.0"}
    fresh.load_state_dict(model.state_dict())  # strict
    assert fresh.conv.compression == model.conv.compression > 0  # the learned band
    assert fresh.pool.dropout_draws == model.pool.dropout_draws == 1
    x = torch.randn(2, 3, 12, 12)
    model.eval(), fresh.eval()
    assert torch.equal(fresh(x), model(x))
    assert T.plan_of(fresh) == plan
    assert T.apply_plan_(fresh, plan).changed == []  # idempotent


def test_plan_errors_are_clear():
    plan = T.plan_of(_rewritten_net())
    with pytest.raises(ValueError, match="newer than this lightning-spectral supports"):
        T.apply_plan_(Net(), {**plan, "version": T.PLAN_VERSION + 1})
    with pytest.raises(ValueError, match="not a lightning-spectral plan"):
        T.apply_plan_(Net(), {"version": 1})
    with pytest.raises(ValueError, match=r"does not have: block\.9"):
        T.apply_plan_(Net(), {**plan, "band_limit": {"block.9": plan["band_limit"]["stem"]}})
    with pytest.raises(ValueError, match="cannot band-limit 'norm'"):
        T.apply_plan_(Net(), {**plan, "band_limit": {"norm": plan["band_limit"]["stem"]}})
    with pytest.raises(ValueError, match="spectral pool"):
        T.apply_plan_(Net(), {**plan, "spectral_pool": {"stem": plan["spectral_pool"]["pool"]}})
