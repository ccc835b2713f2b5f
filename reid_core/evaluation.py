"""From a model and query/gallery images to retrieval KPIs (shared by validation and evaluate)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from reid_core.config import ReRankingConfig
from reid_core.data.market1501 import DISTRACTOR_PID
from reid_core.metrics import compute_distance_matrix, evaluate_rank
from reid_core.modeling.baseline import ReidBaseline
from reid_core.reranking import re_ranking

KPI_NAMES = ("cmc_rank_1", "cmc_rank_5", "cmc_rank_10", "mAP", "mINP")
MAX_RANK = 50
CMC_RANKS = 20  # the CMC curve's first ranks, written with each validation/evaluation status line


@dataclass(frozen=True)
class Embeddings:
    features: torch.Tensor  # (N, D) float32 on CPU
    pids: np.ndarray
    camids: np.ndarray


@dataclass(frozen=True)
class RetrievalResult:
    cmc: np.ndarray
    mAP: float
    mINP: float
    distmat: np.ndarray | None  # (Q, G); None when query and gallery share no identity

    def kpis(self) -> dict[str, float]:
        def rank(k: int) -> float:
            return float(self.cmc[min(k, len(self.cmc)) - 1]) if len(self.cmc) else 0.0

        return {"cmc_rank_1": rank(1), "cmc_rank_5": rank(5), "cmc_rank_10": rank(10),
                "mAP": float(self.mAP), "mINP": float(self.mINP)}


@torch.inference_mode()
def extract_embeddings(model: ReidBaseline, loader: DataLoader, device: torch.device) -> Embeddings:
    model.eval()
    features, pids, camids = [], [], []
    autocast = torch.autocast(device.type, enabled=device.type == "cuda")
    for images, _labels, batch_pids, batch_camids, _index in loader:
        with autocast:
            features.append(model.embed(images.to(device, non_blocking=True)).float().cpu())
        pids.append(batch_pids.numpy())
        camids.append(batch_camids.numpy())
    return Embeddings(torch.cat(features), np.concatenate(pids), np.concatenate(camids))


def has_valid_match(query: Embeddings, gallery: Embeddings) -> bool:
    """Whether some query identity appears in the gallery under another camera."""
    cameras: dict[int, set[int]] = {}
    for pid, camid in zip(gallery.pids.tolist(), gallery.camids.tolist()):
        cameras.setdefault(pid, set()).add(camid)
    return any(
        pid > DISTRACTOR_PID and cameras.get(pid, set()) - {camid}
        for pid, camid in zip(query.pids.tolist(), query.camids.tolist())
    )


def retrieval_metrics(query: Embeddings, gallery: Embeddings, rerank: ReRankingConfig | None = None,
                      max_rank: int = MAX_RANK) -> RetrievalResult:
    """CMC, mAP and mINP of query against gallery (Market-1501 protocol, optional re-ranking).

    Zeros (not an error) when no query has a valid match; callers warn about that up front.
    """
    if not has_valid_match(query, gallery):
        return RetrievalResult(np.zeros(min(max_rank, len(gallery.pids))), 0.0, 0.0, None)
    distmat = compute_distance_matrix(query.features, gallery.features, normalize=True)
    if rerank is not None and rerank.re_ranking:
        distmat = re_ranking(
            distmat.numpy(),
            compute_distance_matrix(query.features, query.features, normalize=True).numpy(),
            compute_distance_matrix(gallery.features, gallery.features, normalize=True).numpy(),
            k1=rerank.k1, k2=rerank.k2, lambda_value=rerank.lambda_value,
        )
    distmat = np.asarray(distmat.numpy() if isinstance(distmat, torch.Tensor) else distmat)
    cmc, mean_ap, mean_inp = evaluate_rank(distmat, query.pids, gallery.pids, query.camids, gallery.camids,
                                           max_rank=max_rank)
    return RetrievalResult(cmc, mean_ap, mean_inp, distmat)
