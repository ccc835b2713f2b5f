"""How sure a study's pick is: the validation queries that scored every trial, a 95% interval for the
best trial's rank-k accuracy, and whether the runner-up is within it.

A rank-k accuracy (``cmc_rank_k``) is the share of the validation queries whose true match is among
the k nearest gallery images, so with n queries the best value is a proportion of n; its 95% interval
is Wilson's score interval (sound near 0 and 1 and for small n, unlike the normal approximation).
The runner-up is *within noise* when its value lies inside the best trial's interval: the data
cannot tell the two apart. The pick itself does not change (``best_of``: the highest validation value,
equal values to the earlier trial); the summary and the dashboard say how close it was. Metrics that
are not a share of queries (mAP, losses, latency) get the query count and no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from studies.trial_record import TrialRecord, best_of

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile
PICK_RULE = "the highest validation value; equal values go to the earlier trial"


def wilson_interval(share: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``share`` observed over ``n`` trials."""
    if n <= 0:
        raise ValueError(f"wilson_interval: needs at least one observation, got n={n}")
    z2n = z * z / n
    center = (share + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(share * (1 - share) / n + z2n / (4 * n)) / (1 + z2n)
    return min(share, max(0.0, center - half)), max(share, min(1.0, center + half))  # rounding at 0 and 1


def is_share_of_queries(metric: str) -> bool:
    return metric.startswith("cmc_rank_")


@dataclass(frozen=True)
class SelectionNoise:
    queries: int
    metric: str
    best: int
    value: float
    interval: tuple[float, float] | None
    runner_up: int | None
    runner_up_value: float | None

    @property
    def within_noise(self) -> bool:
        return (self.interval is not None and self.runner_up_value is not None
                and self.interval[0] <= self.runner_up_value <= self.interval[1])

    def as_dict(self) -> dict[str, Any]:
        return {"validation_queries": self.queries, "metric": self.metric, "best_trial": self.best,
                "best_value": self.value, "interval_95": list(self.interval) if self.interval else None,
                "runner_up_trial": self.runner_up, "runner_up_value": self.runner_up_value,
                "runner_up_within_noise": self.within_noise, "pick_rule": PICK_RULE}

    def lines(self) -> list[str]:
        """What the summary and the dashboard say, in words."""
        scored = f"scored on {self.queries} validation queries"
        if self.interval is None:
            return [scored]
        low, high = self.interval
        lines = [f"{scored}; best {self.metric} {self.value:.1%}, 95% interval {low:.1%} to {high:.1%}"]
        if self.within_noise:
            lines.append(f"runner-up trial {self.runner_up} ({self.runner_up_value:.1%}) is within noise of the best; "
                         f"trial {self.best} is handed off ({PICK_RULE})")
        return lines


def selection_noise(trials: Iterable[TrialRecord], metric: str, direction: str,
                    queries: int | None) -> SelectionNoise | None:
    """The noise of a study's pick; None when the query count is unknown or nothing completed."""
    trials = list(trials)
    best = best_of(trials, direction)
    if not queries or best is None:
        return None
    runner = best_of([t for t in trials if t.number != best.number], direction)
    interval = (wilson_interval(best.value, queries)
                if is_share_of_queries(metric) and 0.0 <= best.value <= 1.0 else None)
    return SelectionNoise(queries=queries, metric=metric, best=best.number, value=best.value, interval=interval,
                          runner_up=runner.number if runner else None,
                          runner_up_value=runner.value if runner else None)
