"""Choosing k-reciprocal re-ranking values on one query/gallery: every value of a grid, and none.

Each stage of ``reid_core.reranking`` is computed once for all the candidates that share it:
the neighbours and k-reciprocal weights once per ``k1``, one running sum for all its ``k2``,
the Jaccard distance once per ``(k1, k2)``; each ``lambda_value`` is only a blend and a
ranking. A candidate's KPIs are exactly those ``retrieval_metrics`` (hence
``re_identification evaluate``) gives with its values on the same embeddings.

No re-ranking is always the first candidate, and a re-ranked one is chosen only when it
scores strictly higher on the metric: ties go to no re-ranking, then to the earlier candidate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from reid_core.errors import EvaluationError
from reid_core.evaluation import KPI_NAMES, MAX_RANK, Embeddings, RetrievalResult, has_valid_match
from reid_core.metrics import compute_distance_matrix, evaluate_rank
from reid_core.reranking import (
    blend,
    clamped,
    jaccard_distance,
    joint_distances,
    nearest_neighbours,
    query_expansions,
    reciprocal_weights,
)


@dataclass(frozen=True)
class RerankingCandidate:
    re_ranking: bool
    k1: int | None  # None without re-ranking
    k2: int | None
    lambda_value: float | None
    kpis: dict[str, float]

    def section(self) -> dict[str, Any]:
        """The spec's ``re_ranking`` keys that reproduce this candidate."""
        if not self.re_ranking:
            return {"re_ranking": False}
        return {"re_ranking": True, "k1": self.k1, "k2": self.k2, "lambda_value": self.lambda_value}


@dataclass(frozen=True)
class RerankingSearch:
    metric: str
    candidates: tuple[RerankingCandidate, ...]  # no re-ranking first, then the grid in the order scored
    chosen: RerankingCandidate
    seconds: float

    @property
    def without(self) -> RerankingCandidate:
        return self.candidates[0]


@contextmanager
def _one_thread() -> Iterator[None]:
    # thousands of small row operations: fork-join threads stall for milliseconds whenever another process holds a core
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _kpis(distmat: np.ndarray, query: Embeddings, gallery: Embeddings) -> dict[str, float]:
    cmc, mean_ap, mean_inp = evaluate_rank(distmat, query.pids, gallery.pids, query.camids, gallery.camids,
                                           max_rank=MAX_RANK)
    return RetrievalResult(cmc, mean_ap, mean_inp, None).kpis()


def _plan(k1_values: Sequence[int], k2_values: Sequence[int], lambda_values: Sequence[float],
          n: int) -> dict[tuple[int, int], dict[int, list[tuple[int, int, float]]]]:
    """Candidates grouped by what they share: ``(k1, neighbours) -> k2 -> [(k1, k2, lambda) as given]``.

    Values equal once clamped to the N images are one candidate (the first as given).
    """
    plan: dict[tuple[int, int], dict[int, list[tuple[int, int, float]]]] = {}
    seen: set[tuple[int, int, float]] = set()
    for k1 in k1_values:
        for k2 in k2_values:
            k1_used, k2_used, count = clamped(k1, k2, n)
            for lambda_value in lambda_values:
                if (k1_used, k2_used, float(lambda_value)) in seen:
                    continue
                seen.add((k1_used, k2_used, float(lambda_value)))
                group = plan.setdefault((k1_used, count), {})
                group.setdefault(k2_used, []).append((int(k1), int(k2), float(lambda_value)))
    return plan


def search_re_ranking(query: Embeddings, gallery: Embeddings, k1_values: Sequence[int], k2_values: Sequence[int],
                      lambda_values: Sequence[float], metric: str = "mAP") -> RerankingSearch:
    """Score no re-ranking and every ``(k1, k2, lambda_value)`` of the grid; choose by ``metric``."""
    if metric not in KPI_NAMES:
        raise EvaluationError(f"metric: expected one of {', '.join(KPI_NAMES)}, got {metric!r}")
    if not has_valid_match(query, gallery):
        raise EvaluationError("no query identity appears in the gallery under another camera: nothing to score")
    start = time.perf_counter()
    q_g = compute_distance_matrix(query.features, gallery.features, normalize=True)
    candidates = [RerankingCandidate(False, None, None, None, _kpis(q_g.numpy(), query, gallery))]
    dist, n_q = joint_distances(
        q_g,
        compute_distance_matrix(query.features, query.features, normalize=True),
        compute_distance_matrix(gallery.features, gallery.features, normalize=True),
    )
    with _one_thread():
        for (k1, count), by_k2 in _plan(k1_values, k2_values, lambda_values, dist.shape[0]).items():
            nearest = nearest_neighbours(dist, count)
            weights = reciprocal_weights(dist, nearest, k1)
            for k2, expanded in query_expansions(weights, nearest, list(by_k2)):
                jaccard = jaccard_distance(expanded, n_q)
                for given_k1, given_k2, lambda_value in by_k2[k2]:
                    kpis = _kpis(blend(jaccard, dist, lambda_value).numpy(), query, gallery)
                    candidates.append(RerankingCandidate(True, given_k1, given_k2, lambda_value, kpis))
    chosen = candidates[0]
    for candidate in candidates[1:]:
        if candidate.kpis[metric] > chosen.kpis[metric]:
            chosen = candidate
    return RerankingSearch(metric, tuple(candidates), chosen, time.perf_counter() - start)
