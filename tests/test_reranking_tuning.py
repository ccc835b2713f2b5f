"""The grid search over re-ranking values.

The oracle for the search is evaluation itself: every candidate must score exactly what
``retrieval_metrics`` (one full ``re_ranking`` per candidate) gives with its values.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid_core.config import ReRankingConfig
from reid_core.errors import EvaluationError
from reid_core.evaluation import KPI_NAMES, Embeddings, retrieval_metrics
from reid_core.reranking_search import search_re_ranking


def identity_embeddings(seed: int, n_ids: int = 8, per_query: int = 2, per_gallery: int = 5, noise: float = 1.3,
                        dim: int = 32) -> tuple[Embeddings, Embeddings]:
    """Identity centre + noise; queries on camera 0, gallery on camera 1 (every query has matches)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids + 1, dim))
    q_pids, g_pids = np.repeat(np.arange(1, n_ids + 1), per_query), np.repeat(np.arange(1, n_ids + 1), per_gallery)

    def features(pids: np.ndarray) -> torch.Tensor:
        return torch.tensor(centres[pids] + noise * rng.standard_normal((pids.size, dim)), dtype=torch.float32)

    return (Embeddings(features(q_pids), q_pids, np.zeros(q_pids.size, dtype=np.int64)),
            Embeddings(features(g_pids), g_pids, np.ones(g_pids.size, dtype=np.int64)))


# --- the search ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_every_candidate_scores_exactly_what_evaluation_with_its_values_gives(seed):
    query, gallery = identity_embeddings(seed)
    # 60 > N - 1 and 45 > N are clamped; k2 = 9 > k1 + 1 = 4 needs more neighbours than k1
    search = search_re_ranking(query, gallery, [3, 60], [1, 9, 45], [0.0, 0.3])
    without = search.candidates[0]
    assert not without.re_ranking and without.kpis == retrieval_metrics(query, gallery).kpis()
    for candidate in search.candidates[1:]:
        values = ReRankingConfig(re_ranking=True, k1=candidate.k1, k2=candidate.k2, lambda_value=candidate.lambda_value)
        assert candidate.kpis == retrieval_metrics(query, gallery, values).kpis(), candidate
    assert len(search.candidates) == 1 + 2 * 3 * 2


def test_values_equal_once_clamped_are_one_candidate():
    query, gallery = identity_embeddings(0, n_ids=3, per_gallery=3)  # N = 15 images
    search = search_re_ranking(query, gallery, [14, 20, 99], [15, 50], [0.2])
    assert [(c.k1, c.k2) for c in search.candidates[1:]] == [(14, 15)]


@pytest.mark.parametrize("metric", KPI_NAMES)
def test_the_choice_is_the_best_candidate_with_ties_to_no_re_ranking(metric):
    query, gallery = identity_embeddings(2, noise=1.6)
    threads = torch.get_num_threads()
    search = search_re_ranking(query, gallery, [3, 6, 10], [1, 3], [0.0, 0.5], metric)
    assert torch.get_num_threads() == threads
    best = max(c.kpis[metric] for c in search.candidates)
    assert search.chosen.kpis[metric] == best
    assert search.chosen.re_ranking == (search.without.kpis[metric] < best)
    assert search.chosen == next(c for c in search.candidates if c.kpis[metric] == best)  # the first of equals


def test_re_ranking_is_chosen_when_matches_are_mutual_neighbours():
    query, gallery = identity_embeddings(3, n_ids=12, per_gallery=8, noise=1.4)
    search = search_re_ranking(query, gallery, [10, 20], [3, 6], [0.3])
    assert search.chosen.re_ranking and search.chosen.kpis["mAP"] > search.without.kpis["mAP"]
    assert search.chosen.section() == {"re_ranking": True, "k1": search.chosen.k1, "k2": search.chosen.k2,
                                       "lambda_value": 0.3}


def test_a_gallery_without_matches_is_refused_in_one_line():
    query, gallery = identity_embeddings(0)
    others = Embeddings(gallery.features, gallery.pids + 100, gallery.camids)
    with pytest.raises(EvaluationError, match="nothing to score"):
        search_re_ranking(query, others, [10], [3], [0.3])
