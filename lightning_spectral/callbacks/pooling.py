"""Spectral pooling (Rippel et al. 2015, Sec. 3) as a Lightning callback."""

from __future__ import annotations

from typing_extensions import override

from lightning_spectral import transforms
from lightning_spectral._lightning_compat import pl
from lightning_spectral.callbacks.rewrite import SpectralRewriteCallback

__all__ = ["SpectralPoolingCallback"]

_DEFAULT_KINDS = ("max", "avg")


class SpectralPoolingCallback(SpectralRewriteCallback):
    """Replace the selected max/average pooling layers by spectral pooling at ``setup``.

    Each ``nn.MaxPool1d/2d`` / ``nn.AvgPool1d/2d`` (kinds ``"max"``/``"avg"``; the adaptive
    pools with ``"adaptive_max"``/``"adaptive_avg"``) becomes a
    :class:`~lightning_spectral.nn.SpectralPool1d`/``2d`` with the same output size for any
    input size (see :func:`lightning_spectral.transforms.replace_pooling_`). Spectral pools
    have no parameters, so the optimizer is unaffected; the rewrite is idempotent and recorded
    in the checkpoint's plan. Combine with
    :class:`~lightning_spectral.callbacks.ResolutionDropoutScheduler` for frequency dropout.

    Args:
        kinds: which pooling layers to replace: one of ``"max"``, ``"avg"``,
            ``"adaptive_max"``, ``"adaptive_avg"``, or a list of distinct ones (checked by
            :func:`~lightning_spectral.transforms.check_pool_kinds`, as in ``replace_pooling_``).
        include: layers to replace (fully qualified module names, globs, or ``"re:<regex>"``);
            ``None`` for every supported pooling layer of the chosen kinds.
        exclude: layers to leave alone, same syntax.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if ``kinds`` is empty, repeats a kind or names an unknown kind, or a
            pattern is invalid.

    Examples:
        >>> SpectralPoolingCallback(kinds=["max", "adaptive_avg"], exclude="net.head.*").kinds
        ('max', 'adaptive_avg')
    """

    def __init__(
        self,
        kinds: str | list[str] | tuple[str, ...] = _DEFAULT_KINDS,
        include: str | list[str] | None = None,
        exclude: str | list[str] | None = None,
    ) -> None:
        super().__init__()
        # The same checks (and messages) as replace_pooling_.
        self.kinds = transforms.check_pool_kinds(kinds)
        self.include = transforms.check_patterns(include, "include")
        self.exclude = transforms.check_patterns(exclude, "exclude")

    @override
    def rewrite(self, pl_module: pl.LightningModule) -> transforms.TransformReport:
        return transforms.replace_pooling_(
            pl_module, kinds=self.kinds, include=self.include, exclude=self.exclude
        )
