"""TAO-format skill artifacts: the field metadata vocabulary, the generator, the reader and the validator.

The JSON files next to this module are generated (``python -m reid_core.skill``) from reid_core's
config dataclasses; nothing here imports reid_core (the model binds its config to the generic
generator on its own side, ``reid_core.skill``).
"""

from pathlib import Path

from schemas.conditions import Condition, ConditionError, parse_math_cond
from schemas.fields import FieldMeta, field_meta
from schemas.generator import GenerationError, Skill, action_schema, generate, stale_files, write
from schemas.reader import SchemaError, field_node, is_section, iter_fields, read_schema
from schemas.validation import Violation, to_json_schema, validate_spec

PACKAGE_DIR = Path(__file__).resolve().parent


def packaged_schema(action: str) -> dict:
    """The committed schema of one of this project's actions."""
    return read_schema(PACKAGE_DIR / f"{action}.schema.json")


__all__ = [
    "Condition", "ConditionError", "FieldMeta", "GenerationError", "PACKAGE_DIR", "SchemaError", "Skill",
    "Violation", "action_schema", "field_meta", "field_node", "generate", "is_section", "iter_fields",
    "packaged_schema", "parse_math_cond", "read_schema", "stale_files", "to_json_schema", "validate_spec", "write",
]
