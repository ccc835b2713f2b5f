"""Algorithms by name: TAO's names plus ours, and what each one is in each engine.

| name | Optuna engine | Ray engine (the record's same sampler proposes) |
| --- | --- | --- |
| bayesian | GPSampler on at most 128 observations (the 64 best, or of several objectives the first Pareto fronts, + the 64 latest), running trials conditioned on (no near-duplicate proposals) | the same GP, FIFO |
| tpe | TPESampler(multivariate, group, constant liar) | the same TPE, FIFO |
| random | RandomSampler | RandomSampler, FIFO |
| grid | LazyGridSampler over a few points per parameter (``SearchSpace.grid``) | the same grid, FIFO |
| hyperband | RandomSampler + HyperbandPruner | RandomSampler + asynchronous HyperBand (ASHA in s_max + 1 brackets) |
| asha | RandomSampler + SuccessiveHalvingPruner | RandomSampler + ASHA (one bracket) |
| bohb | TPESampler + HyperbandPruner | the same TPE + asynchronous HyperBand |
| pbt | (Ray only) | RandomSampler starts + PopulationBasedTraining |

Epochs are the budget: pruners and schedulers compare trials at the same epoch only. ``dehb`` is
left out: no well-kept implementation fits these engines, and a hand-made one is out of scope.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from automl.errors import AutomlError
from search_spaces import SearchSpace, shown_names
from search_spaces.grid import LazyGridSampler

ALGORITHMS = ("bayesian", "tpe", "random", "grid", "hyperband", "asha", "bohb", "pbt")
RAY_ONLY = ("pbt",)


@dataclass(frozen=True)
class OptunaParts:
    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner


def check_algorithm(name: str, engine: str) -> None:
    if name not in ALGORITHMS:
        hint = " (dehb is not provided; see docs/AUTOML.md)" if name == "dehb" else ""
        raise AutomlError(f"--algorithm {name}: unknown; expected one of {', '.join(ALGORITHMS)}{hint}")
    if engine == "optuna" and name in RAY_ONLY:
        raise AutomlError(f"--algorithm {name}: runs on --engine ray only")


LEARNING = ("bayesian", "tpe", "bohb")  # their samplers model the results so far (a warm start's observations too)
MULTI_OBJECTIVE = ("bayesian", "tpe", "random", "grid")  # no pruning: a trial is weighed on every objective


def check_multi_objective(name: str, engine: str) -> None:
    """A multi-objective study: Optuna's samplers that weigh several objectives, no pruning."""
    if engine != "optuna":
        raise AutomlError(f"--engine {engine}: multi-objective studies run on the optuna engine (Ray Tune's "
                          "schedulers stop trials on one metric)")
    if name not in MULTI_OBJECTIVE:
        raise AutomlError(f"--algorithm {name}: prunes on one metric; a multi-objective study uses one of "
                          f"{', '.join(MULTI_OBJECTIVE)}")


def grid_search_space(space: SearchSpace) -> dict[str, list[Any]]:
    """The Optuna parameter names ``space.suggest`` asks, each with a few grid values."""
    return space.grid()


def grid_size(space: SearchSpace) -> int:
    return math.prod(len(v) for v in grid_search_space(space).values())


GP_WINDOW = 128  # a GP is cubic in its observations and its acquisition search grows with them


def pareto_ranks(losses: np.ndarray, enough: int) -> np.ndarray:
    """Each row's non-dominated rank (0: the Pareto front of the rows, all objectives minimised),
    peeled front by front until at least ``enough`` rows are ranked; the rest rank after them. One
    objective: its order."""
    n = len(losses)
    if losses.shape[1] == 1:
        ranks = np.empty(n, dtype=int)
        ranks[np.argsort(losses[:, 0], kind="stable")] = np.arange(n)
        return ranks
    no_worse = (losses[:, None, :] <= losses[None, :, :]).all(axis=2)
    better = (losses[:, None, :] < losses[None, :, :]).any(axis=2)
    dominates = no_worse & better  # [i, j]: row i dominates row j
    ranks = np.full(n, n, dtype=int)
    left = np.ones(n, dtype=bool)
    rank = 0
    while left.any() and (~left).sum() < enough:
        front = left & ~(dominates[left].any(axis=0))
        ranks[front] = rank
        left &= ~front
        rank += 1
    return ranks


