"""In-place model rewrites, usable on any ``nn.Module`` without Lightning (torchao style).

One concern per module:

* :mod:`~lightning_spectral.transforms.band_limit`: :func:`band_limit_` (``nn.Conv1d``/
  ``nn.Conv2d`` -> :class:`~lightning_spectral.nn.BandLimitedConv1d` / ``2d``) and
  :func:`set_compression_`.
* :mod:`~lightning_spectral.transforms.pooling`: :func:`replace_pooling_` (max/avg, and on
  request adaptive, pools -> spectral pools with the same output size).
* :mod:`~lightning_spectral.transforms.parametrization`: :func:`parametrize_spectral_`
  (filters stored in an orthonormal real spectral basis) and :func:`bake_` (back to plain weights).
* :mod:`~lightning_spectral.transforms.batch_norm`: :func:`recalibrate_batch_norm_` (batch-norm
  statistics re-estimated on the network as it is evaluated, after frequency dropout).
* :mod:`~lightning_spectral.transforms.deploy`: :func:`deploy_` (every band-limited
  convolution and spectral pool -> its all-real deployment form, for export; not in plans).
* :mod:`~lightning_spectral.transforms.plans`: :func:`plan_of` / :func:`apply_plan_`, a
  versioned plain-data description of every rewrite, and the registry of rewrites
  (:func:`register_rewrite`) they loop over.
* :mod:`~lightning_spectral.transforms.report`: :class:`TransformReport`,
  :class:`SpectralTransformWarning`.

Every transform takes ``include``/``exclude``: fully-qualified module names (as in
``model.named_modules()``), each pattern a glob (:func:`fnmatch.fnmatchcase`, e.g.
``"layer*.conv1"``) or a regular expression prefixed with ``"re:"`` that must match the whole
name (:func:`re.fullmatch`), checked by :func:`check_patterns`. A module is considered when it
matches some ``include`` pattern (all modules when ``include`` is ``None``) and no ``exclude``
pattern. :func:`band_limit_`, :func:`set_compression_`, :func:`replace_pooling_` and
:func:`parametrize_spectral_` also take a predicate ``filter_fn(module, name) -> bool`` (as
torchao's ``quantize_`` does) to select by kernel size, groups or channels; a predicate that
accepts no layer warns like a pattern that matches none. Patterns stay the way callbacks and
YAML configurations select layers.

Each transform returns a :class:`TransformReport` (what changed, what was already in the
requested state, what was skipped and why, which patterns matched nothing) and emits **one**
:class:`SpectralTransformWarning` listing every skipped layer and every pattern that selected
nothing. Transforms are idempotent: applying one twice is the same as once. Forward hooks,
backward hooks and parametrizations of a replaced module move to its replacement.
"""

from lightning_spectral.transforms._select import FilterFn, check_patterns
from lightning_spectral.transforms.band_limit import band_limit_, set_compression_, spectral_modules
from lightning_spectral.transforms.batch_norm import recalibrate_batch_norm_
from lightning_spectral.transforms.deploy import deploy_
from lightning_spectral.transforms.parametrization import (
    bake_,
    parametrize_spectral_,
    spectrally_parametrized,
)
from lightning_spectral.transforms.plans import (
    PLAN_FORMAT,
    PLAN_VERSION,
    Rewrite,
    apply_plan_,
    plan_of,
    register_rewrite,
    registered_rewrites,
)
from lightning_spectral.transforms.pooling import (
    POOL_KINDS,
    check_pool_kinds,
    replace_pooling_,
    spectral_pools,
)
from lightning_spectral.transforms.report import SpectralTransformWarning, TransformReport

__all__ = [
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "POOL_KINDS",
    "FilterFn",
    "Rewrite",
    "SpectralTransformWarning",
    "TransformReport",
    "apply_plan_",
    "bake_",
    "band_limit_",
    "check_patterns",
    "check_pool_kinds",
    "deploy_",
    "parametrize_spectral_",
    "plan_of",
    "recalibrate_batch_norm_",
    "register_rewrite",
    "registered_rewrites",
    "replace_pooling_",
    "set_compression_",
    "spectral_modules",
    "spectral_pools",
    "spectrally_parametrized",
]
