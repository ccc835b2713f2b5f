"""Numeric kinds of parameter: floats, ints (steps, multiples, gaps), powers, sorted int lists, derived values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from search_spaces.params import (
    GRID_FRACTIONS,
    HELPER_MARK,
    Param,
    Relation,
    SearchSpaceError,
    int_from_unit,
    is_number,
    unit_from_int,
)


@dataclass(frozen=True)
class FloatParam(Param):
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    relations: tuple[Relation, ...] = ()
    kind: str = "float"

    def bounds(self, ctx: Mapping[str, Any]) -> tuple[float, float]:
        low, high = self.low, self.high
        for relation in self.relations:
            value = relation.bound(ctx)
            if relation.op in (">", ">="):
                low = max(low, math.nextafter(value, math.inf) if relation.op == ">" else value)
            elif relation.op in ("<", "<="):
                high = min(high, math.nextafter(value, -math.inf) if relation.op == "<" else value)
        if not low <= high:
            raise SearchSpaceError(f"{self.key}: empty range [{low}, {high}] given {self._given(ctx)}")
        return low, high

    def _given(self, ctx: Mapping[str, Any]) -> str:
        return ", ".join(f"{r.key}={ctx.get(r.key)}" for r in self.relations) or "its bounds"

    def decode(self, units: Sequence[float], ctx: Mapping[str, Any]) -> float:
        low, high = self.bounds(ctx)
        if low == high:
            return low
        if self.log:
            value = math.exp(math.log(low) + units[0] * (math.log(high) - math.log(low)))
        else:
            value = low + units[0] * (high - low)
        return min(max(value, low), math.nextafter(high, -math.inf))

    def suggest(self, trial: Any, ctx: Mapping[str, Any]) -> float:
        low, high = self.bounds(ctx)
        return trial.suggest_float(self.key, low, high, log=self.log)

    def encode(self, value: Any, ctx: Mapping[str, Any]) -> list[float]:
        low, high = self.bounds(ctx)
        if low == high:
            return [0.5]
        if self.log:
            unit = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
        else:
            unit = (value - low) / (high - low)
        return [min(max(unit, 0.0), 1.0 - 1e-12)]

    def check(self, value: Any, ctx: Mapping[str, Any]) -> list[str]:
        if not is_number(value):
            return [f"{self.key}: expected a number, got {value!r}"]
        low, high = self.bounds(ctx)
        if not low <= value <= high:
            return [f"{self.key}: {value!r} outside [{low:g}, {high:g}]"]
        if any(r.op == "!=" and value == r.bound(ctx) for r in self.relations):
            return [f"{self.key}: {value!r} is excluded"]
        return []

    def grid_values(self, ctx: Mapping[str, Any]) -> dict[str, list[Any]]:
        low, high = self.bounds(ctx)
        return {self.key: sorted({self.decode([f], ctx) for f in GRID_FRACTIONS})} if low < high else {self.key: [low]}

    def describe(self) -> dict[str, str]:
        return {"type": "float", "range": f"[{self.low:g}, {self.high:g}]", "scale": "log" if self.log else "linear",
                "relations": "; ".join(r.text() for r in self.relations)}


@dataclass(frozen=True)
class IntParam(Param):
    """An integer in [low, high]; ``step`` a number, or ``step_key`` a parameter whose value the
    value must be a multiple of (e.g. a batch of whole groups); ``excluded`` values are skipped."""

    low: int = 0
    high: int = 1
    step: int = 1
    step_key: str | None = None
    log: bool = False
    relations: tuple[Relation, ...] = ()
    excluded: tuple[int, ...] = ()
    kind: str = "int"

    def span(self, ctx: Mapping[str, Any]) -> tuple[int, int, int]:
        """(low, high, step) for this draw, low and high on the step grid (multiples of the step)."""
        low, high = self.low, self.high
        for relation in self.relations:
            value = relation.bound(ctx)
            if relation.op == ">":
                low = max(low, math.floor(value) + 1)
            elif relation.op == ">=":
                low = max(low, math.ceil(value))
            elif relation.op == "<":
                high = min(high, math.ceil(value) - 1)
            elif relation.op == "<=":
                high = min(high, math.floor(value))
        step = int(ctx[self.step_key]) if self.step_key else self.step
        if step > 1:
            low, high = -(-low // step) * step, high // step * step
        if low > high:
            raise SearchSpaceError(f"{self.key}: no value of step {step} in [{self.low}, {self.high}] given "
                                   f"{', '.join(f'{k}={ctx.get(k)}' for k in self.requires) or 'its bounds'}")
        return low, high, step

    def _allowed(self, ctx: Mapping[str, Any]) -> list[int] | None:
        excluded = set(self.excluded) | {int(r.bound(ctx)) for r in self.relations if r.op == "!="}
        if not excluded:
            return None
        low, high, step = self.span(ctx)
        return [v for v in range(low, high + 1, step) if v not in excluded]

    def decode(self, units: Sequence[float], ctx: Mapping[str, Any]) -> int:
        allowed = self._allowed(ctx)
        if allowed is not None:
            return allowed[min(int(units[0] * len(allowed)), len(allowed) - 1)]
        low, high, step = self.span(ctx)
        return int_from_unit(units[0], low, high, step, self.log)

    def suggest(self, trial: Any, ctx: Mapping[str, Any]) -> int:
        allowed = self._allowed(ctx)
        if allowed is not None:  # a gap in the range: choose among the allowed values by position
            return allowed[trial.suggest_int(f"{self.key}{HELPER_MARK}index", 0, len(allowed) - 1)]
        low, high, step = self.span(ctx)
        return trial.suggest_int(self.key, low, high, step=step, log=self.log)

    def trial_params(self, value: Any, ctx: Mapping[str, Any]) -> dict[str, Any]:
        allowed = self._allowed(ctx)
        return {self.key: value} if allowed is None else {f"{self.key}{HELPER_MARK}index": allowed.index(value)}

    def encode(self, value: Any, ctx: Mapping[str, Any]) -> list[float]:
        allowed = self._allowed(ctx)
        if allowed is not None:
            return [(allowed.index(value) + 0.5) / len(allowed)]
        low, high, step = self.span(ctx)
        return [unit_from_int(value, low, high, step, self.log)]

    def check(self, value: Any, ctx: Mapping[str, Any]) -> list[str]:
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{self.key}: expected an int, got {value!r}"]
        low, high, step = self.span(ctx)
        if not low <= value <= high:
            return [f"{self.key}: {value} outside [{low}, {high}]"]
        if value % step:
            what = f"{self.step_key}={step}" if self.step_key else str(step)
            return [f"{self.key}: {value} is not a multiple of {what}"]
        allowed = self._allowed(ctx)
        if allowed is not None and value not in allowed:
            return [f"{self.key}: {value} is excluded"]
        return []

    def grid_values(self, ctx: Mapping[str, Any]) -> dict[str, list[Any]]:
        allowed = self._allowed(ctx)
        if allowed is not None:
            last = len(allowed) - 1
            return {f"{self.key}{HELPER_MARK}index": sorted({0, last // 2, last})}
        low, high, step = self.span(ctx)
        return {self.key: sorted({low + round(f * (high - low) / step) * step for f in (0.0, 0.5, 1.0)})}

    def describe(self) -> dict[str, str]:
        step = f", multiples of {self.step_key}" if self.step_key else (f", step {self.step}" if self.step > 1 else "")
        relations = [r.text() for r in self.relations] + [f"!= {v}" for v in self.excluded]
        return {"type": "int", "range": f"[{self.low}, {self.high}]{step}", "scale": "log" if self.log else "linear",
                "relations": "; ".join(relations)}


@dataclass(frozen=True)
class PowerParam(Param):
    """``base ** e`` within [low, high] (TAO's ``math_cond: "^ k"``)."""

    base: int = 2
    low: float = 1
    high: float = 1024
    kind: str = "power"

    def exponents(self) -> tuple[int, int]:
        first = math.ceil(math.log(self.low, self.base) - 1e-9) if self.low > 0 else 0
        last = math.floor(math.log(self.high, self.base) + 1e-9)
        return max(first, 0), last

    def decode(self, units: Sequence[float], ctx: Mapping[str, Any]) -> int:
        first, last = self.exponents()
        return self.base ** int_from_unit(units[0], first, last, 1, False)

    def suggest(self, trial: Any, ctx: Mapping[str, Any]) -> int:
        first, last = self.exponents()
        return self.base ** trial.suggest_int(f"{self.key}{HELPER_MARK}exponent", first, last)

    def _exponent(self, value: int) -> int:
        return round(math.log(value, self.base))

    def trial_params(self, value: Any, ctx: Mapping[str, Any]) -> dict[str, Any]:
        return {f"{self.key}{HELPER_MARK}exponent": self._exponent(value)}

    def encode(self, value: Any, ctx: Mapping[str, Any]) -> list[float]:
        first, last = self.exponents()
        return [unit_from_int(self._exponent(value), first, last, 1, False)]

    def check(self, value: Any, ctx: Mapping[str, Any]) -> list[str]:
        first, last = self.exponents()
        if value not in [self.base**e for e in range(first, last + 1)]:
            return [f"{self.key}: {value!r} is not a power of {self.base} in [{self.low:g}, {self.high:g}]"]
        return []

    def grid_values(self, ctx: Mapping[str, Any]) -> dict[str, list[Any]]:
        first, last = self.exponents()
        return {f"{self.key}{HELPER_MARK}exponent": sorted({first, (first + last) // 2, last})}

    def describe(self) -> dict[str, str]:
        first, last = self.exponents()
        return {"type": "power", "range": f"{self.base}^{first} .. {self.base}^{last}", "scale": "log", "relations": ""}


@dataclass(frozen=True)
class SortedIntListParam(Param):
    """``length`` strictly increasing ints in [low, high] (TAO's ``list_2``, e.g. LR milestones
    below ``train.num_epochs``); ``high`` may come from a relation. Needs ``units == length``."""

    length: int = 2
    low: int = 1
    high: int = 100
    relations: tuple[Relation, ...] = ()
    kind: str = "sorted_int_list"

    def span(self, ctx: Mapping[str, Any]) -> tuple[int, int]:
        high = self.high
        for relation in self.relations:
            value = relation.bound(ctx)
            high = min(high, math.ceil(value) - 1 if relation.op == "<" else math.floor(value))
        if high - self.low + 1 < self.length:
            raise SearchSpaceError(f"{self.key}: cannot place {self.length} increasing values in [{self.low}, {high}]"
                                   f" ({'; '.join(r.text() + '=' + str(ctx.get(r.key)) for r in self.relations)})")
        return self.low, high

    def decode(self, units: Sequence[float], ctx: Mapping[str, Any]) -> list[int]:
        low, high = self.span(ctx)
        values, previous = [], low - 1
        for i in range(self.length):
            value = int_from_unit(units[i], previous + 1, high - (self.length - 1 - i), 1, False)
            values.append(value)
            previous = value
        return values

    def encode(self, value: Any, ctx: Mapping[str, Any]) -> list[float]:
        low, high = self.span(ctx)
        units, previous = [], low - 1
        for i, element in enumerate(value):
            units.append(unit_from_int(element, previous + 1, high - (self.length - 1 - i), 1, False))
            previous = element
        return units

    def check(self, value: Any, ctx: Mapping[str, Any]) -> list[str]:
        low, high = self.span(ctx)
        if not isinstance(value, list) or len(value) != self.length or not all(isinstance(v, int) for v in value):
            return [f"{self.key}: expected {self.length} ints, got {value!r}"]
        if any(b <= a for a, b in zip(value, value[1:])) or value[0] < low or value[-1] > high:
            return [f"{self.key}: {value} is not strictly increasing within [{low}, {high}]"]
        return []

    def describe(self) -> dict[str, str]:
        return {"type": f"{self.length} sorted ints", "range": f"[{self.low}, {self.high}]", "scale": "linear",
                "relations": "; ".join(r.text() for r in self.relations)}


@dataclass(frozen=True)
class DerivedParam(Param):
    """Not searched: ``ctx[parent] / divisor`` (TAO's ``math_cond: "/ k"`` with ``depends_on``)."""

    parent: str = ""
    divisor: float = 1.0
    integer: bool = True
    units: int = 0
    kind: str = "derived"

    def value(self, ctx: Mapping[str, Any]) -> float:
        raw = float(ctx[self.parent]) / self.divisor
        return int(raw) if self.integer else raw

    def decode(self, units: Sequence[float], ctx: Mapping[str, Any]) -> float:
        return self.value(ctx)

    def suggest(self, trial: Any, ctx: Mapping[str, Any]) -> float:
        return self.value(ctx)

    def trial_params(self, value: Any, ctx: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def encode(self, value: Any, ctx: Mapping[str, Any]) -> list[float]:
        return []

    def check(self, value: Any, ctx: Mapping[str, Any]) -> list[str]:
        expected = self.value(ctx)
        return [] if value == expected else [f"{self.key}: expected {self.parent} / {self.divisor:g} = {expected}, got {value!r}"]

    def grid_values(self, ctx: Mapping[str, Any]) -> dict[str, list[Any]]:
        return {}

    def describe(self) -> dict[str, str]:
        return {"type": "derived", "range": f"= {self.parent} / {self.divisor:g}", "scale": "", "relations": ""}
