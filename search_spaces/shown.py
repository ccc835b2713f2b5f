"""What Optuna's own tools (``study.best_params``, ``trials_dataframe()``, optuna-dashboard) should show of
a config: every searched value under its own dotted key, as the trial ran it.

``suggest`` often asks Optuna for a helper instead of the key itself (``key~u`` for a weighted choice or
a range that moves with another value, ``key~index`` for an ordered choice, ``key~exponent`` for a
power): the samplers model those. ``shown_params`` gives the values to record beside them, each with a
distribution spanning the parameter's whole range (a list one key per element, ``key[i]``); those are
extra, never instead, and a sampler leaves them out of what it models (``shown_names``).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from search_spaces.choice import ChoiceParam
from search_spaces.numeric import (
    DerivedParam,
    FloatParam,
    IntParam,
    PowerParam,
    SortedIntListParam,
)
from search_spaces.params import Param
from search_spaces.space import SearchSpace


def _element(key: str, index: int) -> str:
    return f"{key}[{index}]"


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _shown_value(param: Param, value: Any) -> Any:
    """A value as Optuna can hold it: a choice that is a list (LR milestones) as its JSON text."""
    if isinstance(param, ChoiceParam) and not all(_plain(o) for o in param.options):
        return json.dumps(value)
    return value


def _distribution(param: Param) -> BaseDistribution | None:
    if isinstance(param, ChoiceParam):
        return CategoricalDistribution([_shown_value(param, o) for o in param.options])
    if isinstance(param, FloatParam):
        return FloatDistribution(param.low, param.high, log=param.log)
    if isinstance(param, (IntParam, SortedIntListParam)):
        return IntDistribution(int(param.low), int(param.high))
    if isinstance(param, PowerParam):
        first, last = param.exponents()
        return IntDistribution(param.base ** first, param.base ** last, log=True)
    return None


def shown_params(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, tuple[Any, BaseDistribution]]:
    """The values and distributions to record for ``config`` beside what ``suggest`` asked."""
    asked = set(space.trial_params(config))
    shown: dict[str, tuple[Any, BaseDistribution]] = {}
    for param in space.params:
        if param.key not in config or param.key in asked or isinstance(param, DerivedParam):
            continue
        distribution = _distribution(param)
        if isinstance(param, SortedIntListParam):
            shown.update({_element(param.key, i): (int(v), distribution) for i, v in enumerate(config[param.key])})
        elif distribution is not None:
            shown[param.key] = (_shown_value(param, config[param.key]), distribution)
    return shown


def shown_names(space: SearchSpace, draws: int = 64) -> frozenset[str]:
    """The names ``shown_params`` records for the space's configs that no config ever asks, so a
    sampler can leave them out of what it models; read off seeded random configs, which reach every
    parameter's active state."""
    rng = np.random.default_rng(0)
    shown: set[str] = set()
    asked: set[str] = set()
    for _ in range(draws):
        config = space.sample(rng)
        shown.update(shown_params(space, config))
        asked.update(space.trial_params(config))
    return frozenset(shown - asked)
