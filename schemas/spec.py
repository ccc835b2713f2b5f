"""TAO-format specs as plain nested mappings: reading, dotted keys, merging and dot-list overrides.

The one home of these rules for the trainer, the schema validator, the search-space compiler and
automl. YAML is read with OmegaConf (values as written, ``${...}`` interpolations left
unresolved); overrides are Hydra-style dot-lists (``train.optim.base_lr=0.01``, values parsed as
YAML). Every user mistake is a ``SpecError`` whose message is one line naming the file or item.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

HELPER_MARK = "~"  # never in a spec key: a search parameter name that carries it is a sampler helper

class SpecError(ValueError):
    """A spec file or override that cannot be read; one line naming the file, key or item."""


def read_yaml_mapping(path: str | os.PathLike, label: str | None = None) -> dict[str, Any]:
    """A YAML file of keys as plain containers, unresolved. ``label`` names it in errors (default:
    the path, e.g. ``--spec spec.yaml``)."""
    path = Path(path)
    name = label or str(path)
    if not path.is_file():
        raise SpecError(f"spec file not found: {path}" if label is None else f"{name}: not found")
    try:
        loaded = OmegaConf.load(path)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{name}:{where} malformed YAML: {problem}") from None
    except (OSError, UnicodeDecodeError, OmegaConfBaseException) as err:
        raise SpecError(f"{name}: cannot read spec: {str(err).splitlines()[0]}") from None
    if not isinstance(loaded, DictConfig):
        raise SpecError(f"{name}: expected a mapping of spec keys, got a list")
    return OmegaConf.to_container(loaded, resolve=False)


def write_yaml(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Plain containers as YAML, keys in their order."""
    Path(path).write_text(yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False))


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``a.b=value`` strings (values parsed as YAML) into one nested mapping."""
    items = list(overrides)
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise SpecError(f"override {item!r}: expected key=value, e.g. train.num_epochs=30")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(items), resolve=False)
    except (yaml.YAMLError, OmegaConfBaseException, ValueError) as err:
        raise SpecError(f"overrides: cannot parse: {str(err).splitlines()[0]}") from None


def merge(base: Mapping[str, Any], *layers: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with each layer laid over it: sections merge key by key, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for layer in layers:
        for key, value in layer.items():
            here = out.get(key)
            out[key] = merge(here, value) if isinstance(value, Mapping) and isinstance(here, Mapping) \
                else copy.deepcopy(value)
    return out


def flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (dotted keys are kept as they are)."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


def lookup(spec: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """``(found, value)`` of a dotted key."""
    node: Any = spec
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def get(spec: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    found, value = lookup(spec, dotted)
    return value if found else default


def set_value(spec: dict[str, Any], dotted: str, value: Any) -> None:
    """Place ``value`` at a dotted key, creating sections; a value where a section is needed is an error."""
    node = spec
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SpecError(f"{dotted}: the spec has a value, not a section, at {part!r}")
    node[leaf] = copy.deepcopy(value)


def with_values(spec: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with each dotted key of ``values`` placed."""
    out = copy.deepcopy(dict(spec))
    for key, value in values.items():
        set_value(out, key, value)
    return out


def has(spec: Mapping[str, Any], dotted: str) -> bool:
    return lookup(spec, dotted)[0]
