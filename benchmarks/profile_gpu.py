"""Where a band-limited layer's time goes on CUDA: kernels by kind, launches, GPU busy share.

``bench_gpu.py`` times whole layers; this script explains its figures. For each selected layer
shape (``bench_conv.SHAPES``) and method (cuDNN, our torch path, our Triton path) it profiles
``--steps`` forward + backward steps with ``torch.profiler`` after warm-up, and sorts the device
kernels into the Triton channel contraction (``_cbmm_kernel``), GEMMs (cuBLAS and cuDNN: the
DFT matrices of short axes, the torch path's channel contraction, cuDNN's convolutions), FFTs
(cuFFT) and the rest (padding, slicing, casts, reductions). Per step it reports the wall time
(timed separately, without the profiler), the summed kernel time, their ratio (how busy the GPU
is: far below 100% means the step is bound by host work and launches, not by the kernels), the
number of launches, and the kernel time of each kind.

The two paths run the same kernels apart from the channel contraction, so the torch path's
contraction is its kernel time minus what the Triton path spends besides ``_cbmm_kernel``; the
last table compares that with the Triton kernel.

Usage::

    python benchmarks/profile_gpu.py --shapes resnet18 --compression 0.5 --output OUT/profile
    python benchmarks/profile_gpu.py --device cpu --shapes dry --output /tmp/profile  # dry run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import SHAPES, ConvShape
from bench_gpu import DRY_SHAPES, _backend, _operator, gpu_info, layer_inputs

__all__ = ["Profile", "contraction_rows", "kernel_kind", "main", "profile_layer"]

METHODS = ("cudnn", "torch", "triton")
# cuBLAS / CUTLASS / cuDNN GEMM kernel names.
_GEMM_MARKERS = ("gemm", "gemv", "cutlass", "xmma")
_KINDS = ("contraction", "gemm", "fft", "other")


@dataclass
class Profile:
    """One method on one layer shape: per-step figures, times in ms."""

    shape: str
    method: str
    compression: float
    wall_ms: float
    kernel_ms: float
    launches: float
    contraction_ms: float
    gemm_ms: float
    fft_ms: float
    other_ms: float

    @property
    def busy(self) -> float:
        return self.kernel_ms / self.wall_ms if self.wall_ms else math.nan


def kernel_kind(name: str) -> str:
    """``contraction`` (Triton), ``gemm``, ``fft`` or ``other`` for a device kernel's name.

    >>> [kernel_kind(name) for name in ("_cbmm_kernel", "sm90_xmma_gemm_f32", "regular_fft")]
    ['contraction', 'gemm', 'fft']
    """
    lowered = name.lower()
    if "_cbmm_kernel" in lowered:
        return "contraction"
    if any(marker in lowered for marker in _GEMM_MARKERS):
        return "gemm"
    if "fft" in lowered:
        return "fft"
    return "other"


def profile_layer(
    shape: ConvShape, method: str, compression: float, steps: int, device: torch.device
) -> Profile:
    """Profile ``steps`` forward + backward steps of ``method`` on ``shape``."""
    x, weight, bias = (t.requires_grad_() for t in layer_inputs(shape, device))
    op = _operator(method, shape.ndim)
    args = (shape.stride, shape.padding, 1, 1, compression)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> None:
        x.grad = weight.grad = bias.grad = None
        out = op(x, weight, bias, *args)
        out.backward(torch.ones_like(out))

    with _backend(method):
        for _ in range(3):  # compile, pick algorithms, fill caches
            step()
        sync()
        begin = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        wall = (time.perf_counter() - begin) * 1e3 / steps
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                step()
            sync()
    kinds = dict.fromkeys(_KINDS, 0.0)
    launches = 0
    for event in prof.events():
        if event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        kinds[kernel_kind(event.name)] += event.device_time_total / 1e3  # us -> ms
        launches += 1
    total = sum(kinds.values())
    return Profile(
        shape.name,
        method,
        compression,
        wall,
        total / steps,
        launches / steps,
        *(kinds[kind] / steps for kind in _KINDS),
    )


def contraction_rows(rows: Sequence[Profile]) -> list[tuple[str, float, float, float]]:
    """Per shape with both paths: ``(shape, torch path's contraction ms, Triton's ms, ratio)``.

    The torch path's contraction is its kernel time minus the Triton path's kernels other than
    ``_cbmm_kernel`` (the kernels both paths share); ratio > 1: the Triton kernel is faster.
    """
    pairs = {(r.shape, r.method): r for r in rows}
    out = []
    for shape in dict.fromkeys(r.shape for r in rows):
        ours, theirs = pairs.get((shape, "triton")), pairs.get((shape, "torch"))
        if ours is None or theirs is None or ours.contraction_ms <= 0:
            continue
        shared = ours.kernel_ms - ours.contraction_ms
        torch_contraction = theirs.kernel_ms - shared
        out.append(
            (shape, torch_contraction, ours.contraction_ms, torch_contraction / ours.contraction_ms)
        )
    return out


def markdown(rows: Sequence[Profile], machine: str) -> str:
    lines = [
        "# Where the time goes: one band-limited layer's forward + backward on CUDA",
        "",
        f"Machine: {machine}",
        "",
        "Per step, ms. `kernels` is the summed device-kernel time, `busy` = kernels / wall "
        "(far below 100%: bound by host work and launches). `contraction` is the Triton "
        "`_cbmm_kernel`; `gemm` the cuBLAS/cuDNN GEMMs (DFT matrices of short axes, the torch "
        "path's channel contraction, cuDNN's convolutions).",
        "",
        "| shape | method | compression | wall | kernels | busy | launches | contraction "
        "| gemm | fft | other |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.shape} | {r.method} | {r.compression:.2f} | {r.wall_ms:.3f} | "
            f"{r.kernel_ms:.3f} | {100 * r.busy:.0f}% | {r.launches:.0f} | "
            f"{r.contraction_ms:.3f} | {r.gemm_ms:.3f} | {r.fft_ms:.3f} | {r.other_ms:.3f} |"
        )
    contractions = contraction_rows(rows)
    if contractions:
        lines += [
            "",
            "## The channel contraction alone",
            "",
            "The torch path's contraction is its kernel time minus the kernels the Triton path "
            "runs besides `_cbmm_kernel` (both paths share them). Ratio > 1: Triton faster.",
            "",
            "| shape | torch path ms | Triton kernel ms | ratio |",
            "|---|---:|---:|---:|",
            *(
                f"| {shape} | {a:.3f} | {b:.3f} | {ratio:.2f} |"
                for shape, a, b, ratio in contractions
            ),
        ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="resnet18", help="comma-separated name substrings")
    parser.add_argument("--compression", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument(
        "--tf32", choices=("on", "off"), default="on", help="as in bench_gpu.py (default on)"
    )
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available (use --device cpu to dry-run)")
    pool = DRY_SHAPES if device.type == "cpu" else SHAPES
    wanted = [part for part in args.shapes.split(",") if part]
    shapes = [s for s in pool if any(part in s.name for part in wanted)]
    if not shapes:
        parser.error(f"--shapes {args.shapes!r} matches none of {[s.name for s in pool]}")
    torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
    torch.backends.cudnn.benchmark = True  # cuDNN's autotuned algorithms, as in bench_gpu.py
    if device.type == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"  # the Triton method interpreted (a dry run)
    info = gpu_info(device)
    machine = ", ".join(f"{key} {value}" for key, value in info.items())
    rows: list[Profile] = []
    for shape in shapes:
        for method in args.methods.split(","):
            rows.append(profile_layer(shape, method, args.compression, args.steps, device))
            r = rows[-1]
            print(
                f"{r.shape:24s} {r.method:7s} wall {r.wall_ms:7.3f} ms  kernels "
                f"{r.kernel_ms:7.3f} ms  busy {100 * r.busy:4.0f}%  launches {r.launches:4.0f}",
                flush=True,
            )
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.with_suffix(".md").write_text(markdown(rows, machine), encoding="utf-8")
            payload = {"machine": info, "rows": [asdict(row) for row in rows]}
            args.output.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    print(markdown(rows, machine))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
