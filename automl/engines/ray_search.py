"""Ray Tune's side of a study, bound to the running ``RayEngine`` by a key (Tune pickles its
scheduler, stopper and callbacks, so they hold a key, not the engine):

- ``Recorded*`` schedulers: Ray's own (FIFO, asynchronous successive halving with one bracket (ASHA)
  or several (HyperBand), PBT) that, when Ray adds a trial, let the engine give it its number and
  its config from the study record's own Optuna sampler (the same one the Optuna engine would use:
  a queued replay or re-run first, then TPE, the GP, random or the grid), so samplers see every
  trial of the study; trials are added only as slots free, so proposals see the results so far;
- ``Recorder``: Tune's events into the record; ``EngineStop``: ends the run when the study stops,
  and a trial at its next epoch boundary once the budget is spent; ``BudgetedVariants``: no trial
  is added once one more would exceed the budget;
- ``recorded_pbt``: PopulationBasedTraining over the independent float parameters, clipped to their
  bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining
from ray.tune.stopper import Stopper

from automl.errors import AutomlError
from search_spaces import FloatParam, SearchSpace

PBT_QUANTILE = 0.25
ACTIVE: dict[str, Any] = {}  # running engines by key


class _Bound:
    """A Tune object that calls back into the running engine, found by key (picklable)."""

    _engine_key: str = ""

    @property
    def engine(self) -> Any:
        return ACTIVE[self._engine_key]


class _Configuring(_Bound):
    """A scheduler that gives each trial its number, record and config (from the record's sampler) when
    Ray adds it, before Ray schedules its actor; and keeps a PBT clone's own number after an exploit
    copied another trial's config into it."""

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self.engine.configure(trial)
        super().on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        self.engine.configure(trial)
        return decision


class RecordedFIFO(_Configuring, FIFOScheduler):
    def __init__(self, key: str, **kwargs: Any) -> None:
        FIFOScheduler.__init__(self, **kwargs)
        self._engine_key = key


class RecordedASHA(_Configuring, ASHAScheduler):
    """Ray draws each trial's HyperBand bracket from numpy's global generator; here that draw comes from
    the study's seed instead, so a seeded study allocates brackets the same way every time (the global
    generator is left as it was)."""

    def __init__(self, key: str, seed: int = 0, **kwargs: Any) -> None:
        ASHAScheduler.__init__(self, **kwargs)
        self._engine_key = key
        self._brackets_rng = np.random.RandomState(seed).get_state()

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self.engine.configure(trial)
        outside = np.random.get_state()
        np.random.set_state(self._brackets_rng)
        try:
            ASHAScheduler.on_trial_add(self, tune_controller, trial)
        finally:
            self._brackets_rng = np.random.get_state()
            np.random.set_state(outside)


class RecordedPBT(_Configuring, PopulationBasedTraining):
    def __init__(self, key: str, **kwargs: Any) -> None:
        PopulationBasedTraining.__init__(self, **kwargs)
        self._engine_key = key


class EngineStop(_Bound, Stopper):
    """Ends the whole experiment when the controller is stopping; a trial after a result (an epoch
    boundary) once the study's budget is spent."""

    def __init__(self, key: str) -> None:
        self._engine_key = key

    def __call__(self, trial_id: str, result: dict) -> bool:
        return self.engine.over_budget(trial_id, result)

    def stop_all(self) -> bool:
        return self.engine.stopping


class BudgetedVariants(_Bound, BasicVariantGenerator):
    """Ray's placeholder trials (each configured by the engine when added), none added once the
    study's budget would be exceeded by one more trial: the run then ends as its trials do."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        BasicVariantGenerator.__init__(self, **kwargs)
        self._engine_key = key

    def next_trial(self) -> Any:
        if self.is_finished() or len(self.engine.live) >= self.engine.study_run.options.parallel:
            return None  # nothing more, or no slot: the budget (a read of the record) is weighed when one frees
        if not self.engine.study_run.budget_allows_start():
            self.set_finished()
            return None
        return super().next_trial()


class Recorder(_Bound, tune.Callback):
    def __init__(self, key: str) -> None:
        self._engine_key = key

    def on_trial_start(self, iteration, trials, trial, **info):
        self.engine.started(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.engine.result(trial, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.engine.finished(trial, error=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.engine.finished(trial, error=True)


class _Clip:
    """PBT's explore step, kept inside the parameters' bounds."""

    def __init__(self, bounds: dict[str, tuple[float, float]]) -> None:
        self.bounds = bounds

    def __call__(self, config: dict) -> dict:
        for key, (low, high) in self.bounds.items():
            if key in config:
                config[key] = float(min(max(config[key], low), high))
        return config


def recorded_pbt(key: str, space: SearchSpace | None, max_epochs: int) -> RecordedPBT:
    """PopulationBasedTraining over the independent float parameters (perturbed within bounds)."""
    floats = {p.key: p for p in (space.params if space else ()) if isinstance(p, FloatParam)
              and not p.relations and not p.active_if and not p.requires and p.low < p.high}
    if not floats:
        raise AutomlError("--algorithm pbt: the search space has no independent float parameter to perturb")
    mutations = {key: (tune.loguniform(p.low, p.high) if p.log else tune.uniform(p.low, p.high))
                 for key, p in floats.items()}
    return RecordedPBT(key, time_attr="epoch", perturbation_interval=max(1, max_epochs // 4), hyperparam_mutations=mutations,
                                   quantile_fraction=PBT_QUANTILE,
                                   custom_explore_fn=_Clip({k: (p.low, p.high) for k, p in floats.items()}),
                                   synch=False)
