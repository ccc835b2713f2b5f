"""Generate TAO-format skill artifacts from any dataclass config tree declared with ``schemas.fields``.

For each action: ``schemas/<action>.schema.json`` (the format of NVIDIA's packaged schemas),
``references/spec_template_<action>.yaml`` (the schema's top-level ``default``); plus
``schemas/manifest.json`` and ``references/skill_info.yaml``. Field metadata that contradicts
itself is refused with one line naming the field (``GenerationError``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, get_args, get_origin, get_type_hints

import yaml

from schemas.conditions import ConditionError, parse_math_cond
from schemas.fields import FieldMeta, field_meta
from schemas.reader import SchemaError
from schemas.validation import validate_spec

MISSING = "???"
SCHEMA_VERSION = 1


class GenerationError(SchemaError):
    """Field metadata that contradicts itself; the message names the field."""


@dataclass(frozen=True)
class Skill:
    """What the generator needs beyond the config tree: names, commands and the skill's plumbing."""

    name: str
    network_arch: str
    model: str
    description: str
    config: type
    actions: tuple[str, ...]
    command: str
    source: str
    gpu_spec_key: str = ""
    data_format: str = "default"
    data_sources: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    spec_params: dict[str, dict[str, str]] = field(default_factory=dict)
    spec_shorthand_keys: dict[str, str] = field(default_factory=dict)
    shared_sections_action: str = "train"  # inputs declared outside action sections belong to this action
    kpis: tuple[str, ...] = ()  # what the train action reports in status.json
    automl_metric: str = ""
    automl_direction: str = "maximize"


@dataclass(frozen=True)
class _Leaf:
    key: str
    meta: FieldMeta
    hint: Any
    default: Any


def _value_type(meta: FieldMeta, hint: Any) -> str:
    if meta.value_type:
        return meta.value_type
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(hint, "list")


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    value = f.default_factory()  # type: ignore[misc]
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def _included(meta: FieldMeta, action: str) -> bool:
    return not meta.actions or action in meta.actions


def _walk(cls: type, action: str, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, FieldMeta, Any]]:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = field_meta(f)
        if _included(meta, action):
            yield f"{prefix}{f.name}", f, meta, hints[f.name]


def _item_type(hint: Any) -> str | None:
    if get_origin(hint) in (list, tuple) and get_args(hint):
        return {int: "int", float: "float", str: "string", bool: "bool"}.get(get_args(hint)[0])
    return None


def _leaf_node(leaf: _Leaf) -> dict[str, Any]:
    meta, kind = leaf.meta, _value_type(leaf.meta, leaf.hint)
    node: dict[str, Any] = {
        "title": meta.title or leaf.key.rsplit(".", 1)[-1].replace("_", " ").title(),
        "description": meta.description,
        "type": kind,
        "default": leaf.default,
    }
    numeric = kind in ("int", "float", "ordered_int")
    if numeric and meta.minimum is not None:
        node["minimum"] = meta.minimum
        node["maximum"] = meta.maximum if meta.maximum is not None else math.inf  # TAO writes Infinity
    elif numeric and meta.maximum is not None:
        node["maximum"] = meta.maximum
    optional = {
        "enum": list(meta.options) if meta.options is not None else None,
        "option_weights": list(meta.option_weights) if meta.option_weights is not None else None,
        "math_cond": meta.math_cond,
        "depends_on": meta.depends_on,
        "parent_param": True if meta.parent_param else None,
        "popular": True if meta.popular else None,
        "automl_enabled": meta.automl_enabled,
        "x_scale": meta.scale,
        "x_search_min": meta.search_min,
        "x_search_max": meta.search_max,
        "x_search_options": list(meta.search_options) if meta.search_options is not None else None,
        "x_relative_max": meta.relative_max,
        "x_multiple_of": meta.multiple_of,
        "x_exclusive_minimum": True if meta.exclusive_minimum else None,
        "x_list_length": meta.list_length,
        "x_item_type": _item_type(leaf.hint),
        "x_item_minimum": meta.item_minimum,
        "x_item_maximum": meta.item_maximum,
        "x_fixed": True if meta.fixed else None,
        "x_ordered": True if meta.ordered else None,
    }
    node.update({k: v for k, v in optional.items() if v is not None})
    return dict(sorted(node.items()))


