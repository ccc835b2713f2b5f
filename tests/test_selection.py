"""studies.selection: the interval of the best trial's rank-1 and the runner-up within noise, checked
against an obvious oracle (the score test inverted by bisection)."""

from __future__ import annotations

import math

import pytest

from studies.selection import Z95, selection_noise, wilson_interval
from studies.trial_record import TrialRecord


def _score_test_bound(share: float, n: int, upper: bool) -> float:
    """The p0 at which the score test |share - p0| / sqrt(p0 (1 - p0) / n) reaches z, by bisection."""
    low, high = (share, 1.0) if upper else (0.0, share)
    for _ in range(200):
        mid = (low + high) / 2
        inside = abs(share - mid) <= Z95 * math.sqrt(mid * (1 - mid) / n)
        if upper:
            low, high = (mid, high) if inside else (low, mid)
        else:
            low, high = (low, mid) if inside else (mid, high)
    return (low + high) / 2


@pytest.mark.parametrize("share,n", [(0.5, 10), (0.82, 120), (0.0, 30), (1.0, 30), (0.97, 3368), (0.3, 1)])
def test_wilson_interval_matches_the_inverted_score_test(share, n):
    low, high = wilson_interval(share, n)
    assert low == pytest.approx(_score_test_bound(share, n, upper=False), abs=1e-9)
    assert high == pytest.approx(_score_test_bound(share, n, upper=True), abs=1e-9)
    assert 0.0 <= low <= share <= high <= 1.0


def _trial(number: int, value: float | None, state: str = "COMPLETE") -> TrialRecord:
    return TrialRecord(number=number, state=state, value=value, params={}, epochs={}, datetime_start=None,
                       datetime_complete=None)


def test_a_runner_up_inside_the_interval_is_within_noise_and_the_earlier_equal_trial_is_picked():
    trials = [_trial(0, 0.70), _trial(1, 0.80), _trial(2, 0.78), _trial(3, 0.80), _trial(4, 0.95, "PRUNED")]
    noise = selection_noise(trials, "cmc_rank_1", "maximize", 100)
    assert (noise.best, noise.runner_up) == (1, 3)  # equal values: the earlier trial is the pick
    assert noise.within_noise and "trial 1 is handed off" in noise.lines()[1]
    far = selection_noise([_trial(0, 0.50), _trial(1, 0.90)], "cmc_rank_1", "maximize", 1000)
    assert far.best == 1 and not far.within_noise and len(far.lines()) == 1


def test_no_interval_for_metrics_that_are_not_a_share_of_queries_nor_without_a_query_count():
    trials = [_trial(0, 0.4), _trial(1, 0.5)]
    assert selection_noise(trials, "mAP", "maximize", 100).interval is None
    assert selection_noise(trials, "mAP", "maximize", 100).lines() == ["scored on 100 validation queries"]
    assert selection_noise(trials, "cmc_rank_1", "maximize", None) is None
    assert selection_noise([_trial(0, None, "FAIL")], "cmc_rank_1", "maximize", 100) is None
    with pytest.raises(ValueError):
        wilson_interval(0.5, 0)
