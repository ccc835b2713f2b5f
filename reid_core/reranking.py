"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) of query-gallery distances.

``re_ranking`` is the whole method. Its stages are public so that a search over
``(k1, k2, lambda_value)`` computes each once: the joint distances once for every candidate,
the neighbours and k-reciprocal weights once per ``k1``, one running sum for all the ``k2`` of
a ``k1``, the Jaccard distance once per ``(k1, k2)``, and only the blend per ``lambda_value``.
Each stage does the float operations of one ``re_ranking`` call in the same order, so a
candidate scores exactly what ``re_ranking`` with its values gives.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from reid_core.errors import EvaluationError

_PAIRS_PER_BLOCK = 1 << 22  # (query non-zero, gallery row) pairs per Jaccard block: ~150 MB of indices


def _validate_re_ranking(k1: int, k2: int, lambda_value: float) -> None:
    for key, value in (("re_ranking.k1", k1), ("re_ranking.k2", k2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise EvaluationError(f"{key} must be an integer >= 1, got {value!r}")
    is_number = isinstance(lambda_value, (int, float, np.integer, np.floating)) and not isinstance(lambda_value, bool)
    if not is_number or not 0.0 <= float(lambda_value) <= 1.0:
        raise EvaluationError(f"re_ranking.lambda_value must be a number in [0, 1], got {lambda_value!r}")


def _reciprocal(neighbours: torch.Tensor) -> torch.Tensor:
    """Mask of the entries of ``neighbours`` (N, k) whose row is also among their neighbours."""
    n = neighbours.shape[0]
    back = neighbours[neighbours]  # (N, k, k): the neighbours of each neighbour
    return (back == torch.arange(n).view(n, 1, 1)).any(dim=2)


def _as_float_matrix(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A CPU float32 tensor of ``values`` (numpy arrays already float32 are not copied)."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().to(torch.float32)
    return torch.from_numpy(np.asarray(values, dtype=np.float32))


def joint_distances(q_g_dist: np.ndarray | torch.Tensor, q_q_dist: np.ndarray | torch.Tensor,
                    g_g_dist: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(d, Q)``: the (Q+G, Q+G) distances, queries first, each row divided by its maximum."""
    q_g, q_q, g_g = _as_float_matrix(q_g_dist), _as_float_matrix(q_q_dist), _as_float_matrix(g_g_dist)
    n_q, n_g = q_g.shape if q_g.dim() == 2 else (0, 0)
    if n_q * n_g == 0 or tuple(q_q.shape) != (n_q, n_q) or tuple(g_g.shape) != (n_g, n_g):
        raise EvaluationError(
            f"re_ranking needs q_g (Q, G), q_q (Q, Q), g_g (G, G) with Q, G >= 1, got "
            f"{tuple(q_g.shape)}, {tuple(q_q.shape)}, {tuple(g_g.shape)}"
        )
    dist = torch.cat([torch.cat([q_q, q_g], dim=1), torch.cat([q_g.t(), g_g], dim=1)], dim=0)
    if not bool(torch.isfinite(dist).all()):
        raise EvaluationError("re_ranking distances must be finite (found NaN or inf)")
    row_max = dist.amax(dim=1, keepdim=True)
    dist.div_(torch.where(row_max > 0, row_max, torch.ones_like(row_max)))
    return dist, n_q


def clamped(k1: int, k2: int, n: int) -> tuple[int, int, int]:
    """``(k1, k2, neighbours needed)`` over N = n images: k1 at most N - 1, k2 at most N."""
    k1, k2 = min(int(k1), n - 1), min(int(k2), n)
    return k1, k2, max(k1 + 1, k2)


def nearest_neighbours(dist: torch.Tensor, count: int) -> torch.Tensor:
    """(N, count) indices by ascending distance, each row's own index first."""
    # Ranking the diagonal first keeps p as its own nearest even when duplicates tie at 0.
    diagonal = dist.diagonal().clone()
    dist.diagonal().fill_(-math.inf)
    nearest = torch.topk(dist, count, dim=1, largest=False).indices  # ascending
    dist.diagonal().copy_(diagonal)
    return nearest


def reciprocal_weights(dist: torch.Tensor, nearest: torch.Tensor, k1: int) -> torch.Tensor:
    """Steps 1-3: the (N, N) ``V``; ``nearest`` holds at least k1 + 1 columns."""
    n = dist.shape[0]
    half = (k1 + 1) // 2
    arange = torch.arange(n)
    near_k1 = nearest[:, : k1 + 1]
    r_full = torch.where(_reciprocal(near_k1), near_k1, arange.unsqueeze(1))  # padded with p itself
    half_near = nearest[:, : half + 1]
    half_real = _reciprocal(half_near)
    r_half = torch.where(half_real, half_near, arange.unsqueeze(1))

    # Candidate q = r_full[p, a] joins with R(q, half) when >= 2/3 of that set lies in R(p, k1).
    candidate_sets = r_half[r_full]  # (N, k1+1, half+1)
    real = half_real[r_full]  # padding entries repeat q and must count once
    in_r = (candidate_sets.unsqueeze(3) == r_full.view(n, 1, 1, -1)).any(dim=3)
    accept = 3 * (in_r & real).sum(dim=2) >= 2 * real.sum(dim=2)
    joined = torch.where(accept.unsqueeze(2), candidate_sets, arange.view(n, 1, 1)).view(n, -1)
    members = torch.cat([r_full, joined], dim=1)  # duplicates write the same weight twice

    weights = torch.zeros(n, n)
    weights.scatter_(1, members, torch.exp(-dist.gather(1, members)))
    return weights


def query_expansions(weights: torch.Tensor, nearest: torch.Tensor,
                     k2_values: Sequence[int]) -> Iterator[tuple[int, torch.Tensor]]:
    """Step 4 for each k2, ascending: ``(k2, V averaged over each row's k2 nearest, itself first)``.

    One running sum serves every k2; the last one yielded is that sum, divided in place.
    ``nearest`` holds at least max(k2_values) columns.
    """
    wanted = sorted(set(k2_values))
    total = weights.index_select(0, nearest[:, 0])
    gathered = torch.empty_like(weights)
    added = 1
    for k2 in wanted:
        while added < k2:
            total.add_(torch.index_select(weights, 0, nearest[:, added], out=gathered))
            added += 1
        if k2 == wanted[-1]:
            del gathered
            yield k2, total.div_(k2)
        else:
            yield k2, total / k2


def jaccard_distance(weights: torch.Tensor, n_q: int) -> torch.Tensor:
    """Step 5: the (Q, G) Jaccard distance of the first n_q rows of V against the others.

    ``sum_j min(V[p,j], V[g,j])`` gains only where both are non-zero, so for each non-zero
    ``V[p,j]`` only the gallery rows non-zero in column j are visited (the paper's inverted
    index), in blocks of at most ``_PAIRS_PER_BLOCK`` pairs.
    """
    gallery = weights[n_q:]
    n_g, n = gallery.shape
    columns, rows = gallery.t().nonzero(as_tuple=True)  # the gallery's non-zeros, column by column
    values = gallery[rows, columns]
    column_start = torch.zeros(n + 1, dtype=torch.long)
    column_start[1:] = torch.bincount(columns, minlength=n).cumsum(0)
    q_rows, q_columns = weights[:n_q].nonzero(as_tuple=True)
    q_values = weights[q_rows, q_columns]
    pairs = column_start[q_columns + 1] - column_start[q_columns]
    pairs_before = pairs.cumsum(0) - pairs
    overlap = torch.zeros(n_q * n_g)
    first = 0
    while first < q_rows.numel():
        last = max(first + 1, int(torch.searchsorted(pairs_before, pairs_before[first] + _PAIRS_PER_BLOCK)))
        count = pairs[first:last]
        owner = torch.repeat_interleave(torch.arange(first, last), count)  # the query non-zero of each pair
        position = column_start[q_columns[owner]] + torch.arange(owner.numel()) + (pairs_before[first] - pairs_before[owner])
        overlap.index_add_(0, q_rows[owner] * n_g + rows[position], torch.minimum(q_values[owner], values[position]))
        first = last
    overlap = overlap.view(n_q, n_g)
    return 1.0 - overlap / (weights[:n_q].sum(dim=1, keepdim=True) + gallery.sum(dim=1) - overlap)


def blend(jaccard: torch.Tensor, dist: torch.Tensor, lambda_value: float) -> torch.Tensor:
    """Step 6: ``(1 - lambda_value) * jaccard + lambda_value * d``, query rows x gallery columns."""
    n_q = jaccard.shape[0]
    return torch.mul(jaccard, 1.0 - float(lambda_value)).add_(dist[:n_q, n_q:], alpha=float(lambda_value))


def re_ranking(
    q_g_dist: np.ndarray | torch.Tensor,
    q_q_dist: np.ndarray | torch.Tensor,
    g_g_dist: np.ndarray | torch.Tensor,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """k-reciprocal re-ranking (Zhong et al., CVPR 2017); returns the (Q, G) final distance.

    Over all N = Q + G images, with ``d`` the original distance divided by its row
    maximum (so the Gaussian kernel below is scale free) and ``N(p, k)`` the k nearest
    images of ``p``, ``p`` itself always included as the nearest:

    1. ``R(p, k) = {g in N(p, k+1) : p in N(g, k+1)}`` (k-reciprocal neighbours);
    2. ``R*(p)`` = ``R(p, k1)`` united with every ``R(q, ceil(k1/2))``, ``q in R(p, k1)``,
       having at least 2/3 of its members in ``R(p, k1)``;
    3. ``V[p, g] = exp(-d(p, g))`` for ``g`` in ``R*(p)``, else 0 (the paper's definition:
       rows are not rescaled to sum to 1);
    4. local query expansion: ``V[p]`` becomes the mean of ``V[q]`` over the k2 nearest
       ``q`` of ``p`` (``p`` included);
    5. Jaccard distance ``dJ(p, g) = 1 - sum_j min(V[p,j], V[g,j]) / sum_j max(V[p,j], V[g,j])``;
    6. result ``(1 - lambda_value) * dJ + lambda_value * d``, query rows x gallery columns.

    ``k1`` is clamped to N - 1 and ``k2`` to N. Memory is O(N^2): up to four float32
    N x N matrices at once (1.5 GB each for Market-1501's N = 19,281). Time is O(N^2) for the
    neighbour search plus O(Q m^2 G / N) for the Jaccard sums, m the mean number of non-zeros
    in a row of V. ``lambda_value = 1`` returns ``d``, whose order within each query row
    is that of ``q_g_dist``.
    """
    _validate_re_ranking(k1, k2, lambda_value)
    dist, n_q = joint_distances(q_g_dist, q_q_dist, g_g_dist)
    k1, k2, count = clamped(k1, k2, dist.shape[0])
    nearest = nearest_neighbours(dist, count)
    weights = reciprocal_weights(dist, nearest, k1)
    (_, weights), = query_expansions(weights, nearest, (k2,))  # running it to the end frees the unexpanded V
    return blend(jaccard_distance(weights, n_q), dist, lambda_value).numpy()
