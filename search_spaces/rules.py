"""How TAO-format metadata becomes a range and a scale: each quirk decided once.

The table in docs/SEARCH_SPACES.md lists these rules; each has a test in tests/test_search_spaces.py.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

RATE_NAME = re.compile(r"(^|_)(lr|learning_rate|weight_decay|decay|eps|epsilon)($|_)")
INFINITY_FACTOR = 4  # an unbounded maximum becomes this many times the default
RATE_DECADES = 100.0  # a rate without search bounds spans two decades either side of its default
LOG_SPAN = 1000.0  # a positive range this wide (max / min) is searched on a log scale


def is_rate(key: str) -> bool:
    """Learning rates, decays and epsilons: their useful values spread over orders of magnitude."""
    return bool(RATE_NAME.search(key.rsplit(".", 1)[-1]))


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def unbounded_upper(default: Any, low: float, integer: bool) -> float:
    """Rule 1: an ``Infinity`` (or missing) maximum becomes 4 x the default, and at least low + 10
    (int) or low + 1 (float). Never the default alone (TAO collapsed such ranges to it)."""
    floor = low + (10 if integer else 1.0)
    if finite(default) and default > 0:
        upper = default * INFINITY_FACTOR
        return max(math.ceil(upper) if integer else upper, floor)
    return floor


def unbounded_lower(default: Any, integer: bool) -> float:
    """Rule 2: a missing minimum becomes 0 for a non-negative default, else 4 x the default."""
    if not finite(default) or default >= 0:
        return 0
    lower = default * INFINITY_FACTOR
    return math.floor(lower) if integer else lower


def numeric_range(key: str, node: Mapping[str, Any], integer: bool) -> tuple[float, float]:
    """The search range before relations: ``x_search_*`` when present, else the validity bounds with
    rules 1 and 2 for missing or infinite ends, and rule 3 for rates."""
    default = node.get("default")
    low = node.get("x_search_min")
    high = node.get("x_search_max")
    rate_bounds = not integer and is_rate(key) and finite(default) and default > 0
    if low is None:
        low = node.get("minimum")
        if not finite(low):
            low = unbounded_lower(default, integer)
        if rate_bounds and node.get("x_scale") != "linear":
            low = max(low, default / RATE_DECADES)
    if high is None:
        high = node.get("maximum")
        if not finite(high):
            high = unbounded_upper(default, low, integer)
        if rate_bounds and node.get("x_scale") != "linear":
            high = min(high, default * RATE_DECADES)
    return low, high


def float_is_log(key: str, node: Mapping[str, Any], low: float, high: float) -> bool:
    """Rule 4, the scale of a float: ``x_scale`` when present; else log for rates (rule 3) and for
    positive ranges spanning three decades or more; else linear."""
    if node.get("x_scale") in ("log", "linear"):
        return node["x_scale"] == "log"
    if is_rate(key) and high > 0:
        return True
    return low > 0 and high / low >= LOG_SPAN


def positive_floor(key: str, node: Mapping[str, Any], low: float, high: float) -> float:
    """Rule 5: a log-scaled float whose range starts at 0 (e.g. TAO's learning rates, minimum 0
    with ``> 0``) starts at a positive floor: default / 100, or high / 10^4 when the default is 0."""
    if low > 0:
        return low
    default = node.get("default")
    return default / RATE_DECADES if finite(default) and default > 0 else high / 1e4
