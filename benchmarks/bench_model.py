"""Whole-model CPU benchmark: plain vs band-limited ResNets, ratios from one interleaved run.

Two networks, each plain and with every convolution band-limited by ``transforms.band_limit_``
at compressions 0.5, 0.75 and 0.9 (same initial weights):

* ``resnet18-cifar``: the package's CIFAR ResNet-18 (``lightning_spectral.models.ResNet18``,
  3x3 stem, maps 32/16/8/4) on 3x32x32 inputs;
* ``tv-resnet18-64``: torchvision's ImageNet-layout ResNet-18 (7x7 stride-2 stem, max pool) on
  3x64x64 inputs, so its stages run at 16/8/4/2 and the last ones have 2x2 maps.

For each network it measures

* the training step time at batch 64 (forward, cross-entropy, backward, SGD step);
* the eval forward time (``model.eval()``, ``torch.no_grad``) at batch 1, 8 and 64, and, when the
  band-limited layers have the filter-spectrum cache switch (``spectrum_cache``), also with it off;
* the bytes autograd keeps for backward in one training forward (one count per storage, through
  ``torch.autograd.graph.saved_tensors_hooks``), the weights' bytes and the filter-spectrum cache's
  bytes after an eval forward (``cache_bytes``, when the layers report it).

Timings use ``bench_conv.time_interleaved``: every variant of a measurement (plain and each
compression) is timed in turn in every round with ``torch.utils.benchmark``, so the ratios to the
plain model come from one run under the same load. Results are printed and written, with the
machine named, to ``<output>.md`` and ``<output>.json``.

Usage::

    python benchmarks/bench_model.py                 # full table, 2 threads (tens of minutes)
    python benchmarks/bench_model.py --quick         # tiny batches, seconds (the smoke test)
    python benchmarks/bench_model.py --models resnet18-cifar --compressions 0.5
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# Timing, memory and machine description are shared with the layer benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_conv import machine_info, step_bytes, time_interleaved

from lightning_spectral import transforms
from lightning_spectral.models import ResNet18
from lightning_spectral.nn import BandLimitedConv1d, BandLimitedConv2d

__all__ = [
    "MODELS",
    "ModelRow",
    "ModelSpec",
    "build_variants",
    "cache_bytes",
    "cache_switch_available",
    "main",
    "measure_model",
    "run",
    "set_spectrum_cache",
]

COMPRESSIONS = (0.5, 0.75, 0.9)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "cpu-models"
PLAIN = "plain"


def _torchvision_resnet18(quick: bool) -> nn.Module:
    from torchvision.models import resnet18

    del quick  # torchvision's widths are fixed; --quick shrinks its input instead
    return resnet18(weights=None, num_classes=10)  # no download: random initial weights


def _cifar_resnet18(quick: bool) -> nn.Module:
    return ResNet18(num_classes=10, width=4 if quick else 64)


@dataclass(frozen=True)
class ModelSpec:
    """A benchmarked network: constructor (argument: ``quick``) and one sample's shape."""

    build: Callable[[bool], nn.Module]
    input_shape: tuple[int, int, int]
    quick_input_shape: tuple[int, int, int]


#: Benchmarked networks by name (``--quick``: CIFAR ResNet-18 of width 4, inputs 16x16).
MODELS: dict[str, ModelSpec] = {
    "resnet18-cifar": ModelSpec(_cifar_resnet18, (3, 32, 32), (3, 16, 16)),
    "tv-resnet18-64": ModelSpec(_torchvision_resnet18, (3, 64, 64), (3, 16, 16)),
}


@dataclass
class ModelRow:
    """Figures of one network variant; times in ms, memory in bytes.

    ``eval_ms`` and ``eval_nocache_ms`` map a batch size to the eval forward time (the latter
    empty when the cache switch is unavailable or for the plain model); the ratios are to the
    plain model in the same run.
    """

    model: str
    variant: str
    compression: float | None
    train_batch: int
    train_ms: float
    eval_ms: dict[int, float]
    eval_nocache_ms: dict[int, float]
    saved_bytes: int
    weight_bytes: int
    cache_bytes: int | None
    train_ratio: float = field(default=float("nan"))
    eval_ratio: dict[int, float] = field(default_factory=dict)
    eval_nocache_ratio: dict[int, float] = field(default_factory=dict)
    saved_ratio: float = field(default=float("nan"))


