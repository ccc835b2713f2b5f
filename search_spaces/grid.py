"""Grid search over a space's grid (``SearchSpace.grid()``) without listing the grid.

Optuna's ``GridSampler`` builds every point up front (a 12-parameter grid of 3 values each is
half a million tuples; 18 parameters, tens of millions) and re-reads every trial at each ask and
tell. ``LazyGridSampler`` gives the same search: point ``i`` is decoded from its index (one digit
per parameter), the walk is a seeded shuffle of the indices (an affine bijection, so nothing is
stored), and what the study has tried is learnt once per finished trial. A suggestion costs the
same at 10 and at 10,000 trials, and the grid takes no memory.

A trial covers every grid point that agrees with its parameters: the grid values of a parameter
that was switched off (and so never asked) do not make a new configuration, so such points are
skipped. When every point is covered ``is_exhausted()`` turns true and a study run by
``study.optimize`` is stopped, as Optuna's grid does.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Mapping, Sequence

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class LazyGridSampler(optuna.samplers.BaseSampler):
    """Every combination of ``search_space``'s values (Optuna parameter name -> values), each
    once, in a seeded random order."""

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: int | None = None) -> None:
        self._names = sorted(search_space)
        self._values = [list(search_space[name]) for name in self._names]
        if not all(self._values):
            raise ValueError("every parameter of a grid needs at least one value")
        self.size = math.prod(len(values) for values in self._values)
        rng = np.random.default_rng(seed)
        self._step = self._coprime_step(rng)
        self._offset = int(rng.integers(self.size))
        self._cursor = 0  # walk positions before it are assigned or covered
        self._assigned: dict[int, int] = {}  # trial number -> grid index
        self._tried: dict[tuple[str, ...], set[tuple[Any, ...]]] = {}  # asked names -> their values, per trial
        self._learnt: set[int] = set()  # numbers of finished trials already in _tried
        self._lock = threading.Lock()

    def _coprime_step(self, rng: np.random.Generator) -> int:
        """A step that visits every index of ``range(size)`` once: coprime with the size."""
        if self.size <= 2:
            return 1
        while True:
            step = int(rng.integers(1, self.size))
            if math.gcd(step, self.size) == 1:
                return step

    def point(self, index: int) -> dict[str, Any]:
        """The grid point with this index: one digit per parameter, the first name varying fastest."""
        out = {}
        for name, values in zip(self._names, self._values):
            index, digit = divmod(index, len(values))
            out[name] = values[digit]
        return out

    def _record(self, params: Mapping[str, Any]) -> None:
        names = tuple(sorted(name for name in params if name in self._names))
        self._tried.setdefault(names, set()).add(tuple(params[name] for name in names))

    def _covered(self, point: Mapping[str, Any]) -> bool:
        return any(tuple(point[name] for name in names) in values for names, values in self._tried.items())

    def _learn(self, study: optuna.Study) -> None:
        for trial in study.get_trials(deepcopy=False, states=FINISHED):
            if trial.number not in self._learnt:
                self._learnt.add(trial.number)
                self._record(trial.params)

    def _next(self) -> int | None:
        """The next grid index on the walk that no trial covers (the walk moves past covered ones)."""
        while self._cursor < self.size:
            index = (self._offset + self._step * self._cursor) % self.size
            if not self._covered(self.point(index)):
                return index
            self._cursor += 1
        return None

    def is_exhausted(self) -> bool:
        """Whether every grid point is covered by a trial (finished, or running in this process)."""
        with self._lock:
            return self._next() is None

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "fixed_params" in trial.system_attrs:  # an enqueued trial brings its own values
            return
        with self._lock:
            self._learn(study)
            index = self._next()
            if index is None:  # every point is covered: re-run a random one
                index = int(np.random.default_rng().integers(self.size))
            self._assigned[trial.number] = index
            self._record(self.point(index))  # running: no other trial gets it

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if param_name not in self._names:
            raise ValueError(f"{param_name}: not a parameter of the grid ({', '.join(self._names)})")
        index = self._assigned.get(trial.number)
        if index is None:
            raise ValueError(f"trial {trial.number}: enqueued without {param_name}, which the grid needs")
        return self.point(index)[param_name]

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        with self._lock:
            self._assigned.pop(trial.number, None)
            self._learnt.add(trial.number)
            self._record(trial.params)
        if self.is_exhausted():
            try:
                study.stop()
            except RuntimeError:  # outside study.optimize (ask and tell): the caller stops at is_exhausted()
                pass
