"""automl.algorithms: what each algorithm is in Optuna, and the one private Optuna hook we rely on."""

from __future__ import annotations

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
