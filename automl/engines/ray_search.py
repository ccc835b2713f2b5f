"""Ray Tune's side of a study, bound to the running ``RayEngine`` by a key (Tune pickles its search
algorithm, scheduler, stopper and callbacks): numbered search generators (the controller numbers
and records each trial Ray creates), the recorder callback, a searcher that tells Optuna the truth
about stopped and failed trials, and PBT that records its lineage.
"""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.search_generator import SearchGenerator
from ray.tune.stopper import Stopper

from automl.engines.ray_trial import NUMBER_KEY, RESUME_KEY
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


class EngineStop(_Bound, Stopper):
    """Ends the whole experiment when the controller is stopping."""

    def __init__(self, key: str) -> None:
        self._engine_key = key

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.engine.stopping


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


class _Numbering(_Bound):
    """A search algorithm whose new trials the controller numbers and records."""

    def __init__(self, key: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._engine_key = key

    def next_trial(self):
        trial = super().next_trial()
        if trial is not None:
            self.engine.open_record(trial)
        return trial


class NumberedVariants(_Numbering, BasicVariantGenerator):
    """Ray's default generator, numbered."""


class NumberedSearch(_Numbering, SearchGenerator):
    """A searcher's generator, numbered."""


class BudgetAwareOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch, told the truth: a trial stopped before its last epoch is PRUNED (its early
    score is no final score) and a failed one is FAIL (never a score)."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if error:
            super().on_trial_complete(trial_id, None, error=True)
        elif not result or not result.get("finished"):
            super().on_trial_complete(trial_id, None, error=False)  # told PRUNED
        else:
            super().on_trial_complete(trial_id, result, error=False)


class _Clip:
    """PBT's explore step, kept inside the parameters' bounds."""

    def __init__(self, bounds: dict[str, tuple[float, float]]) -> None:
        self.bounds = bounds

    def __call__(self, config: dict) -> dict:
        for key, (low, high) in self.bounds.items():
            if key in config:
                config[key] = float(min(max(config[key], low), high))
        return config


class RecordedPBT(_Bound, PopulationBasedTraining):
    """PBT whose exploit step keeps the clone's own number and folder and records its lineage."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._engine_key = key

    def _exploit(self, tune_controller, trial, trial_to_clone):
        own = trial.config[NUMBER_KEY]
        epoch = int((self._trial_state[trial_to_clone].last_result or {}).get("epoch", 0)) - 1
        super()._exploit(tune_controller, trial, trial_to_clone)
        config = dict(trial.config)
        config[NUMBER_KEY] = own
        config.pop(RESUME_KEY, None)
        trial.set_config(config)
        self.engine.exploited(trial, trial_to_clone, epoch)


def recorded_pbt(key: str, space: SearchSpace | None, metric: str, mode: str, max_epochs: int) -> RecordedPBT:
    """PopulationBasedTraining over the independent float parameters (perturbed within bounds)."""
    floats = {p.key: p for p in (space.params if space else ()) if isinstance(p, FloatParam)
              and not p.relations and not p.active_if and not p.requires and p.low < p.high}
    if not floats:
        raise AutomlError("--algorithm pbt: the search space has no independent float parameter to perturb")
    mutations = {key_: (tune.loguniform(p.low, p.high) if p.log else tune.uniform(p.low, p.high))
                 for key_, p in floats.items()}
    return RecordedPBT(key, time_attr="epoch", perturbation_interval=max(1, max_epochs // 4),
                        hyperparam_mutations=mutations, quantile_fraction=PBT_QUANTILE,
                        custom_explore_fn=_Clip({k: (p.low, p.high) for k, p in floats.items()}), synch=False)