def _input_shape(name: str, quick: bool) -> tuple[int, int, int]:
    spec = MODELS[name]
    return spec.quick_input_shape if quick else spec.input_shape


def _band_limited_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, BandLimitedConv1d | BandLimitedConv2d)]


def cache_switch_available(model: nn.Module) -> bool:
    """Whether the band-limited layers expose the filter-spectrum cache switch."""
    layers = _band_limited_layers(model)
    return bool(layers) and all(hasattr(type(layer), "spectrum_cache") for layer in layers)


def set_spectrum_cache(model: nn.Module, enabled: bool) -> None:
    """Turn every band-limited layer's filter-spectrum cache on or off.

    Raises:
        RuntimeError: If the layers have no ``spectrum_cache`` switch.
    """
    if not cache_switch_available(model):
        raise RuntimeError("the band-limited layers of this version have no spectrum_cache switch")
    for layer in _band_limited_layers(model):
        layer.spectrum_cache = enabled


def cache_bytes(model: nn.Module) -> int | None:
    """Bytes of the band-limited layers' cached filter spectra, or None if not reported."""
    layers = _band_limited_layers(model)
    if not layers or not all(hasattr(layer, "cache_bytes") for layer in layers):
        return None
    return int(sum(int(layer.cache_bytes) for layer in layers))


def build_variants(
    name: str, compressions: Sequence[float], quick: bool = False
) -> dict[str, nn.Module]:
    """The plain network and one band-limited copy per compression, with equal initial weights.

    Raises:
        ValueError: If ``name`` is not in :data:`MODELS`.
    """
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    torch.manual_seed(0)
    plain = MODELS[name].build(quick)
    variants = {PLAIN: plain}
    for compression in compressions:
        model = copy.deepcopy(plain)
        report = transforms.band_limit_(model, compression=compression)
        if report.skipped:  # "every conv" is the point of the comparison
            raise RuntimeError(f"band_limit_ skipped layers of {name}: {report.skipped}")
        variants[f"bl-{compression:g}"] = model
    return variants


def measure_model(
    name: str,
    compressions: Sequence[float],
    train_batch: int,
    eval_batches: Sequence[int],
    repeats: int,
    warmup: int,
    min_run_time: float,
    cache_off: bool,
    quick: bool = False,
) -> tuple[list[ModelRow], bool]:
    """Measure one network's variants; returns the rows and whether the cache switch existed."""
    variants = build_variants(name, compressions, quick)
    sample_shape = _input_shape(name, quick)
    generator = torch.Generator().manual_seed(1)
    device = torch.device("cpu")
    switch = cache_switch_available(variants[f"bl-{compressions[0]:g}"]) if compressions else False

    # Training step: forward, loss, backward and an SGD update (lr 0 keeps the weights, and so
    # the timings, stable; the update's work is the same).
    x = torch.randn(train_batch, *sample_shape, generator=generator)
    y = torch.randint(0, 10, (train_batch,), generator=generator)
    steps = {}
    for key, model in variants.items():
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)

        def step(model: nn.Module = model, optimizer: torch.optim.Optimizer = optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()

        steps[key] = step
    train_ms = time_interleaved(steps, device, repeats, warmup, min_run_time)
    saved = {
        key: step_bytes(lambda model=model: F.cross_entropy(model(x), y), device)[1]
        for key, model in variants.items()
    }

    eval_ms: dict[str, dict[int, float]] = {key: {} for key in variants}
    nocache_ms: dict[str, dict[int, float]] = {key: {} for key in variants}
    # With the cache off, a copy of each band-limited model runs in the same rounds.
    evaluated = dict(variants)
    if cache_off and switch:
        for key, model in variants.items():
            if key != PLAIN:
                evaluated[key + "/nocache"] = copy.deepcopy(model)
                set_spectrum_cache(evaluated[key + "/nocache"], False)
    for model in evaluated.values():
        model.eval()
    for batch in eval_batches:
        xb = torch.randn(batch, *sample_shape, generator=generator)

        def forward(model: nn.Module, xb: torch.Tensor = xb) -> Callable[[], torch.Tensor]:
            def run_forward() -> torch.Tensor:
                with torch.no_grad():
                    return model(xb)

            return run_forward

        times = time_interleaved(
            {key: forward(model) for key, model in evaluated.items()},
            device,
            repeats,
            warmup,
            min_run_time,
        )
        for key in variants:
            eval_ms[key][batch] = times[key]
            if key + "/nocache" in times:
                nocache_ms[key][batch] = times[key + "/nocache"]

    rows = []
    for key, model in variants.items():
        with torch.no_grad():  # the cache (if any) after an eval forward at the largest batch
            model(torch.randn(max(eval_batches), *sample_shape, generator=generator))
        rows.append(
            ModelRow(
                model=name,
                variant=key,
                compression=None if key == PLAIN else float(key.split("-", 1)[1]),
                train_batch=train_batch,
                train_ms=train_ms[key],
                eval_ms=eval_ms[key],
                eval_nocache_ms=nocache_ms[key],
                saved_bytes=saved[key],
                weight_bytes=sum(p.numel() * p.element_size() for p in model.parameters()),
                cache_bytes=cache_bytes(model) if key != PLAIN else None,
            )
        )
    plain = rows[0]
    for row in rows:
        row.train_ratio = row.train_ms / plain.train_ms
        row.eval_ratio = {b: ms / plain.eval_ms[b] for b, ms in row.eval_ms.items()}
        row.eval_nocache_ratio = {b: ms / plain.eval_ms[b] for b, ms in row.eval_nocache_ms.items()}
        row.saved_ratio = row.saved_bytes / plain.saved_bytes
    return rows, switch


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}"


