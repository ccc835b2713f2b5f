"""Tests for reid_core.metrics (evaluate_rank against a slow oracle, distances) and reid_core.reranking."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reid_core import metrics
from reid_core.errors import EvaluationError
from reid_core.metrics import compute_distance_matrix, evaluate_rank
from reid_core.reranking import re_ranking


def oracle(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    """Per-query loop: drop junk and same-pid-same-camera images, sort, walk the ranking.

    Sort key (distance, is_match) with a stable lexsort, so a non-match tied with a match
    comes first (the documented pessimistic tie rule). Returns None when no query is valid.
    """
    distmat = np.asarray(distmat)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    max_rank = min(max_rank, distmat.shape[1])
    cmc, aps, inps = np.zeros(max_rank), [], []
    for i in range(distmat.shape[0]):
        if q_pids[i] <= 0:
            continue
        keep = (g_pids != -1) & ~((g_pids == q_pids[i]) & (g_camids == q_camids[i]))
        match = g_pids[keep] == q_pids[i]
        ranked = match[np.lexsort((match, distmat[i, keep]))]
        if not ranked.any():
            continue
        ranks = np.flatnonzero(ranked) + 1
        aps.append(np.mean(np.arange(1, ranks.size + 1) / ranks))
        inps.append(ranks.size / ranks[-1])
        cmc[ranks[0] - 1 :] += 1
    if not aps:
        return None
    return cmc / len(aps), float(np.mean(aps)), float(np.mean(inps))


def random_problem(rng, n_query, n_gallery, n_ids, n_cams, kind):
    """Ids with junk (-1), distractors (0), invalid queries; distances of the given kind."""
    g_pids = rng.integers(-1, n_ids + 1, n_gallery)
    q_pids = rng.integers(1, n_ids + 1, n_query)
    q_pids[rng.random(n_query) < 0.1] = rng.choice([-1, 0])
    q_cams, g_cams = rng.integers(0, n_cams, n_query), rng.integers(0, n_cams, n_gallery)
    if kind == "ties":
        dist = rng.integers(0, 4, (n_query, n_gallery)).astype(np.float32)
    elif kind == "negative":
        dist = rng.standard_normal((n_query, n_gallery))
    else:
        dist = rng.random((n_query, n_gallery), dtype=np.float32)
    return dist, q_pids, g_pids, q_cams, g_cams


def assert_same(fast, slow):
    cmc, m_ap, m_inp = fast
    assert cmc.dtype == np.float64 and cmc.shape == slow[0].shape
    np.testing.assert_allclose(cmc, slow[0], atol=1e-6, rtol=0)
    assert m_ap == pytest.approx(slow[1], abs=1e-6) and m_inp == pytest.approx(slow[2], abs=1e-6)
    assert 0.0 <= m_ap <= 1.0 and 0.0 <= m_inp <= 1.0


# Each setting forces one counting route: ranking near entries one by one ("sparse"),
# binning every entry ("binned"), binning with so few bins that most entries need the
# exact comparison ("coarse"), and a chunk of a few rows so the chunk loop is exercised.
ROUTES = {
    "default": {},
    "sparse": {"_SPARSE_MAX_FRACTION": 1.0},
    "binned": {"_SPARSE_MAX_FRACTION": -1.0},
    "coarse": {"_SPARSE_MAX_FRACTION": -1.0, "_BINS": 2},
    "chunked": {"_SPARSE_MAX_FRACTION": -1.0, "_CHUNK_ELEMENTS": 40},
}


@pytest.fixture(params=sorted(ROUTES))
def route(request, monkeypatch):
    for name, value in ROUTES[request.param].items():
        monkeypatch.setattr(metrics, name, value)
    return request.param


def check_against_oracle(dist, q_pids, g_pids, q_cams, g_cams, max_rank=50):
    slow = oracle(dist, q_pids, g_pids, q_cams, g_cams, max_rank)
    if slow is None:
        with pytest.raises(EvaluationError):
            evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank)
        return False
    assert_same(evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank), slow)
    return True


@pytest.mark.parametrize("kind", ["uniform", "ties", "negative"])
def test_matches_oracle_on_random_problems(route, kind):
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(30):
        n_query, n_gallery = int(rng.integers(1, 30)), int(rng.integers(1, 80))
        problem = random_problem(rng, n_query, n_gallery, int(rng.integers(1, 6)), int(rng.integers(1, 4)), kind)
        checked += check_against_oracle(*problem, max_rank=int(rng.integers(1, 100)))
    assert checked >= 12  # the others have no valid query and check the error instead


def test_matches_oracle_on_structured_problem(route):
    # Identity structure makes matches nearest, so the default takes the sparse route.
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((21, 16))
    g_pids = np.concatenate([rng.integers(1, 21, 300), np.full(40, -1), np.zeros(60, np.int64)])
    q_pids = rng.integers(1, 21, 60)
    g_feat = centres[np.maximum(g_pids, 0)] + 0.5 * rng.standard_normal((g_pids.size, 16))
    q_feat = centres[q_pids] + 0.5 * rng.standard_normal((q_pids.size, 16))
    dist = compute_distance_matrix(torch.tensor(q_feat), torch.tensor(g_feat)).numpy()
    q_cams, g_cams = rng.integers(0, 6, q_pids.size), rng.integers(0, 6, g_pids.size)
    assert check_against_oracle(dist, q_pids, g_pids, q_cams, g_cams)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_query=st.integers(1, 6),
    n_gallery=st.integers(1, 12),
    n_ids=st.integers(1, 4),
    n_cams=st.integers(1, 3),
    levels=st.integers(1, 5),
    max_rank=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_hypothesis_quantised_distances(route, n_query, n_gallery, n_ids, n_cams, levels, max_rank, seed):
    # Few distance levels: exact ties between matches and non-matches are everywhere.
    rng = np.random.default_rng(seed)
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, n_query, n_gallery, n_ids, n_cams, "uniform")
    dist = np.floor(dist * levels).astype(np.float32)
    check_against_oracle(dist, q_pids, g_pids, q_cams, g_cams, max_rank)


@settings(max_examples=100, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(-1, 3), st.integers(0, 2), st.floats(-1e6, 1e6, allow_nan=False, width=32)),
        min_size=1,
        max_size=15,
    ),
    q_pid=st.integers(-1, 3),
    q_cam=st.integers(0, 2),
)
def test_hypothesis_single_query(data, q_pid, q_cam):
    g_pids = np.array([d[0] for d in data])
    g_cams = np.array([d[1] for d in data])
    dist = np.array([[d[2] for d in data]], dtype=np.float32)
    check_against_oracle(dist, [q_pid], g_pids, [q_cam], g_cams)


def test_extreme_magnitudes_do_not_break_binning(route):
    # Spans and offsets overflow float32 here; bins must stay monotone and warnings silent.
    rng = np.random.default_rng(13)
    levels = np.array([-3e38, -1.0, 0.0, 1e-30, 1.0, 3e38], dtype=np.float32)
    for _ in range(10):
        dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, 8, 30, 3, 2, "uniform")
        dist = levels[rng.integers(0, levels.size, dist.shape)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_against_oracle(dist, q_pids, g_pids, q_cams, g_cams)


def test_hand_computed_single_query():
    # Query pid 1, camera 0. Gallery:
    #   g0 pid 2 cam 1 d=0.2  non-match
    #   g1 pid 1 cam 0 d=0.1  same pid, same camera: removed
    #   g2 pid 1 cam 1 d=0.5  match
    #   g3 pid -1 cam 2 d=0.05 junk: removed
    #   g4 pid 1 cam 2 d=0.9  match
    # Ranking of what is left: g0 (1), g2 (2), g4 (3).
    # CMC: first match at rank 2 -> [0, 1, 1, 1, 1] (max_rank 50 clamped to G = 5).
    # AP = (1/2 + 2/3) / 2 = 7/12; INP = 2 / 3.
    dist = np.array([[0.2, 0.1, 0.5, 0.05, 0.9]])
    cmc, m_ap, m_inp = evaluate_rank(dist, [1], [2, 1, 1, -1, 1], [0], [1, 0, 1, 2, 2])
    np.testing.assert_array_equal(cmc, [0.0, 1.0, 1.0, 1.0, 1.0])
    assert m_ap == pytest.approx(7 / 12) and m_inp == pytest.approx(2 / 3)


def test_hand_computed_ties_are_pessimistic():
    # Query pid 1, camera 0. Gallery: non-match 0.5, match 0.5, match 0.5, non-match 0.3.
    # Ties put the non-match first: 0.3 (1), non-match 0.5 (2), the matches (3) and (4).
    # AP = (1/3 + 2/4) / 2 = 5/12; INP = 2/4; first match at rank 3.
    dist = np.array([[0.5, 0.5, 0.5, 0.3]], dtype=np.float32)
    for perm in ([0, 1, 2, 3], [1, 2, 0, 3], [3, 2, 1, 0]):
        g_pids, g_cams = np.array([2, 1, 1, 0])[perm], np.array([1, 1, 2, 1])[perm]
        cmc, m_ap, m_inp = evaluate_rank(dist[:, perm], [1], g_pids, [0], g_cams, max_rank=4)
        np.testing.assert_array_equal(cmc, [0.0, 0.0, 1.0, 1.0])
        assert m_ap == pytest.approx(5 / 12) and m_inp == pytest.approx(0.5)


def test_hand_computed_skipped_queries_count_nowhere():
    # Query 0 (pid 1) ranks its match first: AP = INP = 1. Query 1 has pid 0, query 2 pid -1,
    # query 3 a pid absent from the gallery, query 4 a match only in its own camera: all skipped.
    dist = np.array([[0.1, 0.9, 0.5]] * 5)
    g_pids, g_cams = [1, 2, 4], [1, 1, 2]
    cmc, m_ap, m_inp = evaluate_rank(dist, [1, 0, -1, 3, 4], g_pids, [0, 0, 0, 0, 2], g_cams)
    np.testing.assert_array_equal(cmc, [1.0, 1.0, 1.0])
    assert m_ap == 1.0 and m_inp == 1.0


def test_distractors_are_wrong_answers_not_matches():
    # A query with pid 0 is skipped; a distractor (pid 0) ahead of the match costs rank.
    dist = np.array([[0.1, 0.2], [0.1, 0.2]])
    cmc, m_ap, m_inp = evaluate_rank(dist, [0, 5], [0, 5], [0, 0], [1, 1], max_rank=2)
    np.testing.assert_array_equal(cmc, [0.0, 1.0])
    assert m_ap == 0.5 and m_inp == 0.5


def test_result_does_not_depend_on_gallery_order(route):
    rng = np.random.default_rng(11)
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, 20, 60, 4, 3, "ties")
    reference = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams)
    for _ in range(5):
        perm = rng.permutation(60)
        cmc, m_ap, m_inp = evaluate_rank(dist[:, perm], q_pids, g_pids[perm], q_cams, g_cams[perm])
        np.testing.assert_array_equal(cmc, reference[0])
        assert m_ap == pytest.approx(reference[1], abs=1e-12) and m_inp == pytest.approx(reference[2], abs=1e-12)


def test_edge_sizes_single_query_and_single_gallery_image():
    cmc, m_ap, m_inp = evaluate_rank(np.array([[3.0]]), [2], [2], [0], [1], max_rank=10)
    np.testing.assert_array_equal(cmc, [1.0])
    assert m_ap == 1.0 and m_inp == 1.0
    with pytest.raises(EvaluationError):
        evaluate_rank(np.array([[3.0]]), [2], [2], [1], [1])


def test_input_types_tensor_lists_dtypes_and_layouts():
    rng = np.random.default_rng(5)
    dist, q_pids, g_pids, q_cams, g_cams = random_problem(rng, 12, 40, 3, 2, "uniform")
    expected = oracle(dist, q_pids, g_pids, q_cams, g_cams)
    assert expected is not None
    tensor = torch.tensor(dist, requires_grad=True)
    assert_same(evaluate_rank(tensor, q_pids.tolist(), g_pids.tolist(), q_cams.tolist(), g_cams.tolist()), expected)
    half = dist.astype(np.float16)  # promoted to float64, so its ties are kept exactly
    assert_same(evaluate_rank(half, q_pids, g_pids, q_cams, g_cams), oracle(half, q_pids, g_pids, q_cams, g_cams))
    fortran = np.asfortranarray(dist)
    assert_same(evaluate_rank(fortran, torch.tensor(q_pids), g_pids, q_cams, g_cams.astype(np.uint8)), expected)


def test_float64_is_not_rounded_to_float32():
    # The match is closer by 1e-12: in float32 the two would tie and the non-match would win.
    dist = np.array([[1.0, 1.0 + 1e-12]])
    cmc, m_ap, _ = evaluate_rank(dist, [1], [1, 2], [0], [1, 1])
    np.testing.assert_array_equal(cmc, [1.0, 1.0])
    assert m_ap == 1.0


def test_max_rank_is_clamped_to_gallery_size():
    cmc, _, _ = evaluate_rank(np.array([[0.3, 0.1, 0.2]]), [1], [1, 2, 3], [0], [1, 1, 1], max_rank=1000)
    np.testing.assert_array_equal(cmc, [0.0, 0.0, 1.0])


def one_line_error(call) -> str:
    with pytest.raises(EvaluationError) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_error_no_valid_query():
    message = one_line_error(lambda: evaluate_rank(np.zeros((2, 3)), [7, 8], [1, 2, 3], [0, 0], [1, 1, 1]))
    assert "share no identity" in message and "0 of 2 queries" in message and "3 gallery" in message
    one_line_error(lambda: evaluate_rank(np.zeros((0, 3)), [], [1, 2, 3], [], [1, 1, 1]))
    one_line_error(lambda: evaluate_rank(np.zeros((2, 0)), [1, 2], [], [0, 0], []))


def test_error_shapes():
    message = one_line_error(lambda: evaluate_rank(np.zeros((2, 3)), [1, 2, 3], [1, 2, 3], [0, 0], [1, 1, 1]))
    assert "(2, 3)" in message and "(3,)" in message
    assert "2-D" in one_line_error(lambda: evaluate_rank(np.zeros(3), [1], [1, 2, 3], [0], [1, 1, 1]))
    assert "g_camids" in one_line_error(lambda: evaluate_rank(np.zeros((1, 2)), [1], [1, 2], [0], [[1, 1]]))
    assert "integers" in one_line_error(lambda: evaluate_rank(np.zeros((1, 2)), [1.5], [1, 2], [0], [1, 1]))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_error_max_rank(bad):
    message = one_line_error(lambda: evaluate_rank(np.zeros((1, 2)), [1], [1, 2], [0], [1, 1], max_rank=bad))
    assert "max_rank" in message and repr(bad) in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_error_non_finite_distances(bad):
    dist = np.zeros((1, 2))
    dist[0, 1] = bad
    assert "NaN or infinite" in one_line_error(lambda: evaluate_rank(dist, [1], [1, 2], [0], [1, 1]))


@pytest.mark.parametrize("normalize", [True, False])
def test_distance_matrix_matches_brute_force(normalize):
    gen = torch.Generator().manual_seed(0)
    query, gallery = torch.randn(7, 5, generator=gen), torch.randn(11, 5, generator=gen) * 0.5
    dist = compute_distance_matrix(query, gallery, normalize=normalize)
    if normalize:
        query = query / query.norm(dim=1, keepdim=True)
        gallery = gallery / gallery.norm(dim=1, keepdim=True)
    brute = ((query[:, None, :] - gallery[None, :, :]) ** 2).sum(dim=2)
    assert dist.dtype == torch.float32 and dist.shape == (7, 11)
    torch.testing.assert_close(dist, brute, atol=1e-5, rtol=1e-5)
    assert bool((dist >= 0).all())


def test_distance_matrix_accepts_numpy_and_rejects_bad_shapes():
    features = np.eye(3)
    dist = compute_distance_matrix(features, features)
    torch.testing.assert_close(dist, torch.tensor(2.0) * (1 - torch.eye(3)), atol=1e-6, rtol=0)
    # A zero feature normalises to zero (as F.normalize does): distance 2 to everything, no NaN.
    torch.testing.assert_close(compute_distance_matrix(np.zeros((1, 3)), features), torch.full((1, 3), 2.0))
    message = one_line_error(lambda: compute_distance_matrix(np.ones((2, 3)), np.ones((4, 5))))
    assert "(2, 3)" in message and "(4, 5)" in message


def identity_problem(seed, n_ids=30, per_gallery=8, per_query=2, dim=64, noise=1.3, n_cams=4):
    """Features = identity centre + noise: matches form tight mutual-neighbour groups."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids + 1, dim))
    g_pids = np.repeat(np.arange(1, n_ids + 1), per_gallery)
    q_pids = np.repeat(np.arange(1, n_ids + 1), per_query)
    g_feat = centres[g_pids] + noise * rng.standard_normal((g_pids.size, dim))
    q_feat = centres[q_pids] + noise * rng.standard_normal((q_pids.size, dim))
    query, gallery = torch.tensor(q_feat, dtype=torch.float32), torch.tensor(g_feat, dtype=torch.float32)
    dists = (
        compute_distance_matrix(query, gallery),
        compute_distance_matrix(query, query),
        compute_distance_matrix(gallery, gallery),
    )
    cams = (rng.integers(0, n_cams, q_pids.size), rng.integers(0, n_cams, g_pids.size))
    return dists, q_pids, g_pids, cams


