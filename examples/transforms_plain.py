"""The spectral transforms on a bare ``nn.Module``, in plain PyTorch (no Lightning at all).

``lightning_spectral.transforms`` rewrites any model in place, torchao style:

* ``parametrize_spectral_``: convolution filters are learned as their spectrum (Rippel et al.);
* ``band_limit_``: convolutions become band-limited FFT convolutions (Dziedzic et al.);
* ``replace_pooling_``: max/avg pools become spectral pools, optionally with frequency dropout;
* ``set_compression_``: change the train/eval compression later, e.g. for inference;
* ``plan_of``/``apply_plan_``: a plain-data description of the rewrite, to rebuild the same
  layers in a fresh model before ``load_state_dict``;
* ``bake_``: fold the spectral parametrization back into plain weights for deployment.

The data are synthetic so that the example needs nothing but torch: 32x32 images of noisy
sinusoidal gratings whose class is their orientation (one of 8, 22.5 degrees apart). Run
``python examples/transforms_plain.py`` (about a minute on a laptop CPU) or add ``--fast``.
"""

from __future__ import annotations

import argparse
import json
import math

import torch
import torch.nn.functional as F
from torch import nn

from lightning_spectral import transforms

SIZE = 32
ANGLES = (0.0, 22.5, 45.0, 67.5, 90.0, 112.5, 135.0, 157.5)


def gratings(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy oriented gratings.

    Args:
        n: Number of images.
        generator: Source of randomness (classes, frequencies, phases, noise).

    Returns:
        ``(images, labels)``: images ``(n, 1, SIZE, SIZE)`` and labels ``(n,)`` in
        ``0..len(ANGLES)-1``.
    """
    labels = torch.randint(len(ANGLES), (n,), generator=generator)
    theta = torch.tensor(ANGLES)[labels] * math.pi / 180
    cycles = 2 + 3 * torch.rand(n, generator=generator)  # 2-5 periods per image: low frequency
    phase = 2 * math.pi * torch.rand(n, generator=generator)
    coords = torch.arange(SIZE, dtype=torch.float32) / SIZE
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    direction = torch.cos(theta)[:, None, None] * xx + torch.sin(theta)[:, None, None] * yy
    images = torch.sin(2 * math.pi * cycles[:, None, None] * direction + phase[:, None, None])
    images = images + 2.5 * torch.randn(n, SIZE, SIZE, generator=generator)
    return images.unsqueeze(1), labels


def make_net() -> nn.Sequential:
    """A plain CNN: nothing in it is spectral until the transforms rewrite it."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 -> 16
        nn.Conv2d(8, 16, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 -> 8
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, len(ANGLES)),
    )


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``net`` in eval mode."""
    net.eval()
    with torch.no_grad():
        return (net(images).argmax(1) == labels).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    """Rewrite, train, sweep, save/restore and bake a plain model; ``argv`` as on the shell."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="smoke run: a few steps only")
    args = parser.parse_args(argv)
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    train_x, train_y = gratings(256 if args.fast else 2048, generator)
    test_x, test_y = gratings(256 if args.fast else 512, generator)

    net = make_net()
    for report in (
        transforms.parametrize_spectral_(net),
        transforms.band_limit_(net, compression=0.5),
        # Frequency dropout: each training step keeps at least 60% of the pooled frequencies.
        transforms.replace_pooling_(net, kinds=("max",), dropout_min=0.6),
    ):
        print(f"{report.transform}: changed {report.changed}")

    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    steps = 5 if args.fast else 100
    for step in range(steps):
        net.train()
        index = torch.randint(len(train_y), (32,), generator=generator)
        loss = F.cross_entropy(net(train_x[index]), train_y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.3f}")

    # Trained at 50% compression; how does it fare with other inference compressions?
    print("eval compression -> test accuracy")
    for compression in (0.0, 0.25, 0.5, 0.75, 0.9):
        transforms.set_compression_(net, eval_compression=compression)
        print(f"  {compression:.2f} -> {accuracy(net, test_x, test_y):.3f}")
    transforms.set_compression_(net, eval_compression=0.5)
    reference = accuracy(net, test_x, test_y)

    # Save: the state dict plus the plan (plain JSON data); restore into a fresh plain model.
    plan = transforms.plan_of(net)
    saved = {"state_dict": net.state_dict(), "plan": json.loads(json.dumps(plan))}
    fresh = make_net()
    transforms.apply_plan_(fresh, saved["plan"])
    fresh.load_state_dict(saved["state_dict"])
    print(
        f"restored from the plan: accuracy {accuracy(fresh, test_x, test_y):.3f} "
        f"(saved model {reference:.3f})"
    )

    # Deploy: plain spatial filters instead of the spectral parametrization, same outputs.
    net.eval()
    with torch.no_grad():
        before = net(test_x)
        transforms.bake_(net)
        print(f"baked: max output change {(net(test_x) - before).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
