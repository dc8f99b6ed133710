"""Benchmark band-limited FFT convolutions against ``F.conv1d`` / ``F.conv2d``.

For every layer shape and compression, the same inputs go through ``bandlimited_conv{1,2}d`` and
through the direct convolution in the same run, and the script reports the ratios
``ours / F.conv`` of

* forward time (under ``torch.no_grad``, i.e. inference),
* forward + backward time (gradients of input, weight and bias),
* memory of one training step: on CPU the bytes saved for backward (collected with
  :func:`torch.autograd.graph.saved_tensors_hooks`, one count per storage) plus the output; on
  CUDA the peak of ``torch.cuda.max_memory_allocated`` above the memory held before the step,

together with the *achieved* compression of the band. Timings come from
``torch.utils.benchmark.Timer.blocked_autorange`` (block size, warm-up, CUDA synchronisation,
statistics), run for ours and the reference in turn, round by round, and report the median of
the merged rounds: on a shared machine the load changes over a run, and
interleaving exposes both sides to the same load, so the ratio stays meaningful even when the
absolute times drift. Results are printed as a markdown table and written, with the machine
named, to ``<output>.md`` and ``<output>.json``.

Usage::

    python benchmarks/bench_conv.py                     # full CPU table (several minutes)
    python benchmarks/bench_conv.py --quick             # tiny shapes, a few seconds
    python benchmarks/bench_conv.py --device cuda --shapes resnet18 --threads 0
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils import benchmark

from lightning_spectral.functional import band_for, bandlimited_conv1d, bandlimited_conv2d

__all__ = [
    "SHAPES",
    "ConvShape",
    "machine_info",
    "main",
    "measure_shape",
    "run",
    "step_bytes",
    "time_interleaved",
]

COMPRESSIONS = (0.0, 0.25, 0.5, 0.75, 0.9)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "cpu"


@dataclass(frozen=True)
class ConvShape:
    """One convolution layer to benchmark.

    Attributes:
        name: unique label, e.g. ``"resnet18/64x32x32"``.
        ndim: 1 or 2 spatial dimensions.
        batch: batch size.
        in_channels: input channels.
        out_channels: output channels.
        size: spatial input size, ``(L,)`` or ``(H, W)``.
        kernel: kernel size per spatial dimension.
        stride: stride (same in every dimension).
        padding: int or ``"same"``, with the meaning of ``F.conv*``.
    """

    name: str
    ndim: int
    batch: int
    in_channels: int
    out_channels: int
    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: int = 1
    padding: int | str = 0

    def padded_size(self) -> tuple[int, ...]:
        """FFT size of the band-limited path: the zero-padded input size."""
        if self.padding == "same":
            return tuple(n + k - 1 for n, k in zip(self.size, self.kernel, strict=True))
        return tuple(n + 2 * int(self.padding) for n in self.size)


def _resnet18_cifar(batch: int) -> list[ConvShape]:
    return [
        ConvShape(f"resnet18/{c}x{n}x{n}", 2, batch, c, c, (n, n), (3, 3), 1, 1)
        for c, n in ((64, 32), (128, 16), (256, 8), (512, 4))
    ]


# The 7x7 stem runs at ImageNet size (224x224, stride 2, padding 3), where a 7x7 kernel is used in
# practice; batch 16 keeps one CPU step within seconds (a CIFAR-size stem would use a 3x3 kernel).
SHAPES: tuple[ConvShape, ...] = (
    *_resnet18_cifar(128),
    ConvShape("stem7x7/3x224x224", 2, 16, 3, 64, (224, 224), (7, 7), 2, 3),
    # FCN for time series (Wang et al. 2017): 128 (k=8), 256 (k=5), 128 (k=3) filters, batch 32.
    ConvShape("fcn/1-128-k8", 1, 32, 1, 128, (512,), (8,), 1, "same"),
    ConvShape("fcn/128-256-k5", 1, 32, 128, 256, (512,), (5,), 1, "same"),
    ConvShape("fcn/256-128-k3", 1, 32, 256, 128, (512,), (3,), 1, "same"),
    # Long 1D kernels, where FFT convolution pays off (batch 16: the direct k=255 convolution
    # alone takes seconds per step on 2 cores).
    ConvShape("long1d/64ch-k64", 1, 16, 64, 64, (512,), (64,), 1, "same"),
    ConvShape("long1d/64ch-k255", 1, 16, 64, 64, (512,), (255,), 1, "same"),
)

QUICK_SHAPES: tuple[ConvShape, ...] = (
    ConvShape("quick2d/8x12x12", 2, 2, 8, 8, (12, 12), (3, 3), 1, 1),
    ConvShape("quick2d-stride/3x16x16", 2, 2, 3, 8, (16, 16), (7, 7), 2, 3),
    ConvShape("quick1d/8ch-k16", 1, 2, 8, 8, (64,), (16,), 1, "same"),
)


@dataclass
class Row:
    """Measured figures of one (shape, compression) pair; times in milliseconds."""

    shape: str
    compression: float
    achieved: float
    ref_fwd_ms: float
    ours_fwd_ms: float
    ref_train_ms: float
    ours_train_ms: float
    ref_bytes: int
    ours_bytes: int
    ours_saved_bytes: int
    fwd_ratio: float = field(init=False)
    train_ratio: float = field(init=False)
    mem_ratio: float = field(init=False)

    def __post_init__(self) -> None:
        self.fwd_ratio = self.ours_fwd_ms / self.ref_fwd_ms
        self.train_ratio = self.ours_train_ms / self.ref_train_ms
        self.mem_ratio = self.ours_bytes / self.ref_bytes


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    device: torch.device,
    repeats: int,
    warmup: int,
    min_run_time: float = 0.05,
) -> dict[str, float]:
    """Median time (ms) of each callable, measured round by round in turn.

    Each round runs ``torch.utils.benchmark.Timer.blocked_autorange`` once per callable (it
    picks the block size, synchronises CUDA and uses the current thread count); the rounds'
    measurements are merged per callable and their median reported. Interleaving the rounds,
    rather than measuring one callable after the other, exposes every callable to the same
    load on a shared machine, so the ratios stay meaningful when absolute times drift.

    Args:
        fns: Callables to time, by name; called without arguments.
        device: Device the callables run on (CUDA is synchronised around every block).
        repeats: Interleaved rounds (at least 1).
        warmup: Untimed calls of every callable first (the timer warms up too).
        min_run_time: Seconds of measurement per callable and round.

    Returns:
        ``{name: median milliseconds per call}``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if min_run_time <= 0:
        raise ValueError(f"min_run_time must be > 0 seconds, got {min_run_time}")
    del device  # the Timer synchronises CUDA itself when it is available
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    timers = {
        key: benchmark.Timer(
            stmt="fn()", globals={"fn": fn}, label=key, num_threads=torch.get_num_threads()
        )
        for key, fn in fns.items()
    }
    rounds: dict[str, list[benchmark.Measurement]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, timer in timers.items():
            rounds[key].append(timer.blocked_autorange(min_run_time=min_run_time))
    medians = {}
    for key, measurements in rounds.items():
        (merged,) = benchmark.Measurement.merge(measurements)
        medians[key] = merged.median * 1e3
    return medians


def step_bytes(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[int, int]:
    """Memory of one training forward: ``(total, saved)`` in bytes.

    ``saved`` counts every storage autograd saves for backward once; on CPU ``total`` adds the
    output to it. On CUDA ``total`` is the peak allocation above the pre-step level over forward
    and backward, which also covers temporaries.
    """
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = fn()
    saved = sum(storages.values())
    if device.type == "cuda":
        out.backward(torch.ones_like(out))
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, saved
    return saved + out.numel() * out.element_size(), saved


def measure_shape(
    shape: ConvShape,
    compressions: Sequence[float],
    device: torch.device,
    repeats: int,
    warmup: int,
    min_run_time: float = 0.05,
) -> list[Row]:
    """Benchmark one layer shape at every compression against the direct convolution."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape.batch, shape.in_channels, *shape.size, generator=generator).to(device)
    weight = torch.randn(shape.out_channels, shape.in_channels, *shape.kernel, generator=generator)
    weight = (weight / math.sqrt(weight[0].numel())).to(device)
    bias = torch.randn(shape.out_channels, generator=generator).to(device)
    reference_op = F.conv1d if shape.ndim == 1 else F.conv2d
    ours_op = bandlimited_conv1d if shape.ndim == 1 else bandlimited_conv2d
    kwargs = {"stride": shape.stride, "padding": shape.padding}

    def forward(op: Callable[..., torch.Tensor], **extra: float) -> Callable[[], torch.Tensor]:
        def run_forward() -> torch.Tensor:
            with torch.no_grad():
                return op(x, weight, bias, **kwargs, **extra)

        return run_forward

    xg, wg, bg = (t.detach().clone().requires_grad_() for t in (x, weight, bias))
    grad_out = torch.randn_like(reference_op(x, weight, bias, **kwargs))

    def graph(op: Callable[..., torch.Tensor], **extra: float) -> Callable[[], torch.Tensor]:
        return lambda: op(xg, wg, bg, **kwargs, **extra)

    def train(op: Callable[..., torch.Tensor], **extra: float) -> Callable[[], None]:
        def run_train() -> None:
            xg.grad = wg.grad = bg.grad = None
            op(xg, wg, bg, **kwargs, **extra).backward(grad_out)

        return run_train

    ref_bytes, _ = step_bytes(graph(reference_op), device)
    rows = []
    for compression in compressions:
        achieved = band_for(shape.padded_size(), compression).compression
        times = time_interleaved(
            {
                "ref_fwd": forward(reference_op),
                "ours_fwd": forward(ours_op, compression=compression),
                "ref_train": train(reference_op),
                "ours_train": train(ours_op, compression=compression),
            },
            device,
            repeats,
            warmup,
            min_run_time,
        )
        ours_bytes, ours_saved = step_bytes(graph(ours_op, compression=compression), device)
        rows.append(
            Row(
                shape=shape.name,
                compression=compression,
                achieved=achieved,
                ref_fwd_ms=times["ref_fwd"],
                ours_fwd_ms=times["ours_fwd"],
                ref_train_ms=times["ref_train"],
                ours_train_ms=times["ours_train"],
                ref_bytes=ref_bytes,
                ours_bytes=ours_bytes,
                ours_saved_bytes=ours_saved,
            )
        )
    return rows


def machine_info(device: torch.device) -> dict[str, object]:
    """Where the numbers come from: CPU model, threads, torch version, GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, object] = {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def markdown_table(rows: Sequence[Row], info: dict[str, object]) -> str:
    """Ratios ``ours / F.conv`` (lower is better) with the reference's absolute figures."""
    lines = [
        "# Band-limited convolution vs direct convolution",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
        "Medians of interleaved rounds (`torch.utils.benchmark` `blocked_autorange` per "
        "variant and round, see `--repeats`); the machine is shared, compare ratios.",
        "",
        "Ratios are ours / `F.conv1d|conv2d` on the same inputs in the same run (< 1: ours is "
        "faster or smaller). `fwd`: forward under `no_grad`; `fwd+bwd`: forward and backward; "
        "`mem`: bytes saved for backward + output (CPU) or peak allocation of a step (CUDA).",
        "",
        "| shape | compression | achieved | fwd | fwd+bwd | mem | ref fwd ms | "
        "ref fwd+bwd ms | ref KiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.shape} | {row.compression:.2f} | {row.achieved:.3f} | "
            f"{row.fwd_ratio:.2f} | {row.train_ratio:.2f} | {row.mem_ratio:.2f} | "
            f"{row.ref_fwd_ms:.2f} | {row.ref_train_ms:.2f} | {row.ref_bytes / 2**10:.0f} |"
        )
    return "\n".join(lines) + "\n"


def run(
    shapes: Sequence[ConvShape],
    compressions: Sequence[float],
    device: torch.device,
    repeats: int,
    warmup: int,
    output: Path,
    min_run_time: float = 0.05,
) -> list[Row]:
    """Benchmark ``shapes``, print the table and write ``output`` ``.md`` and ``.json``."""
    info = machine_info(device)
    rows: list[Row] = []
    for index, shape in enumerate(shapes):
        shape_rows = measure_shape(shape, compressions, device, repeats, warmup, min_run_time)
        for row in shape_rows:
            print(
                f"{row.shape:24s} c={row.compression:.2f} (achieved {row.achieved:.3f}) "
                f"fwd x{row.fwd_ratio:.2f} fwd+bwd x{row.train_ratio:.2f} "
                f"mem x{row.mem_ratio:.2f}",
                flush=True,
            )
        rows.extend(shape_rows)
        # Rewrite the files after every shape: a long run that is cut off keeps what it measured.
        _write(
            rows,
            shapes,
            info,
            {"repeats": repeats, "warmup": warmup, "min_run_time_s": min_run_time},
            output,
            complete=index == len(shapes) - 1,
        )
    print(markdown_table(rows, info))
    return rows


def _write(
    rows: Sequence[Row],
    shapes: Sequence[ConvShape],
    info: dict[str, object],
    timing: dict[str, float],
    output: Path,
    complete: bool,
) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".md").write_text(markdown_table(rows, info), encoding="utf-8")
    payload = {
        "machine": info,
        **timing,
        "complete": complete,
        "shapes": [asdict(shape) for shape in shapes],
        "rows": [asdict(row) for row in rows],
    }
    output.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by this script and ``bench_gpu.py``: shape and compression selection,
    repeats and warm-up."""
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few repeats (smoke)")
    parser.add_argument(
        "--shapes", default="", help="comma-separated substrings; keep shapes whose name has one"
    )
    parser.add_argument(
        "--compressions",
        default=",".join(str(c) for c in COMPRESSIONS),
        help="comma-separated compressions in [0, 1)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (median)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds first")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--threads", type=int, default=2, help="torch CPU threads (0: leave torch's default)"
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=None,
        help="seconds of blocked_autorange per variant and round (default 0.05, quick 0.01)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results path without suffix (default benchmarks/results/<device>[-quick])",
    )
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    if args.shapes:
        wanted = [part.strip() for part in args.shapes.split(",") if part.strip()]
        shapes = tuple(s for s in shapes if any(part in s.name for part in wanted))
        if not shapes:
            parser.error(f"--shapes {args.shapes!r} matches no shape")
    compressions = [float(c) for c in args.compressions.split(",")]
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else 1
    output = args.output
    if output is None:
        output = DEFAULT_OUTPUT.with_name(device.type + ("-quick" if args.quick else ""))
    min_run_time = args.min_run_time
    if min_run_time is None:
        min_run_time = 0.01 if args.quick else 0.05
    run(shapes, compressions, device, repeats, warmup, output, min_run_time)
    return 0


if __name__ == "__main__":
    sys.exit(main())
