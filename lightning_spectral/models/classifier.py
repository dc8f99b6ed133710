"""A generic LightningModule training any reference network (or your own) as a classifier."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from lightning_spectral._lightning_compat import LightningModule, given_hyperparameters
from lightning_spectral.models.registry import build_network

__all__ = ["SpectralClassifier"]


class SpectralClassifier(LightningModule):
    """Cross-entropy classifier around a network, with torchmetrics accuracy.

    The network is a plain ``nn.Module`` mapping a batch of inputs to ``(B, num_classes)``
    logits: one of the reference networks chosen by name (``"rippel_generic"``,
    ``"rippel_deep"``, ``"spectral_pooling_cnn"``, ``"fcn"``, ``"resnet18"``, see
    :data:`lightning_spectral.models.NETWORKS`) with ``network_kwargs``, or any module
    instance (from LightningCLI: ``--model.network.class_path=...``). The package's callbacks
    rewrite the network's layers; nothing here is spectral itself.

    Logged metrics: ``train_loss`` (per step and epoch), ``train_acc``, ``val_loss``,
    ``val_acc``, ``test_loss``, ``test_acc`` (per epoch). ``predict_step`` returns logits.

    Hyperparameters are saved for ``load_from_checkpoint``: a network given by name (or
    through LightningCLI) is rebuilt from them; a module instance passed directly is not
    saved as a hyperparameter, so pass it again when loading.

    Args:
        network: A network name from ``NETWORKS`` or an ``nn.Module``.
        network_kwargs: Constructor arguments when ``network`` is a name, e.g.
            ``{"in_channels": 1, "num_classes": 10, "input_size": 28}``.
        num_classes: Number of classes; defaults to the network's ``num_classes`` attribute.
            Passed on to a network given by name unless ``network_kwargs`` sets it.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (with Nesterov momentum when
            ``momentum > 0``).
        lr: Learning rate.
        weight_decay: Weight decay.
        momentum: SGD momentum.
        lr_schedule: ``"none"``; ``"cosine"`` (annealed to 0 over all training steps);
            ``"multistep"`` (multiplied by ``lr_gamma`` at each epoch in ``lr_milestones``, as
            Rippel et al. anneal by 10 at epochs 100 and 140).
        lr_milestones: Epochs for ``"multistep"``.
        lr_gamma: Factor for ``"multistep"``.
        label_smoothing: Label smoothing of the cross-entropy, in ``[0, 1)``.
    """

    def __init__(
        self,
        network: nn.Module | str,
        network_kwargs: dict[str, Any] | None = None,
        num_classes: int | None = None,
        optimizer: Literal["adam", "adamw", "sgd"] = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        lr_schedule: Literal["none", "cosine", "multistep"] = "none",
        lr_milestones: list[int] | None = None,
        lr_gamma: float = 0.1,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(network, str):
            kwargs = dict(network_kwargs or {})
            # The CLI links the data's class count into `num_classes`; a named network gets it too.
            if num_classes is not None:
                kwargs.setdefault("num_classes", num_classes)
            self.network = build_network(network, **kwargs)
        elif isinstance(network, nn.Module):
            if network_kwargs:
                raise ValueError("network_kwargs applies only when network is given by name")
            self.network = network
        else:
            raise TypeError(f"network must be a name or an nn.Module, got {type(network)}")
        if optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {optimizer!r}")
        if lr_schedule not in ("none", "cosine", "multistep"):
            raise ValueError(
                f"lr_schedule must be 'none', 'cosine' or 'multistep', got {lr_schedule!r}"
            )
        if lr_schedule == "multistep" and not lr_milestones:
            raise ValueError("lr_schedule='multistep' needs lr_milestones, e.g. [100, 140]")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        network_classes = getattr(self.network, "num_classes", None)
        if num_classes is None:
            num_classes = network_classes
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                "num_classes must be an int >= 2 (given, or the network's num_classes "
                f"attribute), got {num_classes!r}"
            )
        if network_classes is not None and network_classes != num_classes:
            raise ValueError(
                f"num_classes={num_classes} but the network has num_classes={network_classes}"
            )
        self.num_classes = num_classes
        self.optimizer_name = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.lr_schedule = lr_schedule
        self.lr_milestones = list(lr_milestones or [])
        self.lr_gamma = lr_gamma
        self.label_smoothing = label_smoothing

        # A live module would be pickled into the checkpoint's hyperparameters (and its
        # weights are in the state dict anyway); a name or CLI config is plain data and kept.
        # Under LightningCLI the hyperparameters are the parsed config (a nested network is a
        # plain class_path dict), not the live arguments.
        from_cli = given_hyperparameters() is not None
        ignore = ["network"] if isinstance(network, nn.Module) and not from_cli else None
        self.save_hyperparameters(ignore=ignore)

        # micro: the share of correct predictions (torchmetrics' default averages per class)
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the network.

        Args:
            x: A batch of inputs, e.g. ``(B, C, H, W)`` images or ``(B, C, L)`` series.

        Returns:
            Logits, shape ``(B, num_classes)``.
        """
        return self.network(x)

    def _shared_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, metric: MulticlassAccuracy
    ) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        metric(logits, y)
        on_step = stage == "train"
        # Epoch means are reduced across ranks; per-step training values stay local (no sync).
        self.log(
            f"{stage}_loss",
            loss,
            on_step=on_step,
            on_epoch=True,
            prog_bar=True,
            sync_dist=not on_step,
        )
        self.log(f"{stage}_acc", metric, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        """Cross-entropy on a training batch ``(x, y)``; logs ``train_loss``/``train_acc``."""
        return self._shared_step(batch, "train", self.train_acc)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Logs ``val_loss``/``val_acc`` for a batch ``(x, y)``."""
        self._shared_step(batch, "val", self.val_acc)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Logs ``test_loss``/``test_acc`` for a batch ``(x, y)``."""
        self._shared_step(batch, "test", self.test_acc)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        """Logits for a batch ``x`` or ``(x, y)``.

        Returns:
            Logits, shape ``(B, num_classes)``.
        """
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(x)

    def configure_optimizers(self) -> Any:
        """The optimizer (and learning-rate schedule) named by the hyperparameters."""
        params = self.parameters()
        if self.optimizer_name == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params,
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                nesterov=self.momentum > 0,
            )
        elif self.optimizer_name == "adamw":
            optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        else:
            optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.lr_schedule == "none":
            return optimizer
        if self.lr_schedule == "cosine":
            steps = max(int(self.trainer.estimated_stepping_batches), 1)
            scheduler: Any = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
            interval = "step"
        else:
            scheduler = torch.optim.lr_scheduler.MultiStepLR(
                optimizer, milestones=self.lr_milestones, gamma=self.lr_gamma
            )
            interval = "epoch"
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": interval},
        }
