"""Deployment: every band-limited convolution and spectral pool -> its all-real deployment form.

A band-limited layer chooses its band per input size, so its deployment form (real matrices,
no complex tensor, no FFT; see ``BandLimitedConv2d.deploy`` and ``SpectralPool2d.deploy``) is
built for one spatial size. :func:`deploy_` learns each layer's size from one forward of an
example input and swaps the layers in place, so the whole model goes to ``torch.export`` or
``torch.onnx.export(..., dynamo=True)`` (docs/design.md, "Train and inference").

It is not a rewrite of plans: a deployed model serves at fixed spatial sizes and does not train,
and :func:`~lightning_spectral.transforms.plan_of` does not describe it (deploy from the
trained model instead, after :func:`~lightning_spectral.transforms.apply_plan_` and
``load_state_dict``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lightning_spectral.nn.conv import BandLimitedConvExport, _BandLimitedConvNd
from lightning_spectral.nn.pooling import _DeployedSpectralPoolNd, _SpectralPoolNd
from lightning_spectral.transforms._select import Patterns, label, replace_module, select
from lightning_spectral.transforms.report import TransformReport, warn_report

__all__ = ["deploy_"]

# How many modules in training mode the refusal names.
_SHOWN = 5
_DEPLOYABLE = (_BandLimitedConvNd, _SpectralPoolNd)
_DEPLOYED = (BandLimitedConvExport, _DeployedSpectralPoolNd)


def _example_args(example_input: Any) -> tuple[Any, ...]:
    if isinstance(example_input, torch.Tensor):
        return (example_input,)
    if isinstance(example_input, tuple):
        return example_input
    raise TypeError(
        "`example_input` must be a tensor or a tuple of the model's positional arguments, got "
        f"{type(example_input).__name__}"
    )


def _check_eval(model: nn.Module) -> None:
    training = [label(name) for name, module in model.named_modules() if module.training]
    if training:
        shown = ", ".join(training[:_SHOWN]) + (", ..." if len(training) > _SHOWN else "")
        raise ValueError(
            f"deploy_ needs the model in eval mode, got {len(training)} module(s) in training "
            f"mode ({shown}): call `model.eval()` first (the deployment forms compute the eval "
            "operator, and a training forward would update batch-norm statistics and draw "
            "frequency-dropout cutoffs)"
        )


def deploy_(
    model: nn.Module,
    example_input: torch.Tensor | tuple[Any, ...],
    include: Patterns = None,
    exclude: Patterns = None,
) -> TransformReport:
    """Swap every band-limited convolution and spectral pool for its deployment form, in place.

    One forward of ``example_input`` (under ``torch.no_grad``), with forward pre-hooks on the
    selected layers, records the spatial input size each layer sees; then each becomes its
    ``deploy(input_size)``: a :class:`~lightning_spectral.nn.BandLimitedConvExport` at its eval
    compression (a plain ``nn.Conv1d``/``nn.Conv2d`` at eval compression 0), or a
    :class:`~lightning_spectral.nn.pooling.DeployedSpectralPool2d` (``1d``) computing in the
    example's precision (float64 for a float64 input, else float32) on its device. The deployed
    model holds only real tensors, so ``torch.export`` traces it without warnings and the ONNX
    exporter takes it; the batch size stays free, the spatial sizes are the example's.
    Spectrally parametrized weights are baked into the forms as their current values.

    The model must be in eval mode (a training forward would change batch-norm statistics and
    draw frequency-dropout cutoffs, and the deployed forms compute the eval operator): a module
    in training mode is refused, not switched. Deployed layers are left unchanged (the call is
    idempotent). A deployed model is for export, not for training or further rewrites: it is
    not described by plans.

    Args:
        model: any module in eval mode.
        example_input: one input of the model, or a tuple of its positional arguments, with the
            spatial sizes it will serve.
        include: name patterns of the layers to deploy (``None``: all).
        exclude: name patterns to leave alone.

    Returns:
        The :class:`~lightning_spectral.transforms.TransformReport`: ``changed`` the deployed
        layers, ``unchanged`` the already deployed ones, ``skipped`` the layers the forward did
        not reach (and a root module, which cannot be replaced in place), each also named in
        one :class:`~lightning_spectral.transforms.SpectralTransformWarning`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` or ``example_input`` neither a tensor nor
            a tuple.
        ValueError: a module is in training mode, or a selected layer sees two spatial input
            sizes in the forward (its deployment form serves one).

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> from lightning_spectral import transforms
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2))
        >>> _ = transforms.band_limit_(model, compression=0.5)
        >>> _ = transforms.replace_pooling_(model)
        >>> x = torch.randn(2, 1, 16, 16)
        >>> expected = model.eval()(x)
        >>> transforms.deploy_(model, x).changed
        ['0', '1']
        >>> [type(layer).__name__ for layer in model]
        ['BandLimitedConvExport', 'DeployedSpectralPool2d']
        >>> torch.allclose(model(x), expected, atol=1e-5)
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be an nn.Module, got {type(model).__name__}")
    args = _example_args(example_input)
    _check_eval(model)
    report = TransformReport("deploy_")
    selection = select(model, include, exclude, (*_DEPLOYABLE, *_DEPLOYED))
    report.unmatched.extend(selection.unmatched)
    pending = []
    for name, names, module in selection.candidates:
        if isinstance(module, _DEPLOYED):
            report.unchanged.append(name)
        elif not name:
            report.skipped[label(name)] = "the root module cannot be replaced in place"
        else:
            pending.append((name, names, module))
    # id(module) -> (spatial size, dtype, device) of the first call; a shared module is one key.
    seen: dict[int, tuple[tuple[int, ...], torch.dtype, torch.device]] = {}

    def recorder(name: str, ndim: int) -> Any:
        def hook(module: nn.Module, hook_args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            input = hook_args[0] if hook_args else kwargs["input"]
            found = (tuple(input.shape[-ndim:]), input.dtype, input.device)
            first = seen.setdefault(id(module), found)
            if first[0] != found[0]:
                raise ValueError(
                    f"deploy_: layer {name!r} sees two input sizes in one forward, "
                    f"{list(first[0])} and {list(found[0])}; its deployment form serves one size "
                    "(exclude it, or give each use its own layer)"
                )

        return hook

    handles = [
        module.register_forward_pre_hook(recorder(name, module._ndim), with_kwargs=True)
        for name, _, module in pending
    ]
    try:
        with torch.no_grad():
            model(*args)
    finally:
        for handle in handles:
            handle.remove()
    for name, names, module in pending:
        if id(module) not in seen:
            report.skipped[label(name)] = "not reached by the forward of `example_input`"
            continue
        size, dtype, device = seen[id(module)]
        if isinstance(module, _SpectralPoolNd):
            # The FFT form computes in float32 at least (float64 for float64 inputs).
            precision = torch.promote_types(dtype, torch.float32)
            deployed = module.deploy(size, dtype=precision, device=device)
        else:
            deployed = module.deploy(size)
        replace_module(model, names, module, deployed)
        report.changed.append(name)
    return warn_report(report, selection.hint)
