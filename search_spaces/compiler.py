"""``compile_schema``: a TAO-format schema (+ the user's choices) -> a typed ``SearchSpace``.

Which parameters: the schema's ``automl_default_parameters``, or an explicit list that replaces
them; disabled ones are refused unless overridden. ``custom_param_ranges`` narrow a parameter
inside the schema's own bounds and options. Values of parameters that are not searched (for
relations such as "LR milestones below train.num_epochs") come from ``base_spec``, else from the
schema's defaults.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Iterable, Mapping, Sequence

from schemas.conditions import ConditionError, parse_math_cond
from schemas.reader import (
    SchemaError,
    field_node,
    is_free_form,
    is_section,
    iter_fields,
    read_schema,
    value_type,
)
from schemas.spec import flatten
from search_spaces import rules
from search_spaces.choice import ChoiceParam
from search_spaces.numeric import (
    DerivedParam,
    FloatParam,
    IntParam,
    PowerParam,
    SortedIntListParam,
)
from search_spaces.params import NoRoomError, Param, Relation, SearchSpaceError
from search_spaces.space import SearchSpace

INT_TYPES = ("int", "integer", "ordered_int")
FLOAT_TYPES = ("float", "number")
LIST_TYPES = ("list", "list_2", "list_3")
CUSTOM_KEYS = {"valid_min", "valid_max", "valid_options", "option_weights", "math_cond", "depends_on"}


def _apply_custom(key: str, node: dict[str, Any], custom: Mapping[str, Any]) -> dict[str, Any]:
    """The node narrowed by a user's ``custom_param_ranges`` entry, which must lie inside the schema."""
    unknown = set(custom) - CUSTOM_KEYS
    if unknown:
        raise SearchSpaceError(f"{key}: unknown custom_param_ranges keys {sorted(unknown)} "
                               f"(expected {', '.join(sorted(CUSTOM_KEYS))})")
    node = dict(node)
    low, high = node.get("minimum"), node.get("maximum")
    for name, target, outside in (("valid_min", "x_search_min", lambda v: rules.finite(low) and v < low),
                                  ("valid_max", "x_search_max", lambda v: rules.finite(high) and v > high)):
        if name in custom:
            value = custom[name]
            if not rules.finite(value) or outside(value):
                raise SearchSpaceError(f"{key}: custom {name} {value!r} lies outside the schema's [{low}, {high}]")
            node[target] = value
    if "valid_options" in custom:
        options = list(custom["valid_options"])
        allowed = node.get("enum")
        if not options:
            raise SearchSpaceError(f"{key}: custom valid_options is empty")
        if allowed is not None and any(o not in allowed for o in options):
            raise SearchSpaceError(f"{key}: custom valid_options {options} are not all among the schema's {allowed}")
        if allowed is None and any(not rules.finite(o) or (rules.finite(low) and o < low) or
                                   (rules.finite(high) and o > high) for o in options):
            raise SearchSpaceError(f"{key}: custom valid_options {options} lie outside the schema's [{low}, {high}]")
        node["x_search_options"] = options
        node.pop("option_weights", None)  # weights of the schema's options no longer line up
    for name in ("option_weights", "math_cond", "depends_on"):
        if name in custom:
            node[name] = custom[name]
    return node


