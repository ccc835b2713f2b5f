"""The search-space IR's contract: what every kind of parameter can do, and the pieces they share.

Every parameter (``search_spaces.numeric``, ``search_spaces.choice``) can
- ``decode(units, ctx)``: turn uniform draws in [0, 1) into a value, given ``ctx`` (the values of
  the parameters it depends on, searched or fixed). The transforms are the ones Optuna's
  RandomSampler applies, so plain random sampling, Ray's default generator (which draws the
  units) and Optuna's random sampler give the same distributions;
- ``suggest(trial, ctx)``: ask an Optuna trial (define-by-run) with native distributions whose
  ranges may depend on ``ctx``;
- ``check(value, ctx)``: list what is wrong with a value;
- ``grid_values(ctx)``: a few values of each Optuna parameter ``suggest`` asks, for a grid;
- ``describe()``: one row for the launch review.

Ranges that depend on other parameters are ``Relation``s, resolved against ``ctx`` at draw time.
Helper names in Optuna/Ray configs carry a ``~`` (``key~u``, ``key~index``, ``key~exponent``);
they are never spec keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from schemas.spec import HELPER_MARK  # the one mark of a helper name, never in a spec key (re-exported)


def unit_names(key: str, units: int) -> list[str]:
    """Names of a parameter's uniform helper draws in Ray configs: ``key~u``, or ``key~u0, key~u1, ...``."""
    return [f"{key}{HELPER_MARK}u"] if units == 1 else [f"{key}{HELPER_MARK}u{i}" for i in range(units)]


class SearchSpaceError(ValueError):
    """A schema, parameter list or range that cannot make a search space; one line naming the parameter."""


class NoRoomError(SearchSpaceError):
    """A searched parameter whose range holds no value given the others (e.g. LR milestones below a
    one-epoch ``num_epochs``); ``key`` names it, so a caller may hold it at its base value instead."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Relation:
    """``value OP factor * ctx[key]``: a bound that comes from another parameter's value."""

    op: str  # ">", ">=", "<", "<=", "!="
    key: str
    factor: float = 1.0

    def bound(self, ctx: Mapping[str, Any]) -> float:
        return self.factor * float(ctx[self.key])

    def text(self) -> str:
        scale = "" if self.factor == 1 else f"{self.factor:g} x "
        return f"{self.op} {scale}{self.key}"


@dataclass(frozen=True)
class Param:
    key: str
    active_if: str | None = None  # a bool parameter: searched only while it is true
    requires: tuple[str, ...] = field(default=())  # keys the range depends on

    units: int = 1
    kind: str = ""

    def dependencies(self) -> tuple[str, ...]:
        return self.requires + ((self.active_if,) if self.active_if else ())

    def is_active(self, ctx: Mapping[str, Any]) -> bool:
        return self.active_if is None or ctx.get(self.active_if) is True

    def decode(self, units: Sequence[float], ctx: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def suggest(self, trial: Any, ctx: Mapping[str, Any]) -> Any:
        """Ask Optuna with the parameter's own distribution (ranges resolved against ``ctx``)."""
        raise NotImplementedError

    def trial_params(self, value: Any, ctx: Mapping[str, Any]) -> dict[str, Any]:
        """The Optuna parameters ``suggest`` would record for ``value`` (to replay a known config)."""
        return {self.key: value}

    def encode(self, value: Any, ctx: Mapping[str, Any]) -> list[float]:
        """Uniform draws that ``decode`` turns back into ``value`` (the middle of its interval)."""
        raise NotImplementedError

    def check(self, value: Any, ctx: Mapping[str, Any]) -> list[str]:
        raise NotImplementedError

    def grid_values(self, ctx: Mapping[str, Any]) -> dict[str, list[Any]]:
        """A few values of each Optuna parameter ``suggest`` asks (its range resolved against ``ctx``)."""
        raise NotImplementedError

    def describe(self) -> dict[str, str]:
        raise NotImplementedError


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def unit_from_int(value: int, low: int, high: int, step: int, log: bool) -> float:
    """Inverse of ``int_from_unit``: the middle of ``value``'s share of [0, 1)."""
    if log:
        lo, hi = math.log(low - 0.5), math.log(high + 0.5)
        unit = (math.log(value) - lo) / (hi - lo)
    else:
        unit = (value - low + 0.5 * step) / (high - low + step)
    return min(max(unit, 0.0), 1.0 - 1e-12)


def int_from_unit(unit: float, low: int, high: int, step: int, log: bool) -> int:
    """Optuna RandomSampler's mapping of a uniform draw to an int distribution."""
    if log:
        lo, hi = math.log(low - 0.5), math.log(high + 0.5)
        value = int(round(math.exp(lo + unit * (hi - lo))))
    else:
        lo, hi = low - 0.5 * step, high + 0.5 * step
        value = math.floor((lo + unit * (hi - lo) - low) / step + 0.5) * step + low
    return min(max(value, low), high)


GRID_FRACTIONS = (0.1, 0.5, 0.9)  # where a continuous range is cut for a grid: inside its ends
