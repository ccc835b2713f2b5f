"""Re-identification evaluation: distance matrix, CMC / mAP / mINP.

k-reciprocal re-ranking lives in ``reid_core.reranking`` and is re-exported here.

Protocol (the standard Market-1501 evaluation), per query ``q``:

* gallery images with pid ``-1`` are junk and are removed for every query;
* gallery images with the same pid AND the same camera as ``q`` are removed (they are
  near-duplicates of the query and would make the task trivial);
* the remaining gallery images with ``q``'s pid are its matches ("positives"); every
  other remaining image, distractors (pid ``0``) included, is a non-match;
* a query with pid ``0`` or ``-1``, or with no match left, is skipped: it counts in
  no average;
* the gallery is ranked by ascending distance. TIES are pessimistic: a non-match at
  exactly the same distance as a match is ranked before it, so the figures never
  depend on gallery order. Equal-distance matches take consecutive ranks; whichever
  order they take, the set of ranks is the same, hence so are CMC, AP and mINP.

With ``rank_j`` the 1-indexed rank of the ``j``-th match (``j = 1..n``) among the
remaining gallery images:

* CMC@k: fraction of the valid queries with ``rank_1 <= k``;
* AP = ``mean_j (j / rank_j)`` over the whole ranking (no cut-off);
* INP = ``n / rank_n`` (Ye et al., "Deep Learning for Person Re-identification: A
  Survey and Outlook", 2021); mAP and mINP are the means over valid queries.

``evaluate_rank`` never sorts a full row. For each query it sorts only its few match
distances, then counts, for every match, the valid non-matches at a distance ``<=``
its own: ``rank_j = #(non-matches with d <= d_j) + j``. Only non-matches no farther
than the query's farthest match can count: when all its matches sit at one distance,
counting those is the answer; when they are few (a decent model) they are ranked one
by one; otherwise every entry is put in one of ``_BINS`` per-row bins by a
monotone formula and only those sharing a bin with a match are compared exactly.
Query rows go in chunks through reused buffers, so the extra memory is a small fraction
of the distance matrix. The counting is single-threaded numpy on purpose: measured on the
2-core target machine, torch's fork-join parallel ops each stalled for milliseconds
whenever another process held a core, which cost more than the second core saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np
import torch

from reid_core.errors import EvaluationError
from reid_core.reranking import re_ranking

__all__ = ["compute_distance_matrix", "evaluate_rank", "re_ranking"]

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[int]]

# Distances handled per chunk of query rows: ~4M entries keep the buffers near 50 MB.
_CHUNK_ELEMENTS = 1 << 22
# When a chunk's candidate non-matches (distance <= the row's farthest match) are at most
# this fraction of the entries of its rows left to count, they are ranked one by one;
# above it, binning every entry is cheaper.
_SPARSE_MAX_FRACTION = 1.0 / 8.0
# Bins per row on the binned route: finer bins leave fewer entries to compare exactly.
_BINS = 4096


def _as_distances(distmat: np.ndarray | torch.Tensor) -> np.ndarray:
    """Return ``distmat`` as a 2-D float32/float64 numpy array, sharing memory when it can."""
    if isinstance(distmat, torch.Tensor):
        tensor = distmat.detach().cpu()
        if tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.to(torch.float64)
        array = tensor.numpy()
    else:
        array = np.asarray(distmat)
    if array.dtype not in (np.float32, np.float64):
        # float64 holds every float16 / int32 value exactly, so the ranking is unchanged.
        array = array.astype(np.float64)
    if array.ndim != 2:
        raise EvaluationError(f"distmat must be 2-D (queries x gallery), got shape {array.shape}")
    return array


def _as_ids(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D int64 array, or raise naming ``name``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.size == 0:
        array = array.astype(np.int64)
    if array.ndim != 1:
        raise EvaluationError(f"{name} must be 1-D, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise EvaluationError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _match_table(q_pids: np.ndarray, g_pids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group gallery columns by pid > 0.

    Returns ``(table, filled, group)``: row ``u`` of ``table`` lists the gallery columns
    of one pid, padded by repeating its first column (so writing through the padding is
    harmless); ``filled`` marks the real entries; ``group[i]`` is the row of query
    ``i``'s pid, or the last, empty row when its pid is <= 0 or absent from the gallery.
    """
    columns = np.flatnonzero(g_pids > 0)
    columns = columns[np.argsort(g_pids[columns], kind="stable")]
    pids, starts, counts = np.unique(g_pids[columns], return_index=True, return_counts=True)
    width = int(counts.max()) if counts.size else 1
    slot = np.arange(width)
    inside = slot[None, :] < counts[:, None]
    table = np.zeros((pids.size + 1, width), dtype=np.int64)
    filled = np.zeros((pids.size + 1, width), dtype=bool)
    table[:-1] = columns[starts[:, None] + np.where(inside, slot[None, :], 0)]
    filled[:-1] = inside
    where = np.searchsorted(pids, q_pids)
    found = np.zeros(q_pids.shape, dtype=bool)
    if pids.size:
        found = (q_pids > 0) & (pids[np.minimum(where, pids.size - 1)] == q_pids)
    group = np.where(found, where, pids.size)
    return table, filled, group


