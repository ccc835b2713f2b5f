"""Reading TAO-format schemas: ours and NVIDIA's go through the same reader.

The files may hold the non-standard JSON tokens ``Infinity``, ``-Infinity`` and ``NaN``
(Python's json accepts them). A schema is a mapping with ``properties``; each property is a
section (a mapping with its own ``properties``) or a field (any other mapping). Real schemas
also carry fields that describe no single value, and readers keep them as fields:

- a *free-form* mapping: ``type: collection``/``object``/``dict`` without ``properties`` (label
  maps, backend keyword arguments); any mapping is a valid value;
- a field without ``type`` (or with a JSON-Schema type list); any value is valid.

TAO also puts a list named ``automl_disabled_parameters`` among the top-level properties;
readers skip non-mapping entries.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

MAPPING_TYPES = ("collection", "object", "dict")


class SchemaError(ValueError):
    """A schema file or mapping that is unreadable or malformed; one line naming file and field."""


def read_schema(source: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
    """A schema from a path or a mapping (copied): a mapping with ``properties`` at its top."""
    if isinstance(source, Mapping):
        schema, where = copy.deepcopy(dict(source)), "schema"
    else:
        path = Path(source)
        where = str(path)
        try:
            schema = json.loads(path.read_text())
        except FileNotFoundError:
            raise SchemaError(f"{path}: schema file not found") from None
        except json.JSONDecodeError as err:
            raise SchemaError(f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise SchemaError(f"{path}: cannot read schema ({err})") from None
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        raise SchemaError(f"{where}: not a TAO-format schema (expected a mapping with 'properties')")
    return schema


def is_section(node: Mapping[str, Any]) -> bool:
    return isinstance(node.get("properties"), dict)


def is_free_form(node: Mapping[str, Any]) -> bool:
    """A field whose value is a mapping with keys the schema leaves open (no ``properties``)."""
    return node.get("type") in MAPPING_TYPES and not is_section(node)


def value_type(node: Mapping[str, Any]) -> str | None:
    """The field's TAO value type, or None when the schema gives none (any value is valid)."""
    kind = node.get("type")
    return kind if isinstance(kind, str) else None


def iter_fields(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """``(dotted_key, node)`` for every leaf field, depth first."""
    for name, child in schema["properties"].items():
        if not isinstance(child, dict):
            continue
        if is_section(child):
            yield from iter_fields(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


def field_node(schema: Mapping[str, Any], dotted: str) -> dict[str, Any] | None:
    """The node of a dotted key (field or section), or None when the schema has no such key."""
    node: Any = schema
    for part in dotted.split("."):
        properties = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(properties, dict) or not isinstance(properties.get(part), dict):
            return None
        node = properties[part]
    return node