def slow_re_ranking(q_g, q_q, g_g, k1, k2, lambda_value):
    """The paper's steps with Python sets, for distances without ties."""
    dist = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float64)
    dist /= dist.max(axis=1, keepdims=True)
    n, n_q = dist.shape[0], q_g.shape[0]
    k1, k2, half = min(k1, n - 1), min(k2, n), (min(k1, n - 1) + 1) // 2
    order = [sorted(range(n), key=lambda j, i=i: (j != i, dist[i, j])) for i in range(n)]

    def reciprocal(p, k):
        return {g for g in order[p][: k + 1] if p in order[g][: k + 1]}

    weights = np.zeros((n, n))
    for p in range(n):
        members = reciprocal(p, k1)
        for q in list(members):
            candidate = reciprocal(q, half)
            if 3 * len(candidate & reciprocal(p, k1)) >= 2 * len(candidate):
                members |= candidate
        for g in members:
            weights[p, g] = np.exp(-dist[p, g])
    weights = np.array([weights[order[p][:k2]].mean(axis=0) for p in range(n)])
    jaccard = np.array([
        [1 - np.minimum(weights[p], weights[g]).sum() / np.maximum(weights[p], weights[g]).sum()
         for g in range(n_q, n)]
        for p in range(n_q)
    ])
    return (1 - lambda_value) * jaccard + lambda_value * dist[:n_q, n_q:]


