"""The epoch loop (early stopping: :mod:`probekit.early_stopping`) shared by probekit's trainable
torch encoders, and their pickling."""

from __future__ import annotations

from typing import Any, Callable

from probekit.early_stopping import BestEpoch


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
    stopper = BestEpoch(patience if has_validation else None)
    progress = tqdm(range(epochs), desc=desc, unit="epoch", disable=None)
    for epoch in progress:
        record = {"epoch": epoch + 1, **run_epoch()}
        history.append(record)
        progress.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k != "epoch"})
        if stopper.update(epoch + 1, record.get(monitor, record[fallback]), model):
            break
    progress.close()
    stopper.restore(model)
    model.eval()
    return history, stopper.best_epoch


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
