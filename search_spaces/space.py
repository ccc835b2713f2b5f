"""``SearchSpace``: the compiled parameters in dependency order, and every way to use them.

A *config* is a flat mapping of dotted spec keys to values (derived ones included); keys with a
``~`` are sampler helpers (``key~u``), ignored by ``validate`` and ``to_spec``. Parameters
switched off by their parent are left out of a config and keep their base value in the spec.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from schemas import spec
from search_spaces.numeric import SortedIntListParam
from search_spaces.params import HELPER_MARK, Param, SearchSpaceError, unit_names

COLUMNS = ("parameter", "type", "range / options", "scale", "weights", "relations")
UNIT_GRID = (0.25, 0.75)  # a unit helper's grid values: the middles of its two halves


class SearchSpace:
    def __init__(self, params: Sequence[Param], fixed: Mapping[str, Any]) -> None:
        self.params: tuple[Param, ...] = tuple(params)
        self.fixed: dict[str, Any] = dict(fixed)  # base values of every key: relations, switched-off parameters
        self.keys: tuple[str, ...] = tuple(p.key for p in self.params)
        self._searched = frozenset(self.keys)

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"SearchSpace({', '.join(self.keys)})"

    def _context(self) -> dict[str, Any]:
        return dict(self.fixed)

    # --- drawing configs ---------------------------------------------------------------------------

    def asked_as_units(self, param: Param) -> bool:
        """Whether the parameter's range moves with another searched value (or, for a list, with
        its own earlier elements): Optuna then sees uniform helpers with a fixed range, which its
        model-based samplers (GP, multivariate TPE) can learn, decoded like Ray's draws."""
        return isinstance(param, SortedIntListParam) or any(k in self._searched for k in param.requires)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Optuna define-by-run: ask ``trial`` for every active parameter, in dependency order."""
        ctx, config = self._context(), {}
        for param in self.params:
            if not param.is_active(ctx):
                continue
            if self.asked_as_units(param) and param.units:
                units = [trial.suggest_float(name, 0.0, 1.0) for name in unit_names(param.key, param.units)]
                value = param.decode(units, ctx)
            else:
                value = param.suggest(trial, ctx)
            ctx[param.key] = config[param.key] = value
        return config

    def trial_params(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The Optuna parameters ``suggest`` records for ``config`` (for ``study.enqueue_trial``)."""
        problems = self.validate(config)
        if problems:
            raise SearchSpaceError(f"cannot replay a config this space cannot produce: {problems[0]}")
        ctx, params = self._context(), {}
        ctx.update({k: v for k, v in config.items() if HELPER_MARK not in k})
        for param in self.params:
            if not param.is_active(ctx):
                continue
            value = config[param.key]
            if self.asked_as_units(param) and param.units:
                params.update(zip(unit_names(param.key, param.units), param.encode(value, ctx)))
            else:
                params.update(param.trial_params(value, ctx))
        return params

    def grid(self) -> dict[str, list[Any]]:
        """The Optuna parameters ``suggest`` asks, each with a few values, for a grid sampler
        (``search_spaces.grid.LazyGridSampler``): every option of a choice, three values of a range;
        a range that moves with another searched value is asked as unit helpers, each at 1/4 and 3/4."""
        ctx, grid = self._context(), {}
        for param in self.params:
            if self.asked_as_units(param) and param.units:
                grid.update((name, list(UNIT_GRID)) for name in unit_names(param.key, param.units))
            else:
                grid.update(param.grid_values(ctx))
        return grid

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """A config drawn at random (weights honoured), independent of any engine."""
        return self.decode({p.key: rng.random(p.units).tolist() for p in self.params})

    def decode(self, units: Mapping[str, Sequence[float]]) -> dict[str, Any]:
        """The config that uniform draws (``units[key]``, ``param.units`` of them) stand for."""
        ctx, config = self._context(), {}
        for param in self.params:
            if param.is_active(ctx):
                ctx[param.key] = config[param.key] = param.decode(units.get(param.key, ()), ctx)
        return config

    # --- checking and placing ------------------------------------------------------------------------

    def validate(self, config: Mapping[str, Any]) -> list[str]:
        """Every way ``config`` breaks the space (empty when it is a config this space can produce)."""
        problems = [f"{key}: not a parameter of this search space" for key in config
                    if HELPER_MARK not in key and key not in self.keys]
        ctx = self._context()
        ctx.update({k: v for k, v in config.items() if HELPER_MARK not in k})
        for param in self.params:
            if not param.is_active(ctx):
                continue
            if param.key not in config:
                problems.append(f"{param.key}: missing")
                continue
            try:
                problems += param.check(config[param.key], ctx)
            except (KeyError, TypeError, ValueError, SearchSpaceError) as err:
                problems.append(f"{param.key}: cannot be checked ({err})")
        return problems

    def to_spec(self, config: Mapping[str, Any], base_spec: Mapping[str, Any]) -> dict[str, Any]:
        """``base_spec`` (nested) with the config's values placed at their dotted keys."""
        try:
            return spec.with_values(base_spec, {k: v for k, v in config.items() if HELPER_MARK not in k})
        except spec.SpecError as err:
            raise SearchSpaceError(str(err)) from None

    def describe(self) -> str:
        """A table of parameters, types, ranges, scales, weights and relations for a launch review."""
        rows = []
        for param in self.params:
            info = param.describe()
            relations = info.get("relations", "")
            if param.active_if:
                relations = "; ".join(filter(None, [f"only when {param.active_if}", relations]))
            rows.append((param.key, info["type"], info["range"], info.get("scale", ""), info.get("weights", ""),
                         relations))
        widths = [max(len(str(r[i])) for r in rows + [COLUMNS]) for i in range(len(COLUMNS))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(COLUMNS, widths)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)
