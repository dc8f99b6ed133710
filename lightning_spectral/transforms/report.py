"""What a transform tells its caller: the report and the warning."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

__all__ = ["SpectralTransformWarning", "TransformReport"]


class SpectralTransformWarning(UserWarning):
    """Emitted once per transform call that skipped layers or had a pattern that matched nothing.

    The message lists every skipped layer with its reason, and every ``include``/``exclude``
    pattern that selected no layer (with a few of the model's layer names, to spot a typo).
    """


@dataclass
class TransformReport:
    """What a transform did.

    Attributes:
        transform: the transform's name, e.g. ``"band_limit_"``.
        changed: module names rewritten or reconfigured by this call.
        unchanged: selected module names already in the requested state.
        skipped: module name -> reason it could not be transformed.
        unmatched: ``include``/``exclude`` patterns that matched no layer the transform
            considers, e.g. ``["include='nett.*'"]``.

    Examples:
        >>> from torch import nn
        >>> from lightning_spectral.transforms import band_limit_
        >>> report = band_limit_(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
        >>> report.changed
        ['0']
        >>> print(report)
        band_limit_: 1 changed, 0 unchanged, 0 skipped
    """

    transform: str
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)

    def extend(self, other: TransformReport) -> None:
        """Append another report's entries (used to combine the steps of a plan)."""
        self.changed.extend(other.changed)
        self.unchanged.extend(other.unchanged)
        self.skipped.update(other.skipped)
        self.unmatched.extend(p for p in other.unmatched if p not in self.unmatched)

    def __str__(self) -> str:
        lines = [
            f"{self.transform}: {len(self.changed)} changed, {len(self.unchanged)} unchanged, "
            f"{len(self.skipped)} skipped"
        ]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped.items()]
        lines += [f"  matched no layer: {pattern}" for pattern in self.unmatched]
        return "\n".join(lines)


def warn_report(report: TransformReport, hint: str = "", stacklevel: int = 3) -> TransformReport:
    """Emit the one :class:`SpectralTransformWarning` of a transform call, if it needs one.

    Args:
        report: the finished report.
        hint: appended to the message about unmatched patterns (e.g. a few layer names).
        stacklevel: as in :func:`warnings.warn`, counted from the caller of this function.

    Returns:
        ``report``.
    """
    parts = []
    if report.skipped:
        listing = "; ".join(f"{name} ({reason})" for name, reason in report.skipped.items())
        parts.append(f"skipped {len(report.skipped)} layer(s): {listing}")
    if report.unmatched:
        parts.append(
            f"pattern(s) matched no layer and selected nothing: {', '.join(report.unmatched)}"
            + (f" ({hint})" if hint else "")
        )
    if parts:
        warnings.warn(
            f"{report.transform} " + "; ".join(parts),
            SpectralTransformWarning,
            stacklevel=stacklevel,
        )
    return report