def _weights(key: str, options: Sequence[Any], weights: Any) -> tuple[float, ...] | None:
    if weights is None:
        return None
    weights = list(weights)
    if len(weights) != len(options):
        raise SearchSpaceError(f"{key}: {len(weights)} option_weights for {len(options)} options {list(options)}")
    if any(not rules.finite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise SearchSpaceError(f"{key}: option_weights {weights} must be >= 0 and sum to more than 0")
    total = float(sum(weights))
    normalised = tuple(w / total for w in weights)
    return None if len(set(normalised)) == 1 else normalised


def _option_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if rules.finite(value) else ("string" if isinstance(value, str) else type(value).__name__)


def _choice(key: str, node: Mapping[str, Any], options: tuple[Any, ...], active_if: str | None) -> ChoiceParam:
    """A choice among ``options``, which must be distinct and of one kind (bools, numbers or strings)."""
    if not options:
        raise SearchSpaceError(f"{key}: the enum has no options to choose from")
    kinds = sorted({_option_kind(o) for o in options})
    if len(kinds) > 1:
        raise SearchSpaceError(f"{key}: the enum {list(options)} mixes {' and '.join(kinds)} values; "
                               "a searched enum holds one type")
    if kinds[0] not in ("bool", "number", "string"):
        raise SearchSpaceError(f"{key}: the enum holds {kinds[0]} values; only bools, numbers and strings are searched")
    if len(set(options)) < len(options):
        raise SearchSpaceError(f"{key}: the enum {list(options)} repeats an option")
    weights = _weights(key, options, node.get("option_weights"))
    if kinds == ["number"]:  # an ordinal: ranked by value
        rank = sorted(range(len(options)), key=options.__getitem__)
        options = tuple(options[i] for i in rank)
        weights = None if weights is None else tuple(weights[i] for i in rank)
    ordered = kinds == ["number"] or node.get("x_ordered") is True
    return ChoiceParam(key, active_if, options=options, ordered=ordered, weights=weights)


class _Builder:
    def __init__(self, schema: dict[str, Any], searched: Sequence[str], fixed: dict[str, Any]) -> None:
        self.schema, self.searched, self.fixed = schema, set(searched), fixed

    def _referenced(self, key: str, ref: str, why: str) -> None:
        """A relation's other side must be a field, and searched or with a value to use."""
        node = field_node(self.schema, ref)
        if node is None or is_section(node):
            raise SearchSpaceError(f"{key}: {why} names {ref!r}, which is not a field of the schema")
        if ref not in self.searched:
            value = self.fixed.get(ref)
            if value is None or value == "???":
                raise SearchSpaceError(f"{key}: {why} relates it to {ref!r}, which is not searched and has no default")

    def _switch(self, key: str, node: Mapping[str, Any]) -> str | None:
        parent = node.get("depends_on")
        parent_node = field_node(self.schema, parent) if parent else None
        if parent_node and parent_node.get("type") == "bool" and not node.get("math_cond"):
            self._referenced(key, parent, "depends_on")
            return parent
        return None

    def build(self, key: str, node: dict[str, Any]) -> Param:
        kind = node.get("type")
        active_if = self._switch(key, node)
        try:
            condition = parse_math_cond(node["math_cond"], node.get("depends_on")) if node.get("math_cond") else None
        except ConditionError as err:
            raise SearchSpaceError(f"{key}: {err}") from None
        options = node.get("x_search_options")
        if kind == "bool":
            return _choice(key, node, tuple(options) if options is not None else (False, True), active_if)
        if options is not None or node.get("enum") is not None:
            return _choice(key, node, tuple(options if options is not None else node["enum"]), active_if)
        if kind in INT_TYPES:
            return self._int(key, node, condition, active_if)
        if kind in FLOAT_TYPES:
            return self._float(key, node, condition, active_if)
        if kind in LIST_TYPES:
            return self._list(key, node, active_if)
        if kind in ("string", "categorical"):
            raise SearchSpaceError(f"{key}: a free string (type {kind!r} without enum) cannot be searched")
        raise SearchSpaceError(f"{key}: unknown type {kind!r}")

    def _relations(self, key: str, node: Mapping[str, Any], condition) -> list[Relation]:
        relations = []
        if condition is not None and condition.is_comparison and condition.key is not None:
            self._referenced(key, condition.key, f"math_cond {node['math_cond']!r}")
            relations.append(Relation(condition.op, condition.key))
        if node.get("x_relative_max") is not None:
            if not node.get("depends_on"):
                raise SearchSpaceError(f"{key}: x_relative_max needs depends_on")
            self._referenced(key, node["depends_on"], "x_relative_max")
            relations.append(Relation("<=", node["depends_on"], float(node["x_relative_max"])))
        return relations

    def _static_comparison(self, low: float, high: float, condition, integer: bool) -> tuple[float, float, list]:
        excluded = []
        if condition is None or not condition.is_comparison or condition.key is not None:
            return low, high, excluded
        value = condition.number
        if condition.op == ">":
            low = max(low, math.floor(value) + 1 if integer else math.nextafter(value, math.inf))
        elif condition.op == ">=":
            low = max(low, value)
        elif condition.op == "<":
            high = min(high, math.ceil(value) - 1 if integer else math.nextafter(value, -math.inf))
        elif condition.op == "<=":
            high = min(high, value)
        else:
            excluded.append(value)
        return low, high, excluded

    def _int(self, key: str, node: dict[str, Any], condition, active_if: str | None) -> Param:
        if condition is not None and condition.op == "/" and node.get("depends_on"):
            self._referenced(key, node["depends_on"], "math_cond '/' with depends_on")
            return DerivedParam(key, active_if, requires=(node["depends_on"],), parent=node["depends_on"],
                                divisor=condition.number, integer=True)
        low, high = rules.numeric_range(key, node, integer=True)
        if node.get("x_exclusive_minimum") and low == node.get("minimum"):
            low += 1
        low, high, excluded = self._static_comparison(math.ceil(low), math.floor(high), condition, integer=True)
        if low > high:
            raise SearchSpaceError(f"{key}: empty range [{low}, {high}]")
        if condition is not None and condition.op == "^":
            return PowerParam(key, active_if, base=int(condition.number), low=low, high=high)
        step = int(condition.number) if condition is not None and condition.op == "/" else 1
        step_key = node.get("x_multiple_of")
        if step_key:
            self._referenced(key, step_key, "x_multiple_of")
        relations = tuple(self._relations(key, node, condition))
        requires = tuple(r.key for r in relations) + ((step_key,) if step_key else ())
        return IntParam(key, active_if, requires=requires, low=int(low), high=int(high), step=step,
                        step_key=step_key, log=node.get("x_scale") == "log", relations=relations,
                        excluded=tuple(int(v) for v in excluded))

    def _float(self, key: str, node: dict[str, Any], condition, active_if: str | None) -> Param:
        if condition is not None and condition.op in ("/", "^"):
            raise SearchSpaceError(f"{key}: math_cond {node['math_cond']!r} needs an int, the field is a float")
        low, high = rules.numeric_range(key, node, integer=False)
        log = rules.float_is_log(key, node, low, high)
        exclusive = node.get("x_exclusive_minimum") or (condition is not None and condition.op == ">"
                                                        and condition.number == low)
        if log:
            low = rules.positive_floor(key, node, low, high)
        elif exclusive and low == node.get("minimum"):
            low = math.nextafter(low, math.inf)
        low, high, excluded = self._static_comparison(low, high, condition, integer=False)
        if excluded and excluded[0] == low:  # '!= v' at the edge of a continuous range: step off it
            low = math.nextafter(low, math.inf)
        if not low <= high:
            raise SearchSpaceError(f"{key}: empty range [{low}, {high}]")
        relations = self._relations(key, node, condition)
        return FloatParam(key, active_if, requires=tuple(r.key for r in relations), low=low, high=high, log=log,
                          relations=tuple(relations))

    def _list(self, key: str, node: dict[str, Any], active_if: str | None) -> Param:
        default = node.get("default")
        if not isinstance(default, list) or not default or not all(isinstance(v, int) for v in default):
            raise SearchSpaceError(f"{key}: only integer lists (e.g. LR milestones) can be searched")
        base = self.fixed.get(key)
        length = node.get("x_list_length") or (len(base) if isinstance(base, list) and base else len(default))
        bound = node.get("depends_on") or self._epoch_key()
        relations: tuple[Relation, ...] = ()
        high = int(node.get("x_item_maximum") or max(default) * rules.INFINITY_FACTOR)
        if bound:
            self._referenced(key, bound, "depends_on")
            relations = (Relation("<", bound),)
        low = int(node.get("x_item_minimum") or 1)
        return SortedIntListParam(key, active_if, requires=tuple(r.key for r in relations), units=length,
                                  length=length, low=low, high=high, relations=relations)

    def _epoch_key(self) -> str | None:
        """Rule 6: TAO's list_2 milestones without depends_on are bounded by the epoch count."""
        candidates = [k for k, _ in iter_fields(self.schema) if k.rsplit(".", 1)[-1] == "num_epochs"]
        return "train.num_epochs" if "train.num_epochs" in candidates else (candidates[0] if candidates else None)


def _feasible(params: dict[str, Param]) -> dict[str, Param]:
    """Rule 7: narrow a searched parameter that bounds another so that every draw leaves room."""
    out = dict(params)
    for param in params.values():
        for relation in getattr(param, "relations", ()):
            other = out.get(relation.key)
            if not isinstance(other, (IntParam, FloatParam)) or relation.op == "!=":
                continue
            integer = isinstance(other, IntParam)
            own_low, own_high = getattr(param, "low", None), getattr(param, "high", None)
            if own_low is None or own_high is None:
                continue
            if relation.op in (">", ">="):  # own >= f * other needs f * other <= own_high
                limit = own_high / relation.factor
                limit = (math.ceil(limit) - 1 if relation.op == ">" else math.floor(limit)) if integer else (
                    math.nextafter(limit, -math.inf) if relation.op == ">" else limit)
                if other.high > limit:
                    out[other.key] = dataclasses.replace(other, high=limit)
            else:  # own <= f * other needs f * other >= own_low
                limit = own_low / relation.factor
                limit = (math.floor(limit) + 1 if relation.op == "<" else math.ceil(limit)) if integer else (
                    math.nextafter(limit, math.inf) if relation.op == "<" else limit)
                if other.low < limit:
                    out[other.key] = dataclasses.replace(other, low=limit)
            narrowed = out[other.key]
            if narrowed.low > narrowed.high:
                raise NoRoomError(param.key, f"{param.key}: {relation.text()} cannot hold within {other.key}'s range "
                                             f"[{other.low}, {other.high}]")
    return out


def _check_ranges(params: dict[str, Param], fixed: Mapping[str, Any]) -> None:
    """Every range must hold a value: given the fixed values, and for each option of a choice it
    depends on (e.g. the batch for every K). Found at compile time, not at the 100th draw."""
    for param in params.values():
        if not isinstance(param, (IntParam, FloatParam, SortedIntListParam)):
            continue
        base = dict(fixed)
        base.update({k: params[k].low for k in param.requires if isinstance(params.get(k), (IntParam, FloatParam))})
        choices = [params[k] for k in param.requires if isinstance(params.get(k), ChoiceParam)]
        cases = [(None, None)] + [(c, o) for c in choices for o in c.options]
        for choice, option in cases:
            ctx = dict(base)
            if choice is not None:
                ctx[choice.key] = option
            try:
                if isinstance(param, FloatParam):
                    param.bounds(ctx)
                else:
                    param.span(ctx)
            except SearchSpaceError as err:
                if choice is None:
                    raise NoRoomError(param.key, str(err)) from None
                raise NoRoomError(param.key, f"{param.key}: no valid value in [{param.low}, {param.high}] when "
                                             f"{choice.key}={option}") from err
            except (TypeError, ValueError, KeyError):
                raise SearchSpaceError(f"{param.key}: depends on {', '.join(param.requires)}, which has no numeric "
                                       "value to compare with") from None


def _order(params: dict[str, Param]) -> list[Param]:
    """Topological order of the searched parameters (dependencies first)."""
    ordered: list[Param] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(key: str, path: list[str]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            cycle = path[path.index(key):] + [key]
            raise SearchSpaceError(f"{key}: relations form a cycle ({' -> '.join(cycle)})")
        state[key] = 1
        for dependency in params[key].dependencies():
            if dependency in params:
                visit(dependency, path + [key])
        state[key] = 2
        ordered.append(params[key])

    for key in params:
        visit(key, [])
    return ordered


def _why_missing(schema: Mapping[str, Any], key: str) -> str:
    """Why a dotted key names no field: it lies inside a free-form mapping, or the schema lacks it."""
    parts = key.split(".")
    for end in range(1, len(parts)):
        node = field_node(schema, ".".join(parts[:end]))
        if node is not None and is_free_form(node):
            return f"lies inside {'.'.join(parts[:end])}, a free-form mapping, which cannot be searched"
    return "not a parameter of the schema"


def compile_schema(
    schema: str | os.PathLike | Mapping[str, Any],
    automl_hyperparameters: Iterable[str] | None = None,
    custom_param_ranges: Mapping[str, Mapping[str, Any]] | None = None,
    override_automl_disabled_params: bool = False,
    base_spec: Mapping[str, Any] | None = None,
) -> SearchSpace:
    """Compile a TAO-format schema (a path or a mapping) into a search space; see the module doc."""
    try:
        schema = read_schema(schema)
    except SchemaError as err:
        raise SearchSpaceError(str(err)) from None
    chosen = list(automl_hyperparameters) if automl_hyperparameters is not None else list(
        schema.get("automl_default_parameters") or [])
    searched = list(dict.fromkeys(chosen))
    if not searched:
        why = "the list given is empty" if automl_hyperparameters is not None else (
            "the schema's automl_default_parameters is empty and no automl_hyperparameters were given")
        raise SearchSpaceError(f"no parameter to search: {why}")
    disabled = set(schema.get("automl_disabled_parameters") or []) | {
        k for k, n in iter_fields(schema) if n.get("automl_enabled") is False}
    custom = dict(custom_param_ranges or {})
    for key in custom:
        if key not in searched:
            raise SearchSpaceError(f"{key}: custom_param_ranges names a parameter that is not searched")
    fixed = flatten(schema.get("default") or {})
    fixed.update(flatten(base_spec or {}))
    builder = _Builder(schema, searched, fixed)
    params: dict[str, Param] = {}
    for key in searched:
        node = field_node(schema, key)
        if node is None:
            raise SearchSpaceError(f"{key}: {_why_missing(schema, key)}")
        if is_section(node):
            raise SearchSpaceError(f"{key}: is a section, not a parameter")
        if is_free_form(node):
            raise SearchSpaceError(f"{key}: a free-form mapping (type {node['type']!r} without 'properties') "
                                   "cannot be searched")
        if value_type(node) is None:
            raise SearchSpaceError(f"{key}: the schema gives it no 'type', so it cannot be searched")
        if key in disabled and not override_automl_disabled_params:
            raise SearchSpaceError(f"{key}: disabled for AutoML by the schema (automl_disabled_parameters); "
                                   "pass override_automl_disabled_params to search it anyway")
        if not isinstance(custom.get(key, {}), Mapping):
            raise SearchSpaceError(f"{key}: custom_param_ranges entry must be a mapping")
        params[key] = builder.build(key, _apply_custom(key, node, custom.get(key, {})))
    params = _feasible(params)
    _check_ranges(params, fixed)
    return SearchSpace(tuple(_order(params)), fixed)
