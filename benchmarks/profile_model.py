"""Where the time of a band-limited whole model goes: operator profiles next to the plain model.

The whole-model table (``bench_model.py``) gives ratios; this script explains them. For one network
of ``bench_model.MODELS`` and one compression it profiles, with ``torch.profiler`` on the CPU, the
plain and the band-limited model (same initial weights) in two settings:

* ``eval``: the eval forward under ``no_grad`` at a small batch (default 1), spectrum cache on;
* ``train``: one training step (forward, cross-entropy, backward, SGD) at batch 64.

It prints and writes ``<output>.md``: per setting, the total self CPU time of each model and the
operators with the largest self CPU time, as a share of that model's total, so the cost that a
band-limited layer adds (transforms, contraction, layout copies) is named. Shares are robust to
load from other jobs where absolute times are not; compare totals only within one run.

Usage::

    python benchmarks/profile_model.py                          # resnet18-cifar at 0.5
    python benchmarks/profile_model.py --compression 0.75 --eval-batch 8
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import machine_info
from bench_model import MODELS, PLAIN, build_variants

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "cpu-models-profile"


def _eval_call(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    model.eval()

    def call() -> None:
        with torch.no_grad():
            model(x)

    return call


def _train_call(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    target = torch.zeros(x.shape[0], dtype=torch.long)

    def call() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), target).backward()
        optimizer.step()

    return call


def _profile(call: Callable[[], None], steps: int) -> list[tuple[str, float, int]]:
    """``(operator, self CPU microseconds, calls)`` summed over ``steps`` calls after a warm-up."""
    call()  # warm-up: plans, caches, allocator
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            call()
    rows = [(event.key, event.self_cpu_time_total, event.count) for event in prof.key_averages()]
    return sorted(rows, key=lambda row: row[1], reverse=True)


def _table(rows: list[tuple[str, float, int]], top: int) -> list[str]:
    total = sum(row[1] for row in rows) or 1.0
    lines = ["| operator | self CPU share | calls |", "|---|---:|---:|"]
    lines += [f"| `{name}` | {time / total:.1%} | {count} |" for name, time, count in rows[:top]]
    return lines


def run(
    model_name: str,
    compression: float,
    eval_batch: int,
    train_batch: int,
    steps: int,
    top: int,
    quick: bool = False,
) -> str:
    """Profile plain vs band-limited ``model_name`` and return the markdown report."""
    variants = build_variants(model_name, [compression], quick)
    band_limited = variants[f"bl-{compression:g}"]
    spec = MODELS[model_name]
    shape = spec.quick_input_shape if quick else spec.input_shape
    torch.manual_seed(0)
    settings = {
        f"eval, batch {eval_batch}": (_eval_call, torch.randn(eval_batch, *shape)),
        f"train step, batch {train_batch}": (_train_call, torch.randn(train_batch, *shape)),
    }
    info = ", ".join(f"{key} {value}" for key, value in machine_info(torch.device("cpu")).items())
    out = [
        f"# Profile: {model_name}, plain vs band-limited at {compression:g}",
        "",
        f"Machine: {info}. `python benchmarks/profile_model.py --model {model_name} "
        f"--compression {compression:g} --eval-batch {eval_batch}`; {steps} profiled calls per "
        "setting after one warm-up call. Shares are of each model's own self CPU time.",
    ]
    for title, (make_call, x) in settings.items():
        totals = {}
        tables = {}
        pair = ((PLAIN, variants[PLAIN]), (f"band-limited {compression:g}", band_limited))
        for name, model in pair:
            # a copy for training, so the eval setting's weights and caches stay as they were
            rows = _profile(
                make_call(copy.deepcopy(model) if "train" in title else model, x), steps
            )
            totals[name] = sum(row[1] for row in rows) / steps / 1e3
            tables[name] = _table(rows, top)
        ratio = totals[f"band-limited {compression:g}"] / totals[PLAIN]
        out += ["", f"## {title}", ""]
        out += [
            f"Self CPU time per call: plain {totals[PLAIN]:.1f} ms, band-limited "
            f"{totals[f'band-limited {compression:g}']:.1f} ms (ratio {ratio:.2f}, same run)."
        ]
        for name, lines in tables.items():
            out += ["", f"{name}:", "", *lines]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18-cifar", choices=sorted(MODELS))
    parser.add_argument("--quick", action="store_true", help="tiny model and batches (smoke)")
    parser.add_argument("--compression", type=float, default=0.5)
    parser.add_argument("--eval-batch", type=int, default=1)
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="profiled calls per setting")
    parser.add_argument("--top", type=int, default=12, help="operators listed per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if not 0.0 <= args.compression < 1.0:
        parser.error(f"--compression must be in [0, 1), got {args.compression}")
    for option in ("eval_batch", "train_batch", "steps", "top", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1, got {getattr(args, option)}")
    torch.set_num_threads(args.threads)
    if args.quick:
        args.train_batch, args.steps = min(args.train_batch, 2), 1
    report = run(
        args.model,
        args.compression,
        args.eval_batch,
        args.train_batch,
        args.steps,
        args.top,
        args.quick,
    )
    print(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".md").write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
