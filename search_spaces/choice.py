"""Choices among listed options: bools, categories, ordered values, with optional weights."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from search_spaces.params import HELPER_MARK, Param


@dataclass(frozen=True)
class ChoiceParam(Param):
    """One of ``options``. How Optuna is asked (docs/SEARCH_SPACES.md, "Choices"):

    - ``weights``: a uniform ``key~u`` mapped through the cumulative weights, so every sampler's
      random draws follow the prior; the intervals lie in option order;
    - ``ordered`` (numbers, by value; or listed order): the option's rank ``key~index``, an int,
      so model-based samplers see which options are neighbours;
    - otherwise: a categorical ``key`` over the options."""

    options: tuple[Any, ...] = ()
    weights: tuple[float, ...] | None = None  # normalised; None = uniform
    ordered: bool = False
    kind: str = "choice"

    @property
    def cumulative(self) -> list[float]:
        total, out = 0.0, []
        for w in self.weights or ():
            total += w
            out.append(total)
        return out

    def from_unit(self, unit: float) -> Any:
        if self.weights is None:
            return self.options[min(int(unit * len(self.options)), len(self.options) - 1)]
        return self.options[min(bisect.bisect_right(self.cumulative, unit), len(self.options) - 1)]

    def unit_for(self, value: Any) -> float:
        """The middle of ``value``'s interval (to replay a known configuration)."""
        index = self.options.index(value)
        if self.weights is None:
            return (index + 0.5) / len(self.options)
        upper = self.cumulative[index]
        return upper - self.weights[index] / 2

    def decode(self, units: Sequence[float], ctx: Mapping[str, Any]) -> Any:
        return self.from_unit(units[0])

    @property
    def asked_as(self) -> str:
        """The Optuna parameter ``suggest`` asks: ``key~u``, ``key~index`` or ``key``."""
        if self.weights is not None:
            return f"{self.key}{HELPER_MARK}u"
        return f"{self.key}{HELPER_MARK}index" if self.ordered else self.key

    def suggest(self, trial: Any, ctx: Mapping[str, Any]) -> Any:
        if self.weights is not None:
            return self.from_unit(trial.suggest_float(self.asked_as, 0.0, 1.0))
        if self.ordered:
            return self.options[trial.suggest_int(self.asked_as, 0, len(self.options) - 1)]
        return trial.suggest_categorical(self.key, list(self.options))

    def trial_params(self, value: Any, ctx: Mapping[str, Any]) -> dict[str, Any]:
        if self.weights is not None:
            return {self.asked_as: self.unit_for(value)}
        return {self.asked_as: self.options.index(value) if self.ordered else value}

    def encode(self, value: Any, ctx: Mapping[str, Any]) -> list[float]:
        return [self.unit_for(value)]

    def check(self, value: Any, ctx: Mapping[str, Any]) -> list[str]:
        if not any(value == o and type(value) is type(o) for o in self.options):
            return [f"{self.key}: {value!r} is not one of {list(self.options)}"]
        return []

    def grid_values(self, ctx: Mapping[str, Any]) -> dict[str, list[Any]]:
        return {self.asked_as: [self.trial_params(option, ctx)[self.asked_as] for option in self.options]}

    def describe(self) -> dict[str, str]:
        weights = ", ".join(f"{o}: {w:.2f}" for o, w in zip(self.options, self.weights)) if self.weights else ""
        kind = "bool" if set(self.options) <= {True, False} and all(isinstance(o, bool) for o in self.options) else (
            "ordered" if self.ordered else "categorical")
        return {"type": kind, "range": ", ".join(map(str, self.options)), "scale": "", "weights": weights,
                "relations": ""}
