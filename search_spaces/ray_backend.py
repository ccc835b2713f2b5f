"""Ray Tune backends of a ``SearchSpace`` (Ray is imported only here, and only when used).

``param_space``: static, unconditional parameters become Ray's own domains (``tune.uniform``,
``tune.loguniform``, ``tune.randint``, ``tune.choice``); every other parameter (weighted choices,
ranges that depend on another value, conditional ones, steps, lists) becomes uniform helper
draws ``key~u0..`` plus a ``tune.sample_from`` that decodes them exactly as ``SearchSpace.sample``
does, so Ray's default generator produces only valid configs, with the same distributions.

``optuna_search``: Ray's ``OptunaSearch`` with the space's define-by-run function, for
model-based search (TPE, GP, ...) under Ray.
"""

from __future__ import annotations

from typing import Any, Mapping

from search_spaces.choice import ChoiceParam
from search_spaces.numeric import FloatParam, IntParam
from search_spaces.params import Param, unit_names
from search_spaces.space import SearchSpace


def _native(param: Param):
    """Ray's own domain for a parameter it can sample directly, else None."""
    from ray import tune  # Ray is heavy: imported only when a Ray backend is asked for

    if param.active_if or param.requires:
        return None
    if isinstance(param, FloatParam) and not param.relations:
        if param.low == param.high:
            return param.low
        return tune.loguniform(param.low, param.high) if param.log else tune.uniform(param.low, param.high)
    if isinstance(param, IntParam) and param.step == 1 and not param.step_key and not param.log \
            and not param.relations and not param.excluded:
        return tune.randint(param.low, param.high + 1)
    if isinstance(param, ChoiceParam) and param.weights is None:
        return tune.choice(list(param.options))
    return None


class _Decode:
    """``sample_from`` body: decode a parameter from its helper draws and the values it depends on."""

    def __init__(self, param: Param, searched: frozenset[str], fixed: Mapping[str, Any]) -> None:
        self.param, self.searched, self.fixed = param, searched, dict(fixed)

    def __call__(self, spec: Any) -> Any:
        config = spec.config  # Ray's guard raises (and retries later) while a dependency is unresolved
        ctx = dict(self.fixed)
        for key in self.param.dependencies():
            if key in self.searched:
                ctx[key] = getattr(config, key)
        if not self.param.is_active(ctx):
            return self.fixed.get(self.param.key)
        units = [getattr(config, name) for name in unit_names(self.param.key, self.param.units)]
        return self.param.decode(units, ctx)


def param_space(space: SearchSpace) -> dict[str, Any]:
    """A ``param_space`` for ``tune.Tuner`` that Ray's default generator samples validly."""
    from ray import tune  # Ray is heavy: imported only when a Ray backend is asked for

    searched = frozenset(space.keys)
    out: dict[str, Any] = {}
    for param in space.params:
        native = _native(param)
        if native is not None:
            out[param.key] = native
            continue
        for name in unit_names(param.key, param.units):
            out[name] = tune.uniform(0.0, 1.0)
        out[param.key] = tune.sample_from(_Decode(param, searched, space.fixed))
    return out


def optuna_search(space: SearchSpace, metric: str, mode: str, **kwargs: Any):
    """An ``OptunaSearch`` running the space's define-by-run function (model-based search under Ray)."""
    from ray.tune.search.optuna import OptunaSearch  # Ray is heavy: imported only when asked for

    def define_by_run(trial: Any) -> dict[str, Any]:
        return space.suggest(trial)  # Ray merges these (decoded and derived values included) with the trial's

    return OptunaSearch(space=define_by_run, metric=metric, mode=mode, **kwargs)
