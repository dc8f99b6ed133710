"""The ``lightning-spectral`` command line (also ``python -m lightning_spectral``).

A :class:`~pytorch_lightning.cli.LightningCLI` with the subcommands ``fit``, ``validate``,
``test``, ``predict`` and ``sweep``. Any LightningModule and LightningDataModule can be chosen
by ``class_path`` (``--model``/``--data``, or the ``model:``/``data:`` sections of a YAML
file); the package's models, data modules and callbacks are imported first, so their short
names work::

    lightning-spectral fit --config examples/configs/mnist_bandlimited.yaml
    lightning-spectral fit --model SpectralClassifier --model.network rippel_generic \\
        --data MNISTDigitsDataModule \\
        --trainer.callbacks+=BandLimitCallback --trainer.callbacks.compression=0.5 \\
        --trainer.callbacks+=EnergyCompressionMonitor
    lightning-spectral fit --config examples/configs/mnist_bandlimited.yaml --print_config

Defaults that differ from plain LightningCLI:

* The logger is a ``TensorBoardLogger`` writing to ``lightning_logs/version_<n>`` below
  ``--trainer.default_root_dir`` (the working directory by default), as plain Lightning's
  default logger does; ``--trainer.logger.init_args.save_dir`` moves it, ``--trainer.logger
  false`` turns it off. Checkpoints and the saved ``config.yaml`` go into that version folder.
* ``--model my_model.MyNet`` (or ``--data``, ``--trainer.callbacks+=...``) finds
  ``my_model.py`` in the working directory, with the console script as with ``python -m``.
* ``data.num_classes`` is linked into ``model.init_args.num_classes`` when both exist (e.g.
  :class:`~lightning_spectral.models.SpectralClassifier` and the package's data modules), so
  the model's class count always matches the data.
* A constructor argument the classes refuse (e.g. ``compression=1.5``) ends the command with
  a one-line ``error:`` instead of a traceback; set ``JSONARGPARSE_DEBUG=1`` for the traceback.

``sweep`` evaluates one trained checkpoint at several inference compressions (Dziedzic et al.,
Sec. 4.2; see :func:`lightning_spectral.sweep.compression_sweep`)::

    lightning-spectral sweep --config examples/configs/mnist_bandlimited.yaml \\
        --ckpt_path lightning_logs/version_0/checkpoints/last.ckpt \\
        --compressions "[0, 0.25, 0.5, 0.75, 0.9]"

It prints a table of the test metrics per compression, writes ``compression_sweep.json`` and
``compression_sweep.csv`` into its own log folder (``--output_dir`` to choose) and logs
``sweep/<metric>`` curves to TensorBoard at ``step = compression in percent``. The
``config.yaml`` that ``fit`` saved is a valid ``--config`` for ``sweep`` too. A missing or
unreadable checkpoint, an empty or out-of-range compression list, or a checkpoint without
band-limited layers ends it with a one-line ``error:`` (exit code 2).
"""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, Literal

from jsonargparse import DefaultHelpFormatter
from typing_extensions import override

# Imported for their side effect too: jsonargparse resolves the short class names of the
# subclasses that are imported when the command line is parsed.
import lightning_spectral.callbacks
import lightning_spectral.data
import lightning_spectral.models  # noqa: F401
from lightning_spectral._lightning_compat import (
    NAMESPACE,
    ArgsType,
    LightningArgumentParser,
    LightningCLI,
    pl,
)
from lightning_spectral.plans_io import checkpoint_class_paths, read_checkpoint
from lightning_spectral.sweep import (
    SweepError,
    check_checkpoint_path,
    check_compressions,
    compression_sweep,
)

__all__ = ["DEFAULT_LOGGER", "SpectralLightningCLI", "SpectralTrainer", "main", "plain_text"]

#: The default ``trainer.logger``: TensorBoard event files under ``lightning_logs`` of
#: ``trainer.default_root_dir`` (``save_dir`` "." stands for it when that is set).
DEFAULT_LOGGER: dict[str, Any] = {
    "class_path": f"{NAMESPACE}.loggers.TensorBoardLogger",
    "init_args": {"save_dir": ".", "name": "lightning_logs"},
}

# Sphinx cross-references (:class:`~a.b.C`, :func:`f`) and inline literals (``x``) in the
# docstrings that jsonargparse turns into --help texts.
_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)(?: <[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]*)``")


def plain_text(text: str) -> str:
    """``text`` without Sphinx markup: a role shows its target (``~`` keeps the last name).

    Args:
        text: A docstring fragment.

    Returns:
        The text as a terminal should show it.

    Example:
        >>> plain_text("a :class:`~lightning_spectral.SpectralClassifier`, ``fit`` or :func:`f`")
        'a SpectralClassifier, fit or f'
    """

    def role(match: re.Match[str]) -> str:
        target = match.group(1).strip()
        return target.rsplit(".", 1)[-1] if match.group(0).split("`")[1].startswith("~") else target

    return _LITERAL.sub(r"\1", _ROLE.sub(role, text))