@pytest.mark.parametrize(("seed", "k1", "k2", "lambda_value"), [(0, 4, 2, 0.3), (1, 6, 3, 0.0), (2, 3, 1, 0.5),
                                                                 (3, 20, 6, 0.3), (4, 2, 5, 0.8)])
def test_re_ranking_matches_the_paper_steps(seed, k1, k2, lambda_value):
    (q_g, q_q, g_g), *_ = identity_problem(seed, n_ids=4, per_gallery=3, per_query=2, dim=8)
    expected = slow_re_ranking(q_g.numpy(), q_q.numpy(), g_g.numpy(), k1, k2, lambda_value)
    np.testing.assert_allclose(re_ranking(q_g, q_q, g_g, k1, k2, lambda_value), expected, atol=1e-5)


def test_re_ranking_shape_and_lambda_one_keeps_the_original_order():
    (q_g, q_q, g_g), *_ = identity_problem(0, n_ids=10)
    final = re_ranking(q_g, q_q, g_g)
    assert final.shape == tuple(q_g.shape) and np.isfinite(final).all()
    original = re_ranking(q_g.numpy(), q_q.numpy(), g_g.numpy(), lambda_value=1.0)
    row_max = torch.cat([q_q, q_g], dim=1).amax(dim=1, keepdim=True)
    np.testing.assert_allclose(original, (q_g / row_max).numpy(), rtol=1e-6)
    for row, dist in zip(original, q_g.numpy()):
        assert (np.diff(dist[np.argsort(row, kind="stable")]) >= 0).all()
    jaccard = re_ranking(q_g, q_q, g_g, k1=3, k2=1, lambda_value=0.0)
    assert (jaccard >= 0).all() and (jaccard <= 1 + 1e-6).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_re_ranking_helps_when_matches_are_mutual_neighbours(seed):
    (q_g, q_q, g_g), q_pids, g_pids, (q_cams, g_cams) = identity_problem(seed)
    before = evaluate_rank(q_g, q_pids, g_pids, q_cams, g_cams)
    after = evaluate_rank(re_ranking(q_g, q_q, g_g), q_pids, g_pids, q_cams, g_cams)
    assert after[1] >= before[1] and after[0][0] >= before[0][0]


