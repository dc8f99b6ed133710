"""CUDA benchmark of the band-limited convolution backends against cuDNN and fft-conv-pytorch.

For every layer shape of the CPU benchmark (``bench_conv.SHAPES``) and every compression, the same
inputs go through

* ``cudnn``: ``F.conv1d`` / ``F.conv2d`` with ``torch.backends.cudnn.benchmark = True``,
* ``torch``: our band-limited convolution on the torch path (``use_backend("torch")``),
* ``triton``: the same with the Triton channel contraction (``use_backend("triton")``),
* ``triton-gauss``: the Triton contraction in its 3-multiplication (Gauss) form, to choose the
  kernel's default from measurements,
* ``fft-conv-pytorch``: the peer FFT convolution, when it is importable,

measuring forward time (under ``no_grad``) and forward + backward time (gradients of input, weight
and bias) with ``torch.utils.benchmark.Timer.blocked_autorange`` after warm-up (which also
compiles the Triton kernels and lets cuDNN pick its algorithms; the timer synchronises CUDA
around each block of calls), and the peak CUDA allocation of one training step above the memory
held before it. A whole CIFAR ResNet-18 training step at batch 128 (``lightning_spectral.models``,
every convolution band-limited with ``transforms.band_limit_``) gives time and peak memory per
compression. The issue's targets are checked from the measured rows.

Results are printed and written as markdown and JSON, with the device name and the torch, Triton
and CUDA versions, to ``benchmarks/results/gpu-<device>.{md,json}`` (rewritten after every shape,
so an interrupted run leaves what it measured). ``--device cpu`` runs the same code on the CPU,
with the Triton methods under the interpreter (``TRITON_INTERPRET=1``) and no memory figures:
a dry run of the script (``benchmarks/gpu_check.sh --dry-run``), not a measurement.

Usage::

    python benchmarks/bench_gpu.py                  # full table (needs a CUDA device)
    python benchmarks/bench_gpu.py --quick          # tiny shapes, a smoke run
    python benchmarks/bench_gpu.py --shapes resnet18 --compressions 0.5 --no-resnet
    python benchmarks/bench_gpu.py --no-layers --compressions 0,0.5,0.9   # ResNet-18 step only
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils import benchmark

# Shapes, compressions and machine description are shared with the CPU benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import (
    QUICK_SHAPES,
    SHAPES,
    ConvShape,
    add_common_arguments,
    machine_info,
)

from lightning_spectral import kernels
from lightning_spectral.functional import band_for
from lightning_spectral.functional import conv as functional_conv

__all__ = [
    "METHODS",
    "Measurement",
    "StepMeasurement",
    "check_targets",
    "gpu_info",
    "layer_inputs",
    "main",
    "markdown_report",
    "time_ms",
]

METHODS: tuple[str, ...] = ("cudnn", "torch", "triton", "triton-gauss", "fft-conv-pytorch")
# Methods whose operator does not depend on the compression (measured once per shape).
UNCOMPRESSED = ("cudnn", "fft-conv-pytorch")
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_COMPRESSION = 0.5
MIN_RUN_TIME = 0.5  # seconds of timed calls per measurement (blocked_autorange)
# `--device cpu` (a dry run of the code, Triton interpreted) uses these tiny stand-ins of the
# groups of `SHAPES`: a 3x3 layer, a strided 7x7 and a 1D kernel.
DRY_SHAPES: tuple[ConvShape, ...] = (
    ConvShape("dry/3x3", 2, 1, 2, 2, (6, 6), (3, 3), 1, 1),
    ConvShape("dry/7x7-stride2", 2, 1, 2, 2, (9, 9), (7, 7), 2, 3),
    ConvShape("dry/1d-k9", 1, 1, 2, 2, (24,), (9,), 1, "same"),
)


@dataclass
class Measurement:
    """One method on one layer shape at one compression; times in ms, memory in MiB.

    ``compression`` and ``achieved`` are ``None`` for the methods in :data:`UNCOMPRESSED`;
    ``peak_mib`` is ``None`` off CUDA (not measured).
    """

    shape: str
    method: str
    compression: float | None
    achieved: float | None
    fwd_ms: float
    train_ms: float
    peak_mib: float | None


@dataclass
class StepMeasurement:
    """One ResNet-18 training step: ``method`` is ``cudnn`` or a backend, ms and MiB."""

    batch: int
    method: str
    compression: float | None
    step_ms: float
    peak_mib: float | None


# ------------------------------------------------------------------------------------------
# Measuring (CUDA only)
# ------------------------------------------------------------------------------------------


def time_ms(fn: Callable[[], object], warmup: int, min_run_time: float) -> float:
    """Median time of one call of ``fn`` in ms, after ``warmup`` untimed calls.

    ``torch.utils.benchmark.Timer.blocked_autorange`` picks how many calls make a block, times
    blocks for at least ``min_run_time`` seconds and synchronises CUDA around each block, so
    asynchronous kernel launches are timed to completion; the median is over blocks.
    """
    for _ in range(warmup):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn})
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def peak_mib(fn: Callable[[], object], device: torch.device) -> float | None:
    """Peak CUDA allocation of one call of ``fn`` above what was allocated before, in MiB.

    ``None`` (not measured) off CUDA, after calling ``fn`` once all the same.
    """
    if device.type != "cuda":
        fn()
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def _fft_conv() -> Callable[..., torch.Tensor] | None:
    try:
        from fft_conv_pytorch import fft_conv
    except Exception:  # not installed, or broken: the column is left out
        return None
    return fft_conv


def _gauss_conv(ndim: int) -> Callable[..., torch.Tensor]:
    """Our convolution with the Gauss form of the Triton contraction (through the hook)."""
    from lightning_spectral.kernels.contract_triton import triton_contract

    contract = functools.partial(triton_contract, gauss=True)

    def conv(x, weight, bias, stride, padding, dilation, groups, compression):
        spec = functional_conv.conv_spec(
            ndim, tuple(weight.shape[2:]), stride, padding, dilation, groups
        )
        return functional_conv.bandlimited_conv(
            x, weight, bias, spec, compression, contract=contract
        )

    return conv


@contextlib.contextmanager
def _backend(method: str) -> Iterator[None]:
    backend = {"torch": "torch", "triton": "triton"}.get(method)
    with kernels.use_backend(backend) if backend else contextlib.nullcontext():
        yield


def _operator(method: str, ndim: int) -> Callable[..., torch.Tensor] | None:
    """``op(x, weight, bias, stride, padding, dilation, groups, compression)`` of a method."""
    if method == "cudnn":
        conv = F.conv1d if ndim == 1 else F.conv2d
        return lambda x, w, b, s, p, d, g, c: conv(x, w, b, s, p, d, g)
    if method == "fft-conv-pytorch":
        fft_conv = _fft_conv()
        if fft_conv is None:
            return None
        return lambda x, w, b, s, p, d, g, c: fft_conv(
            x, w, bias=b, padding=p, stride=s, dilation=d, groups=g
        )
    if method == "triton-gauss":
        return _gauss_conv(ndim)
    return kernels.bandlimited_conv1d if ndim == 1 else kernels.bandlimited_conv2d


def layer_inputs(
    shape: ConvShape, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded ``(input, weight, bias)`` of a layer shape on ``device`` (weights scaled by the
    fan-in, so every shape's outputs have unit scale)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape.batch, shape.in_channels, *shape.size, generator=generator)
    weight = torch.randn(shape.out_channels, shape.in_channels, *shape.kernel, generator=generator)
    weight = weight / math.sqrt(weight[0].numel())
    bias = torch.randn(shape.out_channels, generator=generator)
    return tuple(t.to(device) for t in (x, weight, bias))


def measure_layer(
    shape: ConvShape,
    compressions: Sequence[float],
    warmup: int,
    min_run_time: float,
    device: torch.device | str = "cuda",
) -> list[Measurement]:
    """Every method on one layer shape (uncompressed methods once, the others per compression)."""
    device = torch.device(device)
    x, weight, bias = layer_inputs(shape, device)
    xg, wg, bg = (t.detach().clone().requires_grad_() for t in (x, weight, bias))
    args = (shape.stride, shape.padding, 1, 1)
    rows = []
    for method in METHODS:
        op = _operator(method, shape.ndim)
        if op is None:
            continue
        for compression in [None] if method in UNCOMPRESSED else compressions:
            c = 0.0 if compression is None else compression

            def forward(op=op, c=c) -> None:
                with torch.no_grad():
                    op(x, weight, bias, *args, c)

            def train(op=op, c=c) -> None:
                xg.grad = wg.grad = bg.grad = None
                out = op(xg, wg, bg, *args, c)
                out.backward(torch.ones_like(out))

            with _backend(method):
                fwd = time_ms(forward, warmup, min_run_time)
                step = time_ms(train, warmup, min_run_time)
                peak = peak_mib(train, device)
            achieved = None
            if compression is not None:
                achieved = band_for(shape.padded_size(), compression).compression
            rows.append(Measurement(shape.name, method, compression, achieved, fwd, step, peak))
            print(
                f"{shape.name:24s} {method:17s} c={'-' if compression is None else compression}"
                f" fwd {fwd:8.3f} ms  fwd+bwd {step:8.3f} ms  peak {_fmt(peak, 1):>8s} MiB",
                flush=True,
            )
    return rows


def measure_resnet18(
    compressions: Sequence[float],
    batch: int,
    warmup: int,
    min_run_time: float,
    device: torch.device | str = "cuda",
    backends: Sequence[str] = ("torch", "triton"),
    width: int = 64,
) -> list[StepMeasurement]:
    """A CIFAR ResNet-18 SGD step at ``batch``: cuDNN, then band-limited per backend/compression.

    ``width`` is the stem's channel count (64 in the paper's model; smaller for dry runs).

    The band-limited layers are forced onto the FFT path even where the band is full (layers
    otherwise use the direct convolution there), so compression 0 measures our operator.
    """
    from lightning_spectral.models import ResNet18
    from lightning_spectral.transforms import band_limit_

    device = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, 32, 32, generator=generator).to(device)
    labels = torch.randint(0, 10, (batch,), generator=generator).to(device)
    configs: list[tuple[str, float | None]] = [("cudnn", None)]
    configs += [(backend, c) for backend in backends for c in compressions]
    rows = []
    for method, compression in configs:
        torch.manual_seed(0)
        model = ResNet18(num_classes=10, width=width).to(device)
        if compression is not None:
            band_limit_(model, compression=compression)
            for module in model.modules():
                if hasattr(module, "direct_full_band"):
                    module.direct_full_band = False
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(model=model, optimizer=optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()

        with _backend(method):
            step_ms = time_ms(step, warmup, min_run_time)
            peak = peak_mib(step, device)
        rows.append(StepMeasurement(batch, method, compression, step_ms, peak))
        print(
            f"resnet18 step {method:7s} c={'-' if compression is None else compression} "
            f"{step_ms:8.2f} ms  peak {_fmt(peak, 1):>8s} MiB",
            flush=True,
        )
        del model, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def gpu_info(device: torch.device | str = "cuda") -> dict[str, object]:
    """Device name and software versions, added to the CPU benchmark's machine description."""
    device = torch.device(device)
    info = machine_info(device)
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["tf32 matmul"] = torch.backends.cuda.matmul.allow_tf32
        info["tf32 cudnn"] = torch.backends.cudnn.allow_tf32
    else:
        info["note"] = "dry run on the CPU (Triton interpreted): not a measurement"
    try:
        import triton

        info["triton"] = triton.__version__
    except Exception as error:
        info["triton"] = f"unavailable ({type(error).__name__})"
    fft_conv = _fft_conv()
    info["fft-conv-pytorch"] = "importable" if fft_conv is not None else "not importable"
    return info