class _PlainHelpFormatter(DefaultHelpFormatter):
    """jsonargparse's help formatter, rendering descriptions and help texts as plain text."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain_text(text))

    def _expand_help(self, action: Any) -> str:
        return plain_text(super()._expand_help(action))

    def start_section(self, heading: str | None) -> None:
        super().start_section(None if heading is None else plain_text(heading))


class _ArgumentParser(LightningArgumentParser):
    """``LightningArgumentParser`` with plain-text help by default.

    A default of the class rather than a ``parser_kwargs`` entry: jsonargparse builds the
    parsers of ``--model.help CLASS`` with ``type(parser)(...)``, which passes no formatter.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _PlainHelpFormatter)
        super().__init__(*args, **kwargs)


_DESCRIPTION = (
    "Train and evaluate PyTorch Lightning models with spectral pooling, spectral "
    "parametrization and band-limited FFT convolutions. Example: lightning-spectral fit "
    "--config examples/configs/mnist_bandlimited.yaml"
)


def _configured_classes(model: pl.LightningModule) -> list[str]:
    """The classes the CLI's own configuration named for ``model`` (trusted: the user gave
    them), so a checkpoint may name them too."""
    named = checkpoint_class_paths({"hyper_parameters": dict(getattr(model, "hparams", {}))})
    return [path for _, path in named if isinstance(path, str)]