def markdown_table(
    rows: Sequence[ModelRow], info: dict[str, object], eval_batches: Sequence[int], switch: bool
) -> str:
    """Ratios to the plain model (lower is better) with the plain model's absolute figures."""
    cache_note = (
        "The band-limited layers have the filter-spectrum cache switch (`spectrum_cache`): "
        "`eval bN` is with the cache on (the default), `no cache bN` with it off."
        if switch
        else "The band-limited layers of this version have no filter-spectrum cache switch "
        "(`spectrum_cache`): eval was measured as the layers run by default."
    )
    eval_cols = [f"eval b{b}" for b in eval_batches]
    nocache_cols = [f"no cache b{b}" for b in eval_batches] if switch else []
    header = ["model", "variant", "train step", *eval_cols, *nocache_cols, "saved for bwd"]
    header += ["saved MiB", "weights MiB", "cache MiB"]
    lines = [
        "# Whole models: band-limited vs plain",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
        "Ratios are the variant's figure divided by the plain model's, measured in the same run "
        "with the variants interleaved round by round (< 1: the band-limited model is faster or "
        "smaller). `train step`: forward, loss, backward and SGD update at batch "
        f"{rows[0].train_batch}; `eval bN`: forward under `no_grad` in eval mode at batch N; "
        "`saved for bwd`: bytes autograd keeps for backward in one training forward. " + cache_note,
        "",
        "| " + " | ".join(header) + " |",
        "|---|---|" + "---:|" * (len(header) - 2),
    ]
    for row in rows:
        if row.variant == PLAIN:
            cells = [f"{row.train_ms:.1f} ms"] + [f"{row.eval_ms[b]:.2f} ms" for b in eval_batches]
            cells += ["-"] * len(nocache_cols)
            cells.append("1.00")
        else:
            cells = [f"{row.train_ratio:.2f}"] + [f"{row.eval_ratio[b]:.2f}" for b in eval_batches]
            cells += [f"{row.eval_nocache_ratio[b]:.2f}" for b in eval_batches] if switch else []
            cells.append(f"{row.saved_ratio:.2f}")
        cells += [_mib(row.saved_bytes), _mib(row.weight_bytes), _mib(row.cache_bytes)]
        lines.append(f"| {row.model} | {row.variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(
    models: Sequence[str],
    compressions: Sequence[float],
    train_batch: int,
    eval_batches: Sequence[int],
    repeats: int,
    warmup: int,
    min_run_time: float,
    cache_off: bool,
    output: Path,
    quick: bool = False,
) -> list[ModelRow]:
    """Measure ``models``, print the table and write ``output`` ``.md`` and ``.json``."""
    info = machine_info(torch.device("cpu"))
    rows: list[ModelRow] = []
    switch = False
    for index, name in enumerate(models):
        model_rows, switch = measure_model(
            name,
            compressions,
            train_batch,
            eval_batches,
            repeats,
            warmup,
            min_run_time,
            cache_off,
            quick,
        )
        rows.extend(model_rows)
        for row in model_rows:
            print(
                f"{row.model:16s} {row.variant:8s} train x{row.train_ratio:.2f} "
                + " ".join(f"eval b{b} x{r:.2f}" for b, r in row.eval_ratio.items())
                + f" saved x{row.saved_ratio:.2f}",
                flush=True,
            )
        # Rewrite the files after every model: a run that is cut off keeps what it measured.
        output.parent.mkdir(parents=True, exist_ok=True)
        table = markdown_table(rows, info, eval_batches, switch)
        output.with_suffix(".md").write_text(table, encoding="utf-8")
        payload = {
            "machine": info,
            "repeats": repeats,
            "warmup": warmup,
            "min_run_time_s": min_run_time,
            "spectrum_cache_switch": switch,
            "complete": index == len(models) - 1,
            "quick": quick,
            "models": {
                n: {
                    "input_shape": list(
                        MODELS[n].quick_input_shape if quick else MODELS[n].input_shape
                    )
                }
                for n in models
            },
            "rows": [asdict(row) for row in rows],
        }
        output.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    print(markdown_table(rows, info, eval_batches, switch))
    return rows