# ------------------------------------------------------------------------------------------
# Report (pure data: runs and is tested without a GPU)
# ------------------------------------------------------------------------------------------


def _lookup(
    rows: Sequence[Measurement], shape: str, method: str, compression: float | None
) -> Measurement | None:
    for row in rows:
        same_compression = method in UNCOMPRESSED or row.compression == compression
        if row.shape == shape and row.method == method and same_compression:
            return row
    return None


def _train_ratio(num: Measurement | None, den: Measurement | None) -> float | None:
    """``num.train_ms / den.train_ms``, or ``None`` when either was not measured."""
    return None if num is None or den is None else num.train_ms / den.train_ms


def _is_long_1d(shape: ConvShape) -> bool:
    return shape.ndim == 1 and shape.kernel[0] >= 64


def _is_7x7(shape: ConvShape) -> bool:
    return shape.ndim == 2 and tuple(shape.kernel) == (7, 7)


def _is_3x3(shape: ConvShape) -> bool:
    return shape.ndim == 2 and tuple(shape.kernel) == (3, 3)


def check_targets(
    rows: Sequence[Measurement],
    shapes: Sequence[ConvShape],
    compression: float = TARGET_COMPRESSION,
) -> list[tuple[str, str, str, float | None]]:
    """The issue's per-layer targets at ``compression``, forward + backward.

    Returns:
        ``(target, shape, verdict, ratio)`` with verdict ``"pass"``, ``"FAIL"`` or ``"n/a"``
        (a method was not measured); ``ratio`` is the measured quantity the target bounds.
    """
    checks: list[tuple[str, str, str, float | None]] = []

    def add(target: str, shape: str, ratio: float | None, passed: Callable[[float], bool]):
        verdict = "n/a" if ratio is None else ("pass" if passed(ratio) else "FAIL")
        checks.append((target, shape, verdict, ratio))

    for shape in shapes:
        triton_row = _lookup(rows, shape.name, "triton", compression)
        torch_row = _lookup(rows, shape.name, "torch", compression)
        cudnn_row = _lookup(rows, shape.name, "cudnn", None)
        peer_row = _lookup(rows, shape.name, "fft-conv-pytorch", None)
        speedup = _train_ratio(torch_row, triton_row)
        add("triton >= 1.5x faster than torch path", shape.name, speedup, lambda r: r >= 1.5)
        peer = _train_ratio(peer_row, triton_row)
        add(">= 3x faster than fft-conv-pytorch", shape.name, peer, lambda r: r >= 3.0)
        versus_cudnn = _train_ratio(triton_row, cudnn_row)
        if _is_3x3(shape):
            add("3x3 within 2x of cuDNN", shape.name, versus_cudnn, lambda r: r <= 2.0)
        if _is_7x7(shape) or _is_long_1d(shape):
            add("faster than cuDNN", shape.name, versus_cudnn, lambda r: r < 1.0)
    return checks


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_report(
    rows: Sequence[Measurement],
    steps: Sequence[StepMeasurement],
    shapes: Sequence[ConvShape],
    info: dict[str, object],
) -> str:
    """Markdown: per-layer times and memory, the ResNet-18 step curve and the target checks."""
    lines = [
        "# Band-limited convolution on CUDA: cuDNN, torch path, Triton path, fft-conv-pytorch",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
        "Times are medians over blocks of calls (`torch.utils.benchmark`, CUDA synchronised) after "
        "warm-up, in ms; `fwd` under `no_grad`, "
        "`fwd+bwd` with gradients of input, weight and bias. `peak` is the peak allocation of one "
        "training step above the memory held before it, in MiB. cuDNN and fft-conv-pytorch do not "
        "depend on the compression: their figures repeat on every row of a shape. "
        "`speedup` = torch path / Triton path (fwd+bwd); `vs cuDNN` = Triton / cuDNN (fwd+bwd, "
        "< 1: ours is faster).",
        "",
        "| shape | compression | achieved | method | fwd ms | fwd+bwd ms | peak MiB |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for shape in shapes:
        compressions = sorted(
            {r.compression for r in rows if r.shape == shape.name and r.compression is not None}
        )
        for compression in compressions:
            for method in METHODS:
                row = _lookup(rows, shape.name, method, compression)
                if row is None:
                    continue
                achieved = next(
                    r.achieved
                    for r in rows
                    if r.shape == shape.name and r.compression == compression
                )
                lines.append(
                    f"| {shape.name} | {compression:.2f} | {achieved:.3f} | {method} | "
                    f"{row.fwd_ms:.3f} | {row.train_ms:.3f} | {_fmt(row.peak_mib, 1)} |"
                )
    lines += [
        "",
        "## Ratios (fwd+bwd)",
        "",
        "| shape | compression | speedup (torch / triton) | triton / cuDNN | "
        "fft-conv-pytorch / triton | gauss / triton |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for shape in shapes:
        cudnn_row = _lookup(rows, shape.name, "cudnn", None)
        peer_row = _lookup(rows, shape.name, "fft-conv-pytorch", None)
        for row in rows:
            if row.shape != shape.name or row.method != "triton":
                continue
            torch_row = _lookup(rows, shape.name, "torch", row.compression)
            gauss_row = _lookup(rows, shape.name, "triton-gauss", row.compression)
            lines.append(
                f"| {shape.name} | {row.compression:.2f} | "
                f"{_fmt(_train_ratio(torch_row, row), 2)} | "
                f"{_fmt(_train_ratio(row, cudnn_row), 2)} | "
                f"{_fmt(_train_ratio(peer_row, row), 2)} | "
                f"{_fmt(_train_ratio(gauss_row, row), 2)} |"
            )
    if steps:
        lines += [
            "",
            "## CIFAR ResNet-18 training step (SGD; every convolution band-limited)",
            "",
            "| batch | method | compression | step ms | peak MiB |",
            "|---:|---|---:|---:|---:|",
        ]
        for step in steps:
            compression = "-" if step.compression is None else f"{step.compression:.2f}"
            lines.append(
                f"| {step.batch} | {step.method} | {compression} | {step.step_ms:.2f} | "
                f"{_fmt(step.peak_mib, 1)} |"
            )
    lines += [
        "",
        f"## Targets (compression {TARGET_COMPRESSION}, fwd+bwd)",
        "",
        "| target | shape | verdict | measured ratio |",
        "|---|---|---|---:|",
    ]
    for target, shape_name, verdict, value in check_targets(rows, shapes):
        lines.append(f"| {target} | {shape_name} | {verdict} | {_fmt(value, 2)} |")
    return "\n".join(lines) + "\n"


def write_results(
    rows: Sequence[Measurement],
    steps: Sequence[StepMeasurement],
    shapes: Sequence[ConvShape],
    info: dict[str, object],
    output: Path,
) -> str:
    """Write ``output.md`` and ``output.json``; returns the markdown."""
    report = markdown_report(rows, steps, shapes, info)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".md").write_text(report, encoding="utf-8")
    payload = {
        "machine": info,
        "shapes": [asdict(shape) for shape in shapes],
        "layers": [asdict(row) for row in rows],
        "resnet18_step": [asdict(step) for step in steps],
        "targets": [
            {"target": t, "shape": s, "verdict": v, "ratio": r}
            for t, s, v, r in check_targets(rows, shapes)
        ],
    }
    output.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return report


def default_output(device_name: str, quick: bool) -> Path:
    """``results/gpu-<device>[-quick]``: one file per device so H100 and H200 runs coexist."""
    slug = re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-") or "cuda"
    return RESULTS / f"gpu-{slug}{'-quick' if quick else ''}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--no-resnet", action="store_true", help="skip the ResNet-18 step")
    parser.add_argument("--no-layers", action="store_true", help="only the ResNet-18 step")
    parser.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cpu: a dry run of the same code on DRY_SHAPES (Triton interpreted, no memory "
        "figures)",
    )
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=None,
        help=f"seconds of timed calls per figure (default {MIN_RUN_TIME}; --quick 0.05)",
    )
    parser.add_argument("--resnet-batch", type=int, default=None, help="default 128 (--quick 8)")
    parser.add_argument("--resnet-width", type=int, default=64, help="ResNet-18 stem channels")
    parser.add_argument(
        "--resnet-backends",
        default="torch,triton",
        help="comma-separated backends of the band-limited ResNet-18 step (cuDNN always runs)",
    )
    parser.add_argument(
        "--tf32",
        choices=("on", "off"),
        default="on",
        help="TF32 for float32 matmuls (torch path GEMM, Triton tl.dot); cuDNN convolutions use "
        "TF32 by default, so 'on' compares like with like",
    )
    parser.add_argument("--output", type=Path, default=None, help="results path without suffix")
    args = parser.parse_args(argv)
    if args.repeats is not None:
        parser.error("--repeats does not apply here: timing is by --min-run-time")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "bench_gpu.py needs a CUDA device, and torch.cuda.is_available() is False on this "
            "machine; benchmarks/bench_conv.py measures the CPU path (--device cpu is a dry run)."
        )
    if device.type == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"  # the forced Triton methods run interpreted
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
    shapes: Sequence[ConvShape] = QUICK_SHAPES if args.quick else SHAPES
    if device.type == "cpu":
        shapes = DRY_SHAPES
    if args.shapes:
        wanted = [part.strip() for part in args.shapes.split(",") if part.strip()]
        shapes = tuple(s for s in shapes if any(part in s.name for part in wanted))
        if not shapes:
            parser.error(f"--shapes {args.shapes!r} matches no shape")
    if args.no_layers:
        if args.no_resnet:
            parser.error("--no-layers with --no-resnet leaves nothing to measure")
        shapes = ()
    compressions = [float(c) for c in args.compressions.split(",")]
    backends = tuple(part.strip() for part in args.resnet_backends.split(",") if part.strip())
    if not backends or any(b not in ("torch", "triton") for b in backends):
        parser.error(
            f"--resnet-backends must list torch and/or triton, got {args.resnet_backends!r}"
        )
    min_run_time = args.min_run_time
    if min_run_time is None:
        min_run_time = 0.05 if args.quick else MIN_RUN_TIME
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 5)
    info = gpu_info(device)
    output = args.output or default_output(str(info.get("gpu", args.device)), args.quick)
    rows: list[Measurement] = []
    steps: list[StepMeasurement] = []
    for shape in shapes:
        rows.extend(measure_layer(shape, compressions, warmup, min_run_time, device))
        write_results(rows, steps, shapes, info, output)  # partial results as they come
    if not args.no_resnet:
        batch = args.resnet_batch or (8 if args.quick else 128)
        steps = measure_resnet18(
            compressions, batch, warmup, min_run_time, device, backends, args.resnet_width
        )
    print(write_results(rows, steps, shapes, info, output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