class _WindowedStudy:
    """A read view of a study that shows a GP only its window of completed trials."""

    def __init__(self, study: optuna.Study, window: int) -> None:
        self._study, self._window = study, window

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _select(self, trials: list) -> list:
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        if len(complete) <= self._window:
            return trials
        half = self._window // 2
        signs = [-1.0 if d == optuna.study.StudyDirection.MAXIMIZE else 1.0 for d in self._study.directions]
        losses = np.array([[s * v for s, v in zip(signs, t.values)] for t in complete])
        ranks = pareto_ranks(losses, half)
        order = sorted(range(len(complete)), key=lambda i: (ranks[i], losses[i, 0], complete[i].number))
        best = [complete[i] for i in order[:half]]
        latest = sorted(complete, key=lambda t: t.number)[-(self._window - len(best)):]
        keep = {t.number for t in best} | {t.number for t in latest}
        return [t for t in trials if t.state != optuna.trial.TrialState.COMPLETE or t.number in keep]

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> list:
        return self._select(self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache))

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list:
        return self._select(self._study.get_trials(deepcopy=deepcopy, states=states))


class WindowedGPSampler(optuna.samplers.BaseSampler):
    """Optuna's GPSampler fitted to at most ``window`` completed trials: the best half (of several
    objectives: the first Pareto fronts, ties by the first objective) and the latest half, so a
    suggestion stays fast at thousands of trials (docs/BENCHMARKS.md)."""

    def __init__(self, seed: int | None, n_startup_trials: int, window: int = GP_WINDOW) -> None:
        import torch  # Optuna's GP runs on torch; only studies that use it pay the import

        torch.set_num_threads(1)  # the controller's GP must not fight the trials for the cores (4-10x faster)
        self._gp = optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials,
                                             warn_independent_sampling=False)
        self._window = window

    def _view(self, study: optuna.Study) -> Any:
        return _WindowedStudy(study, self._window)

    def infer_relative_search_space(self, study, trial):
        return self._gp.infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study, trial, search_space):
        return self._gp.sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._gp.sample_independent(self._view(study), trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._gp.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._gp.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._gp.reseed_rng()


class ShownHidingSampler(optuna.samplers.BaseSampler):
    """A sampler that models only what trials ask: the values recorded beside them for Optuna's own
    tools (``search_spaces.shown``: a choice's value beside its ``~u`` helper) are left out of the
    relative search space, so a TPE or GP never fits a parameter twice or proposes what is not asked."""

    def __init__(self, inner: optuna.samplers.BaseSampler, hidden: frozenset[str]) -> None:
        self.inner, self.hidden = inner, hidden

    def infer_relative_search_space(self, study, trial):
        space = self.inner.infer_relative_search_space(study, trial)
        return {name: d for name, d in space.items() if name not in self.hidden}

    def sample_relative(self, study, trial, search_space):
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def startup_trials(max_trials: int) -> int:
    """Random trials before a model-based sampler takes over: a third of the budget, 3 to 10."""
    return min(10, max(3, max_trials // 3))


def optuna_parts(name: str, space: SearchSpace, seed: int, max_epochs: int, max_trials: int = 30) -> OptunaParts:
    none = optuna.pruners.NopPruner()
    startup = startup_trials(max_trials)
    hidden = shown_names(space)
    if name == "bayesian":
        return OptunaParts(ShownHidingSampler(WindowedGPSampler(seed, startup), hidden), none)
    tpe = ShownHidingSampler(optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                                        constant_liar=True, n_startup_trials=startup), hidden)
    if name == "tpe":
        return OptunaParts(tpe, none)
    if name == "random":
        return OptunaParts(optuna.samplers.RandomSampler(seed=seed), none)
    if name == "grid":
        return OptunaParts(LazyGridSampler(grid_search_space(space), seed=seed), none)
    hyperband = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1), reduction_factor=3)
    if name == "hyperband":
        return OptunaParts(optuna.samplers.RandomSampler(seed=seed), hyperband)
    if name == "bohb":
        return OptunaParts(tpe, hyperband)
    if name == "asha":
        return OptunaParts(optuna.samplers.RandomSampler(seed=seed),
                           optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    raise AutomlError(f"--algorithm {name}: not available with --engine optuna")


def first_configs(space: SearchSpace, name: str, seed: int, count: int) -> list[dict[str, Any]]:
    """What the algorithm would try first (for --dry-run), drawn in a throw-away in-memory study."""
    parts = optuna_parts(name if name not in RAY_ONLY else "random", space, seed, 1)
    study = optuna.create_study(sampler=parts.sampler, direction="maximize")
    configs = []
    for _ in itertools.repeat(None, count):
        trial = study.ask()
        configs.append(space.suggest(trial))
    return configs
