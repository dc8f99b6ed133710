"""Experiment 7 (Dziedzic et al. 2019, Fig. 7): time per epoch and memory vs compression, on CPU.

For each compression, a freshly initialised network (same seed) is band-limited with
``lightning_spectral.transforms.band_limit_`` and trained for one epoch (Adam) in a plain
PyTorch loop; we record the wall time of the epoch (best of ``--repeats``, after a short
warm-up) and the memory a training step keeps for backward.

**Memory measure.** CPU PyTorch has no peak-allocation counter like
``torch.cuda.max_memory_allocated``; ``tracemalloc`` does not see ATen's C++ allocations and
the process RSS mostly reflects allocator caching and other processes' pressure. What
band-limiting changes is the activation memory: the tensors autograd saves for backward (the
kept input spectra instead of the full ones). We count them exactly with
``torch.autograd.graph.saved_tensors_hooks`` during the forward of one training batch: the
bytes of the distinct storages saved, excluding the parameters (identical in every setting).
This is deterministic and is the part of the peak training memory the method controls; the
layers' own accounting (``saved_spectrum_bytes``: kept vs full one-sided input spectra) is
reported next to it.

Settings: "direct" is the plain ``nn.Conv`` network (compression 0 dispatches to it);
"fft 0%" forces the FFT path at full band (``direct_full_band = False``), the paper's
"full-spectra" reference against which it normalises (100%).
"""

from __future__ import annotations

import time
from typing import Any

import _common
import numpy as np
import torch
import torch.nn.functional as F

NAME = "resource_use"
COMPRESSIONS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
MODELS = {
    # dataset, network width, batch size
    "mnist": ("mnist", 16, 64),
    "ucr_acsf1": ("ACSF1", 64, 16),
}


def _network(dataset: str, dm: Any, width: int) -> torch.nn.Module:
    from lightning_spectral.models import build_network

    name, kwargs = _common.network_for(dataset, dm, width)
    return build_network(name, **kwargs)


def saved_activation_bytes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of distinct non-parameter storages autograd saves for backward in one step."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in params:
            seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(seen.values())


def train_epoch(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    seed: int,
    limit: int | None = None,
) -> float:
    """One epoch of Adam on ``(x, y)`` (seeded order); returns the wall time in seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(y.numel(), generator=torch.Generator().manual_seed(seed))
    batches = list(order.split(batch_size))[:limit]
    model.train()
    started = time.perf_counter()
    for index in batches:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()
    return time.perf_counter() - started


def measure(args: Any, key: str) -> dict[str, Any]:
    from lightning_spectral import transforms

    dataset, width, batch_size = MODELS[key]
    dm = _common.make_datamodule(dataset, batch_size)
    x, y = dm.train_set.inputs, dm.train_set.targets
    limit = 1 if args.smoke else None
    settings: list[tuple[str, float | None]] = [("direct", None), ("fft 0%", 0.0)]
    settings += [(f"{100 * c:g}%", c) for c in args.compressions if c > 0]
    rows = []
    for label, compression in settings:
        _common.seed_everything(args.seed)
        model = _network(dataset, dm, width)
        achieved, kept, full = 0.0, 0, 0
        if compression is not None:
            transforms.band_limit_(model, compression=compression)
            for _, m in transforms.spectral_modules(model):
                m.direct_full_band = False
        # Copies: a slice would keep (and count) the whole dataset's storage.
        batch_x, batch_y = x[:batch_size].clone(), y[:batch_size].clone()
        saved = saved_activation_bytes(model, batch_x, batch_y)
        layers = transforms.spectral_modules(model)
        if layers:
            achieved = float(np.mean([m.band(training=True).compression for _, m in layers]))
            for _, m in layers:
                k, f = m.saved_spectrum_bytes(batch_size)
                kept, full = kept + k, full + f
        train_epoch(model, x, y, batch_size, args.seed, limit=1 if args.smoke else 3)  # warm-up
        times = [
            train_epoch(model, x, y, batch_size, args.seed + r, limit=limit)
            for r in range(args.repeats)
        ]
        rows.append(
            {
                "setting": label,
                "compression": compression,
                "achieved_compression": achieved,
                "epoch_time_s": min(times),
                "epoch_times_s": times,
                "saved_activation_bytes": saved,
                "kept_spectrum_bytes": kept,
                "full_spectrum_bytes": full,
            }
        )
        print(
            f"[{key}] {label}: {min(times):.2f}s/epoch, saved {saved / 2**20:.2f} MiB", flush=True
        )
    reference = next(r for r in rows if r["setting"] == "fft 0%")
    for r in rows:
        r["time_vs_fft_full_%"] = 100 * r["epoch_time_s"] / reference["epoch_time_s"]
        r["memory_vs_fft_full_%"] = (
            100 * r["saved_activation_bytes"] / reference["saved_activation_bytes"]
        )
    return {
        "dataset": dataset,
        "width": width,
        "batch_size": batch_size,
        "train_samples": int(y.numel()),
        "input_shape": list(x.shape[1:]),
        "rows": rows,
    }


def plot(results: dict[str, Any], args: Any) -> None:
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(5.4 * len(results), 4), squeeze=False)
    for ax, res in zip(axes[0], results.values(), strict=True):
        rows = [r for r in res["rows"] if r["compression"] is not None]
        direct = next(r for r in res["rows"] if r["setting"] == "direct")
        full = next(r for r in rows if r["compression"] == 0)
        c = [100 * r["achieved_compression"] for r in rows]
        ax.plot(c, [r["time_vs_fft_full_%"] for r in rows], "o-", label="time per epoch")
        ax.plot(
            c,
            [r["memory_vs_fft_full_%"] for r in rows],
            "s-",
            label="activation memory saved for backward",
        )
        ax.axhline(
            direct["time_vs_fft_full_%"], color="C0", ls=":", label="time, direct nn.Conv (no FFT)"
        )
        ax.axhline(
            direct["memory_vs_fft_full_%"], color="C1", ls=":", label="memory, direct nn.Conv"
        )
        ax.set_xlabel("compression (%) (achieved, mean over layers)")
        ax.set_ylabel("% of the full-spectrum FFT model")
        shape = "x".join(map(str, res["input_shape"]))
        ax.set_title(
            f"{res['dataset']} ({shape}), width {res['width']}, batch {res['batch_size']}\n"
            f"full-spectrum FFT: {full['epoch_time_s']:.1f} s/epoch; "
            f"direct: {direct['epoch_time_s']:.1f} s/epoch",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Resource use vs compression (CPU, {torch.get_num_threads()} thread(s))", fontsize=11
    )
    fig.tight_layout()
    _common.save_figure(fig, args, NAME)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _common.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--compressions", type=_common.float_list, default=COMPRESSIONS)
    p.add_argument("--repeats", type=int, default=2, help="epochs timed; the best is kept")
    # One seed, not --seeds: time and memory per epoch do not depend on the weights drawn.
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.smoke:
        args.compressions, args.repeats = [0.5], 1
    _common.prepare(args)
    started = time.perf_counter()
    results = {key: measure(args, key) for key in args.models}
    plot(results, args)
    _common.write_json(args, NAME, results, started)
    return results


if __name__ == "__main__":
    main()