class _Workspace:
    """Chunk-sized buffers allocated once per call: fresh large allocations cost page faults."""

    def __init__(self, n_rows: int, n_cols: int, dtype: np.dtype) -> None:
        self.values = np.empty((n_rows, n_cols), dtype=dtype)
        self.keys = np.empty((n_rows, n_cols), dtype=np.int64)
        self.flags = np.empty((n_rows, n_cols), dtype=bool)


def _exact_counts(rows: np.ndarray, listed: np.ndarray, match_d: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """Cumulative counts, per row and match, of the ``listed`` entries ranked before it.

    ``listed`` (C, G) marks non-matches; ``match_d`` (C, W) holds each row's match
    distances, ascending, padded with +inf; ``todo`` the rows to count (others stay 0).
    Returns (C, W): entry ``[i, j]`` counts the listed entries of row ``i`` at distance
    <= ``match_d[i, j]``. One row at a time keeps the temporaries to a row even when
    nearly every entry is listed.
    """
    n_rows, width = match_d.shape
    counts = np.zeros((n_rows, width + 1), dtype=np.int64)
    for row in todo:
        values = rows[row][listed[row]]
        # side="left" counts the matches strictly closer: a tied non-match ranks before its match.
        counts[row] = np.bincount(np.searchsorted(match_d[row], values, side="left"), minlength=width + 1)
    return counts[:, :width].cumsum(axis=1)


def _binned_counts(
    rows: np.ndarray,
    match_d: np.ndarray,
    n_matches: np.ndarray,
    sorted_cols: np.ndarray,
    junk_cols: np.ndarray,
    todo: np.ndarray,
    work: _Workspace,
) -> np.ndarray:
    """``_exact_counts`` over every valid non-match of the ``todo`` rows, in a few passes.

    Entry ``d`` of row ``i`` gets the bin ``floor(clip((d - lo_i) * scale_i, -1, _BINS))``,
    ``[lo_i, lo_i + (_BINS - 1) / scale_i]`` spanning the row's match distances. Each step
    is exact or one correctly rounded operation, so the bin is a monotone function of
    ``d`` alone: an entry in a lower bin than a match is closer than it, one in a higher
    bin is farther, and only entries sharing a bin with a match are compared exactly.
    ``sorted_cols`` are the columns of ``match_d``'s entries (padding included), all of
    one pid and so never non-matches.
    """
    n_rows, width = match_d.shape
    n_bins = _BINS + 3  # bins -1.._BINS, then junk and same-pid columns, shifted by one
    dump = float(_BINS + 1)
    rank = np.arange(n_rows)
    lowest = np.where(n_matches > 0, match_d[:, 0], 0.0).astype(rows.dtype)
    highest = match_d[rank, np.maximum(n_matches - 1, 0)]
    binned = work.values[:n_rows]
    # Overflow to +-inf (distances near the float limit) only saturates a bin: still monotone.
    with np.errstate(divide="ignore", over="ignore"):
        scale = ((_BINS - 1) / (highest - lowest).astype(np.float64)).astype(rows.dtype)
        scale[~(np.isfinite(scale) & (scale > 0))] = 1.0
        np.subtract(rows, lowest[:, None], out=binned)
        np.multiply(binned, scale[:, None], out=binned)
    np.clip(binned, -1.0, float(_BINS), out=binned)
    binned[:, junk_cols] = dump
    base = rank * n_bins + 1  # > 0, so the cast below truncates toward -inf
    keys = np.add(binned, base[:, None].astype(np.float64), out=work.keys[:n_rows], casting="unsafe")
    match_key = np.take_along_axis(keys, sorted_cols, axis=1)
    np.put_along_axis(keys, sorted_cols, base[:, None] + int(dump), axis=1)
    match_key[np.arange(width)[None, :] >= n_matches[:, None]] = -1

    hot = np.zeros(n_rows * n_bins, dtype=bool)
    hot[match_key[match_key >= 0]] = True
    flat_keys = keys.reshape(-1)
    np.take(hot, flat_keys, out=work.flags[:n_rows].reshape(-1))
    per_bin = np.bincount(flat_keys, minlength=n_rows * n_bins)
    per_bin[hot] = 0
    per_bin = per_bin.reshape(n_rows, n_bins)
    cumulative = np.cumsum(per_bin, axis=1, out=per_bin)  # in place: a fresh array costs page faults
    coarse = np.take_along_axis(cumulative, np.clip(match_key - (base[:, None] - 1), 0, n_bins - 1), axis=1)
    return coarse + _exact_counts(rows, work.flags[:n_rows], match_d, todo)


def _count_chunk(
    rows: np.ndarray,
    match_cols: np.ndarray,
    match_valid: np.ndarray,
    junk_cols: np.ndarray,
    work: _Workspace,
) -> tuple[np.ndarray, np.ndarray]:
    """Count, per query row and per match, the valid non-matches ranked before it.

    ``rows`` is a (C, G) slice of the distance matrix; ``match_cols`` (C, W) the gallery
    columns of each row's pid, ``match_valid`` which of them are matches (the others are
    padding or same-camera images); ``junk_cols`` are the pid -1 columns. Returns
    ``(before, n_matches)``: ``before[i, j]`` is the number of valid non-matches at
    distance <= the ``j``-th smallest match distance of row ``i`` (meaningful for
    ``j < n_matches[i]``).
    """
    n_rows, n_cols = rows.shape
    match_d = np.where(match_valid, np.take_along_axis(rows, match_cols, axis=1), np.inf)
    order = np.argsort(match_d, axis=1)  # tied matches may take any order: same ranks
    match_d = np.take_along_axis(match_d, order, axis=1)
    sorted_cols = np.take_along_axis(match_cols, order, axis=1)
    n_matches = match_valid.sum(axis=1)
    farthest = np.where(n_matches > 0, match_d[np.arange(n_rows), np.maximum(n_matches - 1, 0)], -np.inf)

    # Only non-matches at most as far as the farthest match can rank before a match.
    near = np.less_equal(rows, farthest[:, None].astype(rows.dtype), out=work.flags[:n_rows])
    np.put_along_axis(near, match_cols, False, axis=1)
    near[:, junk_cols] = False
    # When all of a row's matches sit at one distance, every near non-match ranks before each.
    tied = np.flatnonzero((n_matches > 0) & (farthest == match_d[:, 0]))
    tied_near = np.count_nonzero(near[tied], axis=1)
    todo = np.flatnonzero((n_matches > 0) & (farthest != match_d[:, 0]))
    if np.count_nonzero(near) - tied_near.sum() <= _SPARSE_MAX_FRACTION * todo.size * n_cols:
        before = _exact_counts(rows, near, match_d, todo)
    else:
        before = _binned_counts(rows, match_d, n_matches, sorted_cols, junk_cols, todo, work)
    before[tied] = tied_near[:, None]
    return before, n_matches


def evaluate_rank(
    distmat: np.ndarray | torch.Tensor,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike,
    g_camids: ArrayLike,
    max_rank: int = 50,
) -> tuple[np.ndarray, float, float]:
    """Market-1501 CMC, mAP and mINP of a (Q, G) query-gallery distance matrix.

    See the module docstring for the protocol and the tie rule (a non-match at the same
    distance as a match ranks before it). ``distmat`` is a numpy array or torch tensor
    (float32 / float64 are used as they are, other dtypes are promoted to float64; a GPU
    tensor is copied to the CPU). ``max_rank`` larger than the gallery is clamped to the
    gallery size, so ``cmc`` then has G entries.

    Returns ``(cmc, mAP, mINP)``: ``cmc[k]`` (float64) is the fraction of valid queries
    whose first match ranks within ``k + 1``. Raises ``EvaluationError`` on bad shapes,
    ``max_rank < 1``, NaN or infinite distances, or when no query has a valid match.
    """
    dist = _as_distances(distmat)
    q_pid, g_pid = _as_ids(q_pids, "q_pids"), _as_ids(g_pids, "g_pids")
    q_cam, g_cam = _as_ids(q_camids, "q_camids"), _as_ids(g_camids, "g_camids")
    n_query, n_gallery = dist.shape
    if (q_pid.size, q_cam.size, g_pid.size, g_cam.size) != (n_query, n_query, n_gallery, n_gallery):
        raise EvaluationError(
            f"distmat shape {dist.shape} does not match the id arrays: q_pids {q_pid.shape}, "
            f"q_camids {q_cam.shape}, g_pids {g_pid.shape}, g_camids {g_cam.shape}"
        )
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise EvaluationError(f"max_rank must be an integer >= 1, got {max_rank!r}")
    max_rank = min(int(max_rank), n_gallery)
    no_valid_query = EvaluationError(
        f"query and gallery share no identity with a valid match (same pid, other camera): "
        f"0 of {n_query} queries evaluable against {n_gallery} gallery images"
    )
    if dist.size == 0:
        raise no_valid_query
    if not (np.isfinite(dist.min()) and np.isfinite(dist.max())):
        raise EvaluationError("distmat has NaN or infinite entries")

    table, filled, group = _match_table(q_pid, g_pid)
    junk_cols = np.flatnonzero(g_pid == -1)
    width = table.shape[1]
    step = max(1, min(n_query, _CHUNK_ELEMENTS // max(1, n_gallery)))
    work = _Workspace(step, n_gallery, dist.dtype)
    slot = np.arange(1, width + 1, dtype=np.float64)
    first_ranks, ap_sum, inp_sum = [], 0.0, 0.0
    for start in range(0, n_query, step):
        stop = min(start + step, n_query)
        match_cols = table[group[start:stop]]
        match_valid = filled[group[start:stop]] & (g_cam[match_cols] != q_cam[start:stop, None])
        before, n_matches = _count_chunk(dist[start:stop], match_cols, match_valid, junk_cols, work)
        valid = n_matches > 0
        before, n_matches = before[valid], n_matches[valid]
        ranks = before + slot  # rank of the j-th match = non-matches before it + j
        precision = np.where(slot <= n_matches[:, None], slot / ranks, 0.0)
        ap_sum += float((precision.sum(axis=1) / n_matches).sum())
        inp_sum += float((n_matches / ranks[np.arange(n_matches.size), n_matches - 1]).sum())
        first_ranks.append(ranks[:, 0].astype(np.int64))

    n_valid = sum(r.size for r in first_ranks)
    if n_valid == 0:
        raise no_valid_query
    first = np.minimum(np.concatenate(first_ranks), max_rank + 1)
    hits = np.bincount(first, minlength=max_rank + 2)[1 : max_rank + 1]
    return hits.cumsum() / n_valid, ap_sum / n_valid, inp_sum / n_valid


def compute_distance_matrix(
    query_features: torch.Tensor | np.ndarray,
    gallery_features: torch.Tensor | np.ndarray,
    normalize: bool = True,
) -> torch.Tensor:
    """Squared Euclidean distances (Q, G), float32, clamped at 0 against rounding.

    With ``normalize=True`` features are L2-normalised first, so ``d = 2 - 2 q.g``;
    otherwise ``d = |q|^2 + |g|^2 - 2 q.g``. One matrix product plus two in-place passes:
    no full-size temporary besides the result. Computed without autograd.
    """
    q = torch.as_tensor(query_features).detach()
    g = torch.as_tensor(gallery_features).detach()
    if q.dim() != 2 or g.dim() != 2 or q.shape[1] != g.shape[1]:
        raise EvaluationError(
            f"features must be 2-D with the same width, got query {tuple(q.shape)} and gallery {tuple(g.shape)}"
        )
    with torch.no_grad():
        q, g = q.to(torch.float32), g.to(torch.float32)
        if normalize:
            # -2 goes on the small query side (exact); the gallery is divided by its norms on
            # the way out, fused with the +2, instead of copying a normalised gallery.
            q = torch.nn.functional.normalize(q, dim=1).mul_(-2.0)
            inverse_norm = g.norm(dim=1).clamp_(min=1e-12).reciprocal_()  # as F.normalize's eps
            dist = torch.mm(q, g.t())
            return torch.addcmul(torch.tensor(2.0), dist, inverse_norm, out=dist).clamp_(min=0.0)
        q_sq = q.pow(2).sum(dim=1, keepdim=True)
        g_sq = g.pow(2).sum(dim=1).unsqueeze(0)
        dist = torch.addmm(q_sq, q, g.t(), beta=1.0, alpha=-2.0)
        return dist.add_(g_sq).clamp_(min=0.0)