class SpectralTrainer(pl.Trainer):
    """The CLI's trainer: a :class:`pytorch_lightning.Trainer` with a :meth:`sweep` method.

    ``LightningCLI`` turns trainer methods into subcommands; this is where ``sweep`` comes
    from. Everything else is the plain ``Trainer``.
    """

    def sweep(
        self,
        model: pl.LightningModule,
        ckpt_path: str,
        compressions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 0.9),
        datamodule: pl.LightningDataModule | None = None,
        stage: Literal["test", "validate"] = "test",
        output_dir: str | None = None,
        allowed_classes: list[str] | None = None,
        weights_only: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Evaluate one checkpoint at several inference (eval) compressions.

        The model is restored from the checkpoint without callbacks (rebuilt from its saved
        hyperparameters when it has them, otherwise the given model receives its plan and
        weights), then every band-limited layer's eval compression is set to each value in
        turn and the test loop runs. Prints a table, writes compression_sweep.json/.csv and
        logs sweep/<metric> at step = compression in percent.

        Args:
            model: The model (from the CLI configuration); its class restores the checkpoint.
            ckpt_path: Path of the trained checkpoint.
            compressions: Eval compressions in [0, 1), at least 1% apart.
            datamodule: Provides the test (or validation) data.
            stage: "test" (test split) or "validate" (validation split).
            output_dir: Folder of the JSON and CSV files (default: the logger's version
                folder).
            allowed_classes: Import paths of classes the checkpoint's hyperparameters may name
                besides the package's own, the model's and those the configuration names; a
                checkpoint naming any other class is refused before it is imported.
            weights_only: As in Trainer.fit: None or True loads tensors and plain data only
                (the checkpoints the package writes), False also unpickles arbitrary objects
                (only for checkpoints you trust). Accepted so that the config.yaml saved by
                fit runs sweep unchanged.

        Returns:
            One row per compression, see
            :func:`lightning_spectral.sweep.compression_sweep`.
        """
        check_checkpoint_path(ckpt_path)
        safe = weights_only is not False
        hparams = read_checkpoint(ckpt_path, weights_only=safe).get("hyper_parameters")
        # Rebuilding from the saved hyperparameters restores the model exactly as trained;
        # without them only the given instance can receive the weights.
        target: pl.LightningModule | type[pl.LightningModule] = type(model) if hparams else model
        return compression_sweep(
            self,
            target,
            ckpt_path,
            compressions,
            datamodule=datamodule,
            stage=stage,
            output_dir=output_dir,
            allowed_classes=[*(allowed_classes or ()), *_configured_classes(model)],
            weights_only=safe,
        )


class SpectralLightningCLI(LightningCLI):
    """``LightningCLI`` with the package's defaults and the ``sweep`` subcommand.

    Any LightningModule (``--model``) and LightningDataModule (``--data``, optional: a model
    may bring its own dataloaders) are accepted by class path. See the module docstring for
    what differs from plain ``LightningCLI``.

    Args:
        args: Command-line arguments (a list like ``sys.argv[1:]``), a config dict, or
            ``None`` for ``sys.argv``.
        run: Run the subcommand; ``False`` only instantiates the classes (then give no
            subcommand).
        trainer_defaults: Trainer defaults merged over ``{"logger": DEFAULT_LOGGER}``.
        **kwargs: Other ``LightningCLI`` arguments (``parser_kwargs``,
            ``save_config_kwargs``, ...).
    """

    def __init__(
        self,
        args: ArgsType = None,
        run: bool = True,
        trainer_defaults: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        parser_kwargs = kwargs.pop("parser_kwargs", None) or {}
        parser_kwargs.setdefault("description", _DESCRIPTION)
        kwargs.setdefault("trainer_class", SpectralTrainer)
        kwargs.setdefault("parser_class", _ArgumentParser)
        super().__init__(
            model_class=None,
            datamodule_class=None,
            # A copy: the parser keeps (and may update) the defaults it is given.
            trainer_defaults={"logger": copy.deepcopy(DEFAULT_LOGGER), **(trainer_defaults or {})},
            parser_kwargs=parser_kwargs,
            args=args,
            run=run,
            **kwargs,
        )

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        """The subcommands (``fit``, ``validate``, ``test``, ``predict``, ``sweep``).

        Returns:
            Subcommand name -> the method arguments the CLI fills in itself.
        """
        return {**LightningCLI.subcommands(), "sweep": {"model", "datamodule"}}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Link the data module's ``num_classes`` into the model's ``num_classes``.

        The link is applied at instantiation and silently skipped when the chosen data module
        has no ``num_classes`` attribute or the chosen model no ``num_classes`` argument.
        """
        parser.link_arguments(
            "data.num_classes", "model.init_args.num_classes", apply_on="instantiate"
        )

    @override
    def before_instantiate_classes(self) -> None:
        """Put the default logger below ``trainer.default_root_dir``, as plain Lightning does.

        Only the default (``save_dir`` "."); a ``save_dir`` given explicitly is kept.
        """
        config = self.config[self.subcommand] if self.subcommand else self.config
        root = config.get("trainer.default_root_dir")
        logger = config.get("trainer.logger")
        if root is None or not hasattr(logger, "init_args"):
            return
        default = DEFAULT_LOGGER["init_args"]["save_dir"]
        if logger.class_path == DEFAULT_LOGGER["class_path"] and logger.init_args.get(
            "save_dir"
        ) in (default, None):
            logger.init_args.save_dir = os.fspath(root)

    @override
    def instantiate_classes(self) -> None:
        """Instantiate the configured classes; a refused argument value becomes a CLI error."""
        try:
            super().instantiate_classes()
        except (ValueError, TypeError) as err:
            if os.environ.get("JSONARGPARSE_DEBUG"):
                raise
            root = err
            # jsonargparse wraps the constructor's exception in its own; report the original.
            while (root.__cause__ or root.__context__) is not None:
                root = root.__cause__ or root.__context__  # type: ignore[assignment]
            self._parser(self.subcommand).error(
                f"invalid configuration: {type(root).__name__}: {root}"
            )

    def sweep(self, **kwargs: Any) -> list[dict[str, Any]]:
        """Run ``SpectralTrainer.sweep``; arguments it refuses end in a one-line ``error:``.

        LightningCLI runs a method of the CLI named like the subcommand instead of the
        trainer's. Refused: a missing checkpoint or a folder (``ckpt_path``), an empty or
        out-of-range ``compressions`` list, a checkpoint without band-limited layers.
        """
        try:
            check_checkpoint_path(kwargs["ckpt_path"])
            check_compressions(kwargs["compressions"])
        except (OSError, ValueError, TypeError) as err:
            self._refuse(err)
        try:
            return self.trainer.sweep(**kwargs)
        except SweepError as err:
            self._refuse(err)

    def _refuse(self, err: Exception) -> None:
        if os.environ.get("JSONARGPARSE_DEBUG"):
            raise err
        self._parser(self.subcommand).error(str(err))


def main(args: ArgsType = None, prog: str | None = None) -> None:
    """Entry point of ``lightning-spectral`` and ``python -m lightning_spectral``.

    Args:
        args: Arguments as on the command line (e.g. ``["fit", "--config", "cfg.yaml"]``);
            ``None`` reads ``sys.argv``.
        prog: Program name shown in usage messages (default: from ``sys.argv[0]``).
    """
    # `python -m` puts the working directory on sys.path, a console script does not: add it,
    # so that `--model my_model.MyNet` finds my_model.py the same way in both.
    cwd = os.getcwd()
    if not any(os.path.abspath(p or ".") == cwd for p in sys.path):
        sys.path.insert(0, cwd)
    SpectralLightningCLI(args=args, parser_kwargs={"prog": prog} if prog else None)


if __name__ == "__main__":
    main()
