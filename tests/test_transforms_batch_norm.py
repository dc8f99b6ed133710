"""``lightning_spectral.transforms.batch_norm``: ``recalibrate_batch_norm_``."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lightning_spectral import transforms as T
from lightning_spectral.nn import BandLimitedConv2d, SpectralPool2d


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        BandLimitedConv2d(1, 4, 3, padding=1, compression=0.5, eval_compression=0.25),
        SpectralPool2d(scale=0.5, dropout_min=0.2, dropout_seed=3),
        nn.BatchNorm2d(4),
        nn.Dropout(0.5),
        nn.ReLU(),
        nn.Conv2d(4, 2, 3),
        nn.BatchNorm2d(2),
    )


def _batches(n: int = 3) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(5, 1, 12, 12, generator=generator) for _ in range(n)]


def test_statistics_are_those_of_the_network_as_evaluated():
    net = _net()
    net.train()
    for x in _batches():  # training forwards: dropout cutoffs drawn, statistics band-limited
        net(x)
    draws = net[1].dropout_draws
    assert T.recalibrate_batch_norm_(net, [(x, 0) for x in _batches()]) == 3
    # Oracle: the eval-mode network up to each batch norm, batch by batch; while re-estimating,
    # a batch norm normalises with its batch's own statistics (train mode), so the second one
    # sees the first one's batch-normalised output. Running statistics are the plain averages
    # of the per-batch mean and unbiased variance.
    reference = _net().eval()
    reference.load_state_dict(net.state_dict())
    means, variances = [[], []], [[], []]
    with torch.no_grad():
        for x in _batches():
            h = reference[:2](x)
            norm = reference[2]
            means[0].append(h.mean((0, 2, 3)))
            variances[0].append(h.transpose(0, 1).flatten(1).var(1))
            h = F.batch_norm(h, None, None, norm.weight, norm.bias, training=True, eps=norm.eps)
            h = reference[5](torch.relu(h))  # dropout is off in eval mode
            means[1].append(h.mean((0, 2, 3)))
            variances[1].append(h.transpose(0, 1).flatten(1).var(1))
    for norm, mean, variance in zip((net[2], net[6]), means, variances, strict=True):
        torch.testing.assert_close(norm.running_mean, torch.stack(mean).mean(0))
        torch.testing.assert_close(norm.running_var, torch.stack(variance).mean(0))
    assert int(net[2].num_batches_tracked) == 3
    # Modes, momentum and the dropout counter are as before; no gradient was recorded; the
    # eval-mode spectrum the band-limited convolution cached meanwhile is dropped again.
    assert all(m.training for m in net.modules()) and net[0].cache_bytes == 0
    assert net[2].momentum == 0.1 and net[1].dropout_draws == draws
    assert all(p.grad is None for p in net.parameters())


def test_eval_output_changes_only_through_the_statistics():
    net = _net()
    net.train()
    for x in _batches():
        net(x)
    net.eval()
    before = net(_batches(1)[0])
    batches = iter(_batches())
    T.recalibrate_batch_norm_(net, batches, num_batches=2)
    assert int(net[2].num_batches_tracked) == 2
    assert next(batches).shape == (5, 1, 12, 12)  # the third batch was not drawn
    assert not torch.allclose(net(_batches(1)[0]), before)
    assert not net.training  # eval mode kept


def test_no_batch_norm_warns_and_bad_arguments_leave_the_model_unchanged():
    with pytest.warns(T.SpectralTransformWarning, match="no batch norm"):
        assert T.recalibrate_batch_norm_(nn.Sequential(nn.Conv2d(1, 1, 3)), _batches()) == 0
    net = _net()
    state = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError, match="yielded no batch"):
        T.recalibrate_batch_norm_(net, [])
    with pytest.raises(ValueError, match=r"`num_batches` must be an int >= 1, got 0"):
        T.recalibrate_batch_norm_(net, _batches(), num_batches=0)
    with pytest.raises(TypeError, match=r"`num_batches`"):
        T.recalibrate_batch_norm_(net, _batches(), num_batches=1.5)
    bad = [*_batches(1), torch.randn(5, 3, 12, 12)]  # the second batch fails in the model
    with pytest.raises(ValueError, match="input channels"):
        T.recalibrate_batch_norm_(net, bad)
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]) if torch.is_tensor(value) else value == state[key]
    assert all(m.training for m in net.modules()) and net[2].momentum == 0.1
