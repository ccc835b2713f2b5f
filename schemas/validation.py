"""Validate a spec (plain nested mapping) against a TAO-format schema.

Two parts, both reported as ``Violation(key, message)`` with the dotted key, what was
expected and what was given:

- per value, with ``jsonschema``: the TAO schema is translated to a JSON Schema (TAO value
  types to JSON types, bounds, enums, list shapes; unknown keys refused);
- across values: ``math_cond``, ``x_multiple_of``, strictly increasing ``list_2``, ``x_fixed``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from schemas.conditions import ConditionError, derived_value, holds, parse_math_cond
from schemas.reader import SchemaError, is_free_form, is_section, iter_fields, value_type
from schemas.spec import lookup

JSON_TYPES = {
    "int": "integer", "integer": "integer", "ordered_int": "integer", "float": "number", "number": "number",
    "bool": "boolean", "boolean": "boolean", "string": "string", "str": "string",
}
LIST_TYPES = ("list", "list_2", "list_3", "array")
TYPE_WORDS = {"integer": "int", "number": "float", "boolean": "bool", "string": "string", "object": "a mapping of keys",
              "array": "a list", "null": "null"}


@dataclass(frozen=True)
class Violation:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _item_type(node: Mapping[str, Any]) -> str | None:
    declared = node.get("x_item_type")
    if declared:
        return JSON_TYPES.get(declared)
    default = node.get("default")
    if isinstance(default, list) and default:
        kinds = {type(v) for v in default}
        if kinds <= {int}:
            return "integer"
        if kinds <= {int, float}:
            return "number"
        if kinds <= {str}:
            return "string"
    return None


def _leaf_json_schema(node: Mapping[str, Any], key: str) -> dict[str, Any]:
    kind = value_type(node)
    out: dict[str, Any] = {}
    if is_free_form(node):
        out["type"] = "object"
    elif kind is None:
        pass  # no type in the schema: any value
    elif kind in JSON_TYPES:
        out["type"] = JSON_TYPES[kind]
    elif kind in LIST_TYPES:
        out["type"] = "array"
        items: dict[str, Any] = {}
        if _item_type(node):
            items["type"] = _item_type(node)
        for ours, theirs in (("x_item_minimum", "minimum"), ("x_item_maximum", "maximum")):
            if _finite(node.get(ours)):
                items[theirs] = node[ours]
        if items:
            out["items"] = items
        if isinstance(node.get("x_list_length"), int):
            out["minItems"] = out["maxItems"] = node["x_list_length"]
    elif kind != "categorical":
        raise SchemaError(f"field {key!r}: unknown type {kind!r}")
    if node.get("enum") is not None:
        out["enum"] = list(node["enum"])
    if _finite(node.get("minimum")):
        out["exclusiveMinimum" if node.get("x_exclusive_minimum") else "minimum"] = node["minimum"]
    if _finite(node.get("maximum")):
        out["maximum"] = node["maximum"]
    return out


def to_json_schema(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for a TAO-format schema or section."""
    properties = {
        name: to_json_schema(child, f"{prefix}{name}.") if is_section(child) else _leaf_json_schema(child, f"{prefix}{name}")
        for name, child in node["properties"].items()
        if isinstance(child, dict)
    }
    # a section that declares more keys open (additionalProperties) keeps them open
    return {"type": "object", "properties": properties, "additionalProperties": bool(node.get("additionalProperties"))}


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _type_name(value: Any) -> str:
    return "null" if value is None else {"dict": "mapping", "list": "list"}.get(type(value).__name__, type(value).__name__)


def _describe(error: ValidationError) -> Iterator[Violation]:
    key = _path(error.absolute_path)
    value = error.instance
    rule = error.validator
    if rule == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        for extra in sorted(set(value) - set(known), key=str):
            close = difflib.get_close_matches(str(extra), known, n=1)
            full = f"{key}.{extra}" if key else str(extra)
            hint = f" (did you mean '{key + '.' if key else ''}{close[0]}'?)" if close else ""
            yield Violation(full, f"unknown key{hint}")
        return
    if rule == "type":
        expected = TYPE_WORDS.get(error.validator_value, error.validator_value)
        yield Violation(key, f"expected {expected}, got {_type_name(value)} {value!r}")
    elif rule == "enum":
        allowed = ", ".join(repr(o) for o in error.validator_value)
        yield Violation(key, f"expected one of {allowed}, got {value!r}")
    elif rule in ("minimum", "maximum", "exclusiveMinimum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}[rule]
        yield Violation(key, f"expected a value {sign} {error.validator_value}, got {value!r}")
    elif rule in ("minItems", "maxItems"):
        yield Violation(key, f"expected a list of {error.validator_value} values, got {len(value)}: {value!r}")
    else:
        yield Violation(key, error.message)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _relations(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Iterator[Violation]:
    for key, node in iter_fields(schema):
        found, value = lookup(spec, key)
        if not found:
            continue
        if node.get("x_fixed") and value != node.get("default"):
            yield Violation(key, f"must stay {node.get('default')!r} (kept for compatibility, unused here), got {value!r}")
        if node.get("type") == "list_2" and isinstance(value, list) and all(_number(v) for v in value):
            if any(b <= a for a, b in zip(value, value[1:])):
                yield Violation(key, f"expected strictly increasing values, got {value!r}")
        if not _number(value):
            continue
        if node.get("x_multiple_of"):
            other_key = node["x_multiple_of"]
            ok, other = lookup(spec, other_key)
            if ok and _number(other) and other and value % other:
                yield Violation(key, f"expected a multiple of {other_key}={other}, got {value!r}")
        if node.get("math_cond"):
            yield from _math_cond(spec, key, node, value)


def _math_cond(spec: Mapping[str, Any], key: str, node: Mapping[str, Any], value: float) -> Iterator[Violation]:
    try:
        condition = parse_math_cond(node["math_cond"], node.get("depends_on"))
    except ConditionError as err:
        raise SchemaError(f"field {key!r}: {err}") from None
    operand = None
    if condition.key is not None:
        ok, operand = lookup(spec, condition.key)
        if not ok or not _number(operand):
            return
    if condition.op == "/" and node.get("depends_on"):
        ok, parent = lookup(spec, node["depends_on"])
        if ok and _number(parent):
            expected = derived_value(condition, parent, integer=isinstance(value, int))
            if not math.isclose(value, expected, rel_tol=1e-9):
                yield Violation(key, f"expected {node['depends_on']} / {condition.number:g} = {expected}, got {value!r}")
        return
    if not holds(condition, value, operand):
        operand_text = f"{condition.key}={operand}" if condition.key else f"{condition.number:g}"
        if condition.is_comparison:
            yield Violation(key, f"expected a value {condition.op} {operand_text}, got {value!r}")
        else:
            yield Violation(key, f"expected {condition.describe()}, got {value!r}")


def validate_spec(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> list[Violation]:
    """Every violation of ``spec`` against ``schema`` (empty when valid)."""
    json_schema = to_json_schema(schema)
    violations: list[Violation] = []
    for error in sorted(Draft202012Validator(json_schema).iter_errors(spec), key=lambda e: list(map(str, e.absolute_path))):
        violations.extend(_describe(error))
    if not violations:
        violations.extend(_relations(spec, schema))
    return violations
