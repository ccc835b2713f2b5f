"""TAO's ``math_cond`` expressions: parsing and checking.

Grammar (one operator, one operand, separated by spaces or not):

======================  ============================================================
``> 0``, ``>= 0.5``     compare with a number (also ``<``, ``<=``, ``!=``)
``> depends_on``        compare with the value of the field named in ``depends_on``
``< train.num_epochs``  compare with the value of the named field
``/ 32``                a multiple of 32; with ``depends_on``: derived, value = that field / 32
``^ 2``                 a power of 2 (1, 2, 4, 8, ...)
======================  ============================================================
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "!=": operator.ne,
}
DEPENDS_ON = "depends_on"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_JOINED = re.compile(r"^(>=|<=|!=|>|<|/|\^)(.+)$")


class ConditionError(ValueError):
    """A ``math_cond`` that does not parse; the message names the expression."""


@dataclass(frozen=True)
class Condition:
    op: str  # one of COMPARISONS, "/" or "^"
    number: float | None = None  # the operand when it is a number
    key: str | None = None  # the operand when it is a field ("depends_on" already resolved)

    @property
    def is_comparison(self) -> bool:
        return self.op in COMPARISONS

    def describe(self) -> str:
        operand = self.key if self.key is not None else f"{self.number:g}"
        return {"/": f"a multiple of {operand}", "^": f"a power of {operand}"}.get(self.op, f"{self.op} {operand}")


def parse_math_cond(expression: str, depends_on: str | None = None) -> Condition:
    """Parse ``expression``; ``depends_on`` resolves the ``depends_on`` operand."""
    parts = str(expression).split()
    if len(parts) == 1:  # TAO's schemas also write the operator against its operand: '>0'
        joined = _JOINED.match(parts[0])
        parts = list(joined.groups()) if joined else parts
    if len(parts) != 2:
        raise ConditionError(f"math_cond {expression!r}: expected 'OPERATOR OPERAND', e.g. '> 0' or '/ 32'")
    op, operand = parts
    if op not in COMPARISONS and op not in ("/", "^"):
        raise ConditionError(f"math_cond {expression!r}: unknown operator {op!r}")
    try:
        number = float(operand)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or (op in ("/", "^") and number <= (1 if op == "^" else 0)):
            raise ConditionError(f"math_cond {expression!r}: operand {operand} is not usable with {op!r}")
        return Condition(op, number=number)
    if op in ("/", "^"):
        raise ConditionError(f"math_cond {expression!r}: {op!r} needs a number")
    if operand == DEPENDS_ON:
        if not depends_on:
            raise ConditionError(f"math_cond {expression!r} refers to depends_on, which is not set")
        return Condition(op, key=depends_on)
    if not _KEY.match(operand):
        raise ConditionError(f"math_cond {expression!r}: operand {operand!r} is neither a number nor a field")
    return Condition(op, key=operand)


def is_power_of(value: float, base: float) -> bool:
    if value <= 0:
        return False
    exponent = round(math.log(value, base))
    return exponent >= 0 and math.isclose(base**exponent, value, rel_tol=1e-9)


def is_multiple_of(value: float, factor: float) -> bool:
    if factor == 0:
        return False
    ratio = value / factor
    return math.isclose(ratio, round(ratio), rel_tol=0, abs_tol=1e-9)


def derived_value(condition: Condition, parent: float, integer: bool) -> float:
    """The value of a derived field (``/ k`` with ``depends_on``): parent / k."""
    value = parent / condition.number
    return int(value) if integer else value


def holds(condition: Condition, value: float, operand: float | None = None) -> bool:
    """Whether ``value`` satisfies the condition; ``operand`` is the referenced field's value."""
    other = condition.number if condition.key is None else operand
    if condition.is_comparison:
        return COMPARISONS[condition.op](value, other)
    if condition.op == "^":
        return is_power_of(value, condition.number)
    return is_multiple_of(value, condition.number)
