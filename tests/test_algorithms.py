"""automl.algorithms: what each algorithm is in Optuna, and the one private Optuna hook we rely on."""

from __future__ import annotations

import numpy as np
import optuna

from automl import algorithms
from automl.algorithms import WindowedGPSampler


def test_the_gp_window_still_limits_what_optunas_gp_sampler_sees(monkeypatch):
    """``WindowedGPSampler`` shows ``GPSampler`` a view of the study whose ``_get_trials`` keeps a window
    of completed trials: there is no public hook for it (optuna is pinned below 5.2 for this)."""
    seen: list[int] = []
    select = algorithms._WindowedStudy._select

    def counting(self, trials):
        kept = select(self, trials)
        seen.append(sum(t.state == optuna.trial.TrialState.COMPLETE for t in kept))
        return kept

    monkeypatch.setattr(algorithms._WindowedStudy, "_select", counting)
    study = optuna.create_study(direction="maximize", sampler=WindowedGPSampler(seed=0, n_startup_trials=2,
                                                                                 window=4))
    for _ in range(10):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, -(x - 0.3) ** 2)
    assert seen, ("optuna's GPSampler no longer reads its trials through Study._get_trials or get_trials: "
                  "the GP window in automl/algorithms.py must be rebuilt on whatever replaced them")
    assert max(seen) <= 4, f"the GP saw {max(seen)} completed trials through a window of 4"


def _ranks_by_definition(losses):
    """Non-dominated ranks the obvious way: peel the rows no remaining row dominates."""
    left, ranks, rank = set(range(len(losses))), {}, 0
    while left:
        front = {i for i in left if not any(all(a <= b for a, b in zip(losses[j], losses[i])) and
                                            any(a < b for a, b in zip(losses[j], losses[i])) for j in left)}
        ranks.update((i, rank) for i in front)
        left -= front
        rank += 1
    return ranks


def test_pareto_ranks_match_peeling_fronts_by_definition():
    rng = np.random.default_rng(0)
    for n, m in ((60, 2), (40, 3)):
        losses = np.round(rng.random((n, m)), 1)  # rounded: ties and duplicates too
        expected = _ranks_by_definition(losses.tolist())
        ranks = algorithms.pareto_ranks(losses, enough=n)
        assert {i: int(r) for i, r in enumerate(ranks)} == expected
        few = algorithms.pareto_ranks(losses, enough=5)  # peeled only until 5 rows are ranked
        ranked = [i for i in range(n) if few[i] < n]
        assert len(ranked) >= 5 and all(few[i] == expected[i] for i in ranked)
        assert all(expected[i] >= max(few[j] for j in ranked) for i in range(n) if few[i] == n)


def test_the_gp_window_keeps_the_first_pareto_fronts_of_a_multi_objective_study():
    study = optuna.create_study(directions=["maximize", "minimize"])
    rng = np.random.default_rng(1)
    for _ in range(40):
        a, b = rng.random(2)
        study.add_trial(optuna.trial.create_trial(params={"x": float(a)}, values=[float(a), float(b)],
                                                  distributions={"x": optuna.distributions.FloatDistribution(0, 1)}))
    view = algorithms._WindowedStudy(study, window=8)
    kept = [t for t in view.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(kept) <= 8  # the best half and the latest half may share trials
    front = {t.number for t in study.best_trials}  # Optuna's own Pareto front
    kept_numbers = {t.number for t in kept}
    assert front <= kept_numbers or len(front) >= 4 and len(front & kept_numbers) >= 4
    assert {t.number for t in study.trials[-4:]} <= kept_numbers
