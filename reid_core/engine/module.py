"""The LightningModule of a ReID training run.

Manual optimisation: one step updates the network with its optimizer and, when the center
loss is on, the centres with their own SGD at ``center_lr`` (their gradient is divided by the
loss weight, so the weight balances the network's objective without slowing the centres).
The learning rate is set before each step from the fractional epoch (see ``reid_core.optim``).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from reid_core.checkpoints import FORMAT
from reid_core.config import ExperimentConfig, spec_to_dict
from reid_core.evaluation import CMC_RANKS, Embeddings, retrieval_metrics
from reid_core.losses import ReidLoss, loss_terms
from reid_core.modeling.baseline import ReidBaseline
from reid_core.optim import apply_lr_factor, apply_spec_rates, build_optimizer, lr_factor


NAN_CHECK_EVERY_GPU_STEPS = 25


class NonFiniteLossError(RuntimeError):
    """Training diverged (NaN or infinite loss)."""


class ReidModule(pl.LightningModule):
    def __init__(self, spec: ExperimentConfig, num_classes: int, num_query: int) -> None:
        super().__init__()
        self.spec = spec
        self.model = ReidBaseline(spec, num_classes)
        self.criterion = ReidLoss(loss_terms(spec), num_classes, self.model.embedding_dim)
        self.num_query = num_query
        self.automatic_optimization = False
        self.validation_kpis: tuple[int, dict[str, float]] | None = None
        self.validation_cmc: tuple[int, list[float]] | None = None
        self._loss_sum: torch.Tensor | None = None
        self._loss_count = 0
        self._val_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        optimizers = [build_optimizer(self.spec, self.model)]
        if self.criterion.center is not None:
            optimizers.append(torch.optim.SGD(self.criterion.center.parameters(), lr=self.spec.train.optim.center_lr))
        return optimizers

    def on_train_start(self) -> None:
        # a resumed run restores the optimizer's old rates; the spec of this run decides them
        optimizers = self.optimizers()
        apply_spec_rates(self.spec, (optimizers if isinstance(optimizers, list) else [optimizers])[0].optimizer)

    def on_train_epoch_start(self) -> None:
        self._loss_sum = torch.zeros((), device=self.device)
        self._loss_count = 0

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        images, labels = batch[0], batch[1]
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        network_opt = optimizers[0]
        batches = max(self.trainer.num_training_batches, 1)
        apply_lr_factor(network_opt.optimizer, lr_factor(self.spec, self.current_epoch + batch_idx / batches))

        logits, features = self.model(images, labels)
        loss, _parts = self.criterion(logits, features, labels)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.spec.train.grad_clip > 0:
            self.clip_gradients(network_opt, gradient_clip_val=self.spec.train.grad_clip,
                                gradient_clip_algorithm="norm")
        network_opt.step()
        if len(optimizers) > 1:
            weight = self.criterion.terms.center_weight
            for parameter in self.criterion.center.parameters():
                if parameter.grad is not None:
                    parameter.grad.mul_(1.0 / weight)
            optimizers[1].step()

        self._loss_sum += loss.detach()
        self._loss_count += 1
        if self.device.type == "cpu" or batch_idx % NAN_CHECK_EVERY_GPU_STEPS == 0:  # a check syncs a GPU
            self._check_finite(batch_idx)
        return loss.detach()

    def _check_finite(self, batch_idx: int) -> None:
        if not torch.isfinite(self._loss_sum):
            raise NonFiniteLossError(
                f"NaN loss: training diverged by epoch {self.current_epoch} batch {batch_idx} "
                f"(lower train.optim.base_lr or set train.grad_clip)"
            )

    @property
    def epoch_loss(self) -> float | None:
        """Mean training loss of the current epoch so far (None before the first step)."""
        if not self._loss_count:
            return None
        self._check_finite(self._loss_count)
        return float(self._loss_sum.item() / self._loss_count)

    # validation: embeddings of query + gallery, gathered across ranks, ranked at epoch end
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, _labels, pids, camids, index = batch
        self._val_outputs.append((self.model.embed(images).float(), pids, camids, index))

    def on_validation_epoch_end(self) -> None:
        features = torch.cat([o[0] for o in self._val_outputs])
        pids, camids, index = (torch.cat([o[i] for o in self._val_outputs]) for i in (1, 2, 3))
        self._val_outputs.clear()
        if self.trainer.world_size > 1:
            features, pids, camids, index = (self.all_gather(t).flatten(0, 1) for t in (features, pids, camids, index))
        order = _first_occurrence_order(index)
        features, pids, camids = features[order].cpu(), pids[order].numpy(force=True), camids[order].numpy(force=True)
        q = self.num_query
        result = retrieval_metrics(Embeddings(features[:q], pids[:q], camids[:q]),
                                   Embeddings(features[q:], pids[q:], camids[q:]), self.spec.re_ranking)
        self.validation_kpis = (self.current_epoch, result.kpis())
        self.validation_cmc = (self.current_epoch, [round(float(v), 6) for v in result.cmc[:CMC_RANKS]])

    # checkpoint content beyond Lightning's: the spec, classes, metrics, RNG states
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["reid_format"] = FORMAT
        checkpoint["reid_spec"] = spec_to_dict(self.spec, "train")
        checkpoint["reid_num_classes"] = self.model.num_classes
        checkpoint["reid_embedding_dim"] = self.model.embedding_dim
        kpis = dict(self.validation_kpis[1]) if self.validation_kpis and self.validation_kpis[0] == self.current_epoch else {}
        if self.epoch_loss is not None:
            kpis["train_loss"] = self.epoch_loss
        checkpoint["reid_metrics"] = kpis
        checkpoint["reid_rng"] = _capture_rng()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "reid_rng" in checkpoint:
            _restore_rng(checkpoint["reid_rng"])


def _first_occurrence_order(index: torch.Tensor) -> torch.Tensor:
    """Positions that sort gathered samples by dataset index, dropping the padding duplicates."""
    index = index.cpu()
    order = torch.argsort(index, stable=True)
    keep = torch.ones_like(order, dtype=torch.bool)
    keep[1:] = index[order][1:] != index[order][:-1]
    return order[keep]


def _capture_rng() -> dict[str, Any]:
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
    }


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))

