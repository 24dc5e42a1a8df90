"""The epoch loop with early stopping shared by probekit's trainable torch encoders."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable


def train_epochs(model: Any, run_epoch: Callable[[], dict], epochs: int, patience: int, monitor: str,
                 fallback: str, has_validation: bool, desc: str) -> tuple[list[dict], int]:
    """Run ``run_epoch`` up to ``epochs`` times; keep the weights of the best epoch.

    ``run_epoch()`` trains one epoch and returns its figures (losses, accuracies). The epoch
    with the lowest ``monitor`` figure (``fallback`` when there is no validation slice) wins;
    with a validation slice, training stops after ``patience`` epochs without improvement.
    Returns the per-epoch history (each entry with its ``epoch`` number) and the best epoch.
    A tqdm bar shows progress on a terminal.
    """
    from tqdm.auto import tqdm

    history: list[dict] = []
    best_loss, best_state, best_epoch, waited = math.inf, None, 0, 0
    progress = tqdm(range(epochs), desc=desc, unit="epoch", disable=None)
    for epoch in progress:
        record = {"epoch": epoch + 1, **run_epoch()}
        history.append(record)
        progress.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k != "epoch"})
        monitored = record.get(monitor, record[fallback])
        if monitored < best_loss - 1e-4:
            best_loss, best_epoch, waited = monitored, epoch + 1, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if has_validation and waited >= patience:
                break
    progress.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history, best_epoch


class TorchModelPickling:
    """Pickle support for encoders whose fitted torch module ``model_`` has a lazily built class.

    The module's class only exists once torch is imported, so the pickle stores the weights
    and :meth:`_empty_model` rebuilds the module on load.
    """

    def _empty_model(self) -> Any:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if "model_" in state:
            state["model_"] = {k: v.clone() for k, v in self.model_.state_dict().items()}
        return state

    def __setstate__(self, state: dict) -> None:
        weights = state.get("model_")
        self.__dict__.update(state)
        if isinstance(weights, dict):
            self.model_ = self._empty_model()
            self.model_.load_state_dict(weights)
            self.model_.eval()
