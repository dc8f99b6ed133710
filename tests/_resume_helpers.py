"""A data loader that Lightning can resume in the middle of an epoch, for ``test_resume.py``.

Lightning restores its loop counters from a checkpoint (``fit_loop.epoch_loop.batch_progress``:
the resumed run continues at the saved ``batch_idx``), but a plain ``DataLoader`` starts its
epoch again at the first batch: the resumed epoch would see batches ``0, 1, ...`` under the
indices ``k, k + 1, ...``. Only a loader with ``state_dict``/``load_state_dict`` (Lightning's
``_Stateful``, e.g. torchdata's ``StatefulDataLoader``) is restored, before its iterator is
created. :class:`ResumableLoader` is the smallest such loader: it counts the batches it has
handed out in the current epoch and skips that many after ``load_state_dict``. Lightning does
not prefetch from sized loaders, so the count saved with a checkpoint is exactly the number of
batches trained on in that epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader


class ResumableLoader(DataLoader):
    """A ``DataLoader`` (no shuffling) whose position in the epoch is saved with checkpoints."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.served = 0
        self.skip = 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        skip, self.skip = self.skip, 0
        self.served = skip
        for index, batch in enumerate(super().__iter__()):
            if index >= skip:
                self.served += 1
                yield batch

    def state_dict(self) -> dict[str, int]:
        return {"served": self.served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        served = int(state["served"])
        # Saved at an epoch's last batch: the next epoch starts from its first batch.
        self.skip = served if served < len(self) else 0