@pytest.mark.parametrize(("k1", "k2"), [(100, 100), (1, 5), (3, 1)])
def test_re_ranking_extreme_k(k1, k2):
    # k1 is clamped to N - 1 and k2 to N; k2 may exceed k1 + 1.
    (q_g, q_q, g_g), *_ = identity_problem(3, n_ids=2, per_gallery=3, per_query=1)
    final = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2)
    assert final.shape == (2, 6) and np.isfinite(final).all()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"k1": 0}, "re_ranking.k1"),
        ({"k1": 2.5}, "re_ranking.k1"),
        ({"k2": 0}, "re_ranking.k2"),
        ({"lambda_value": 1.5}, "re_ranking.lambda_value"),
        ({"lambda_value": -0.1}, "re_ranking.lambda_value"),
    ],
)
def test_re_ranking_validation(kwargs, key):
    (q_g, q_q, g_g), *_ = identity_problem(0, n_ids=2, per_gallery=2, per_query=1)
    assert key in one_line_error(lambda: re_ranking(q_g, q_q, g_g, **kwargs))


def test_re_ranking_rejects_mismatched_shapes():
    (q_g, q_q, g_g), *_ = identity_problem(0, n_ids=2, per_gallery=2, per_query=1)
    assert "q_q" in one_line_error(lambda: re_ranking(q_g, g_g, g_g))