def _section_node(cls: type, action: str, prefix: str, meta: FieldMeta, leaves: list[_Leaf]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    default: dict[str, Any] = {}
    searched, disabled, popular = [], [], []
    for dotted, f, child_meta, hint in _walk(cls, action, prefix):
        name = f.name
        if dataclasses.is_dataclass(hint):
            properties[name] = _section_node(hint, action, f"{dotted}.", child_meta, leaves)
            default[name] = properties[name]["default"]
            disabled.append(dotted)
            continue
        leaf = _Leaf(dotted, child_meta, hint, _default_of(f))
        leaves.append(leaf)
        properties[name] = _leaf_node(leaf)
        default[name] = leaf.default
        if child_meta.automl_enabled:
            searched.append(dotted)
        elif child_meta.automl_enabled is False:
            disabled.append(dotted)
        if child_meta.popular:
            popular.append(name)
    node: dict[str, Any] = {
        "automl_enabled": False,
        "default": default,
        "description": meta.description,
        "properties": dict(sorted(properties.items())),
        "title": meta.title or prefix.rstrip(".").rsplit(".", 1)[-1].replace("_", " ").title(),
        "type": "collection",
    }
    if searched:
        node["automl_default_parameters"] = searched
    if disabled:
        node["automl_disabled_parameters"] = disabled
    if popular:
        node["popular"] = popular
    return dict(sorted(node.items()))


def _check_leaf(leaf: _Leaf, keys: set[str]) -> None:
    meta, key, default = leaf.meta, leaf.key, leaf.default

    def refuse(problem: str) -> None:
        raise GenerationError(f"field {key!r}: {problem}")

    low, high = meta.minimum, meta.maximum
    if low is not None and high is not None and low > high:
        refuse(f"minimum {low} > maximum {high}")
    numeric_default = isinstance(default, (int, float)) and not isinstance(default, bool)
    if numeric_default:
        if low is not None and (default < low or (meta.exclusive_minimum and default == low)):
            refuse(f"default {default} is below the minimum {low}")
        if high is not None and default > high:
            refuse(f"default {default} is above the maximum {high}")
    if meta.options is not None and default != MISSING and default not in meta.options:
        refuse(f"default {default!r} is not one of the options {list(meta.options)}")
    weights = meta.option_weights
    if weights is not None:
        if meta.options is None or len(weights) != len(meta.options):
            refuse(f"{len(weights)} option_weights for {len(meta.options or ())} options")
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            refuse(f"option_weights {list(weights)} must be >= 0 and sum to more than 0")
    s_low, s_high = meta.search_min, meta.search_max
    for name, bound in (("search_min", s_low), ("search_max", s_high)):
        if bound is not None and ((low is not None and bound < low) or (high is not None and bound > high)):
            refuse(f"{name} {bound} lies outside [{low}, {high}]")
    if s_low is not None and s_high is not None and s_low > s_high:
        refuse(f"search_min {s_low} > search_max {s_high}")
    if meta.search_options is not None:
        outside = [o for o in meta.search_options if (low is not None and o < low) or (high is not None and o > high)]
        if outside or not meta.search_options:
            refuse(f"search_options {list(meta.search_options)} must be non-empty and within [{low}, {high}]")
    if meta.scale not in (None, "log", "linear"):
        refuse(f"scale {meta.scale!r} is not 'log' or 'linear'")
    if meta.scale == "log" and (s_low if s_low is not None else low or 0) <= 0:
        refuse("a log scale needs a positive search_min")
    for relation in ("depends_on", "multiple_of"):
        target = getattr(meta, relation)
        if target is not None and target not in keys:
            refuse(f"{relation} names {target!r}, which is not a field of this schema")
    if meta.relative_max is not None and (meta.depends_on is None or not 0 < meta.relative_max <= 1):
        refuse("relative_max needs depends_on and a fraction in (0, 1]")
    if meta.parent_param and not isinstance(default, bool):
        refuse("parent_param is only meaningful on a bool field")
    if meta.ordered and meta.options is None:
        refuse("ordered needs options to order")
    if meta.automl_cost and meta.automl_enabled is False:
        refuse("a cost parameter (automl_cost) cannot also be disabled for AutoML")
    if meta.math_cond is not None:
        try:
            condition = parse_math_cond(meta.math_cond, meta.depends_on)
        except ConditionError as err:
            refuse(str(err))
        if condition.key is not None and condition.key not in keys:
            refuse(f"math_cond {meta.math_cond!r} refers to {condition.key!r}, which is not a field of this schema")


def _popular(leaves: list[_Leaf]) -> dict[str, Any]:
    popular: dict[str, Any] = {}
    for leaf in leaves:
        if leaf.meta.popular:
            node = popular
            *parents, name = leaf.key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[name] = leaf.default
    return popular


def _all_disabled(section: dict[str, Any]) -> list[str]:
    """Every section and disabled field below ``section`` (dotted), as TAO lists them at the top."""
    found = list(section.get("automl_disabled_parameters", []))
    for child in section["properties"].values():
        if isinstance(child, dict) and child.get("type") == "collection":
            found += _all_disabled(child)
    return found


def action_schema(skill: Skill, action: str) -> dict[str, Any]:
    """The TAO-format schema of one action."""
    leaves: list[_Leaf] = []
    root_meta = FieldMeta(description=skill.description)
    root = _section_node(skill.config, action, "", root_meta, leaves)
    keys = {leaf.key for leaf in leaves}
    for leaf in leaves:
        _check_leaf(leaf, keys)
    sections = [name for name, child in root["properties"].items() if child.get("type") == "collection"]
    properties = dict(root["properties"])
    properties["automl_disabled_parameters"] = sections
    cost = [leaf.key for leaf in leaves if leaf.meta.automl_cost]
    schema = {
        "automl_default_parameters": [leaf.key for leaf in leaves if leaf.meta.automl_enabled],
        "automl_disabled_parameters": _all_disabled(root),
        "default": root["default"],
        "popular": _popular(leaves),
        "properties": dict(sorted(properties.items())),
        "type": "object",
        "x_tao_schema": {
            "action": action, "core_module": skill.network_arch, "model": skill.model,
            "network_arch": skill.network_arch, "schema_action": action, "schema_version": SCHEMA_VERSION,
            "source": skill.source,
        },
        **({"x_automl_cost_parameters": cost} if cost else {}),
    }
    problems = validate_spec(schema["default"], schema)
    if problems:
        raise GenerationError(f"the default {action} spec violates its own schema: {problems[0]}")
    return schema


def manifest(skill: Skill, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    actions = {
        action: {
            "automl_default_parameters": schema["automl_default_parameters"],
            "automl_disabled_parameters": schema["automl_disabled_parameters"],
            "core_module": skill.network_arch,
            "path": f"schemas/{action}.schema.json",
            "popular": schema["popular"],
            "schema_action": action,
            "spec_template": f"references/spec_template_{action}.yaml",
        }
        for action, schema in schemas.items()
    }
    return {
        "actions": actions,
        "automl_enabled": bool(schemas.get("train", {}).get("automl_default_parameters")),
        "failures": {},
        "model": skill.model,
        "network_arch": skill.network_arch,
        "schema_version": SCHEMA_VERSION,
    }


def _inputs(skill: Skill, action: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for dotted, _f, meta, hint in _walk_all(skill.config):
        owner = dotted.split(".", 1)[0]
        belongs = owner == action if owner in skill.actions else action == skill.shared_sections_action
        if meta.io and belongs:
            inputs[dotted] = {"type": meta.io, **({"optional": True} if meta.io_optional else {})}
    return inputs


def _walk_all(cls: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, FieldMeta, Any]]:
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}{f.name}"
        yield dotted, f, field_meta(f), hints[f.name]
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _walk_all(hints[f.name], f"{dotted}.")


def skill_info(skill: Skill, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``references/skill_info.yaml`` in the structure of TAO's packaged skills."""
    actions = {
        action: {
            "command": f"{skill.command} {action} -e {{config_path}}",
            "config_format": "yaml",
            "mode": "config",
            "inputs": _inputs(skill, action),
            "outputs": {"results_dir": {"type": "folder"}},
            "upload_excludes": ["inputs/"],
        }
        for action in skill.actions
    }
    return {
        "name": skill.name,
        "network_arch": skill.network_arch,
        "automl_enabled": bool(schemas.get("train", {}).get("automl_default_parameters")),
        "data_format": skill.data_format,
        "gpu_spec_key": skill.gpu_spec_key,
        "actions": actions,
        "data_sources": skill.data_sources,
        "spec_params": skill.spec_params,
        "key_defaults": {},
        "spec_shorthand_keys": skill.spec_shorthand_keys,
        "spec_templates": {action: f"../references/spec_template_{action}.yaml" for action in skill.actions},
        "description": skill.description,
        "kpis": list(skill.kpis),
        "automl_metric": skill.automl_metric,
        "automl_direction": skill.automl_direction,
    }


def _json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)


def generate(skill: Skill) -> dict[str, str]:
    """Every generated file as ``{path relative to the skill dir: text}``."""
    schemas = {action: action_schema(skill, action) for action in skill.actions}
    files = {f"schemas/{action}.schema.json": _json(schema) for action, schema in schemas.items()}
    files["schemas/manifest.json"] = _json(manifest(skill, schemas))
    for action, schema in schemas.items():
        files[f"references/spec_template_{action}.yaml"] = _yaml(schema["default"])
    files["references/skill_info.yaml"] = _yaml(skill_info(skill, schemas))
    return files


def _stale(files: dict[str, str], root: Path) -> list[str]:
    return [rel for rel, text in files.items() if not (root / rel).is_file() or (root / rel).read_text() != text]


def stale_files(skill: Skill, root: Path) -> list[str]:
    """Generated files that are missing under ``root`` or differ from what would be generated."""
    return _stale(generate(skill), root)


def write(skill: Skill, root: Path) -> list[str]:
    """Write every generated file under ``root``; returns the ones that changed."""
    files = generate(skill)
    changed = _stale(files, root)
    for relative in changed:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[relative])
    return changed
