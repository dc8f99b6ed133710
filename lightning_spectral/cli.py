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

* The logger is a ``TensorBoardLogger`` writing to ``./lightning_logs/version_<n>``
  (``--trainer.logger.init_args.save_dir`` moves it, ``--trainer.logger false`` turns it off).
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
``sweep/<metric>`` curves to TensorBoard at ``step = compression in percent``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any, Literal

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
from lightning_spectral.sweep import compression_sweep

__all__ = ["DEFAULT_LOGGER", "SpectralLightningCLI", "SpectralTrainer", "main"]

#: The default ``trainer.logger``: TensorBoard event files under ``./lightning_logs``.
DEFAULT_LOGGER: dict[str, Any] = {
    "class_path": f"{NAMESPACE}.loggers.TensorBoardLogger",
    "init_args": {"save_dir": ".", "name": "lightning_logs"},
}

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

        Returns:
            One row per compression, see
            :func:`lightning_spectral.sweep.compression_sweep`.
        """
        if not os.path.isfile(ckpt_path):
            raise FileNotFoundError(f"sweep: no checkpoint file at ckpt_path={ckpt_path!r}")
        hparams = read_checkpoint(ckpt_path).get("hyper_parameters")
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


def main(args: ArgsType = None, prog: str | None = None) -> None:
    """Entry point of ``lightning-spectral`` and ``python -m lightning_spectral``.

    Args:
        args: Arguments as on the command line (e.g. ``["fit", "--config", "cfg.yaml"]``);
            ``None`` reads ``sys.argv``.
        prog: Program name shown in usage messages (default: from ``sys.argv[0]``).
    """
    SpectralLightningCLI(args=args, parser_kwargs={"prog": prog} if prog else None)


if __name__ == "__main__":
    main()