def _floats(text: str, what: str) -> list[float]:
    values = [float(part) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"{what} needs at least one value, got {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny models and batches, one round (smoke)"
    )
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated, from {sorted(MODELS)}"
    )
    parser.add_argument(
        "--compressions",
        default=",".join(map(str, COMPRESSIONS)),
        help="comma-separated compressions in [0, 1)",
    )
    parser.add_argument("--train-batch", type=int, default=None, help="default 64 (quick 2)")
    parser.add_argument("--eval-batches", default=None, help="default 1,8,64 (quick 1,2)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (median)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed calls first")
    parser.add_argument(
        "--min-run-time", type=float, default=None, help="seconds per variant and round"
    )
    parser.add_argument(
        "--no-cache-off",
        action="store_true",
        help="skip the eval variants with the filter-spectrum cache off",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (0: default)")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results path without suffix (default benchmarks/results/cpu-models[-quick])",
    )
    args = parser.parse_args(argv)
    models = [part.strip() for part in args.models.split(",") if part.strip()]
    unknown = [name for name in models if name not in MODELS]
    if unknown or not models:
        parser.error(f"--models {args.models!r}: unknown {unknown}, choose from {sorted(MODELS)}")
    compressions = _floats(args.compressions, "--compressions")
    if not all(0.0 <= c < 1.0 for c in compressions):
        parser.error(f"--compressions must lie in [0, 1), got {compressions}")
    quick = args.quick
    train_batch = args.train_batch if args.train_batch is not None else (2 if quick else 64)
    batches = args.eval_batches if args.eval_batches is not None else ("1,2" if quick else "1,8,64")
    eval_batches = [int(b) for b in _floats(batches, "--eval-batches")]
    if train_batch < 1 or min(eval_batches) < 1:
        parser.error(f"batch sizes must be >= 1, got {train_batch} and {eval_batches}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    output = args.output or DEFAULT_OUTPUT.with_name("cpu-models" + ("-quick" if quick else ""))
    run(
        models,
        compressions,
        train_batch,
        eval_batches,
        repeats=args.repeats if args.repeats is not None else (1 if quick else 5),
        warmup=args.warmup if args.warmup is not None else (0 if quick else 1),
        min_run_time=(
            args.min_run_time if args.min_run_time is not None else (0.001 if quick else 0.2)
        ),
        cache_off=not args.no_cache_off,
        output=output,
        quick=quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
