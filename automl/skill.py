"""A model skill dir: ``references/skill_info.yaml``, ``schemas/train.schema.json``,
``references/spec_template_train.yaml`` (the layout of TAO's packaged skills; this project's
root is one)."""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.errors import AutomlError
from schemas import SchemaError, read_schema
from schemas.spec import SpecError, read_yaml_mapping

SKILL_INFO = "references/skill_info.yaml"
TRAIN_SCHEMA = "schemas/train.schema.json"
TRAIN_TEMPLATE = "references/spec_template_train.yaml"
SKILL_FILES = (SKILL_INFO, TRAIN_SCHEMA, TRAIN_TEMPLATE)  # what makes two skill dirs the same skill


@dataclass(frozen=True)
class Skill:
    root: Path
    info: dict[str, Any]
    schema: dict[str, Any] | None  # None when missing or unreadable (see ``schema_problem``)
    template: dict[str, Any] | None
    schema_problem: str | None

    @property
    def automl_enabled(self) -> bool:
        return bool(self.info.get("automl_enabled"))

    @property
    def runnable(self) -> bool:
        """AutoML needs the train schema and template to exist and parse."""
        return self.schema is not None and self.template is not None

    @property
    def kpis(self) -> tuple[str, ...]:
        return tuple(self.info.get("kpis") or ())

    @property
    def default_metric(self) -> tuple[str, str]:
        return self.info.get("automl_metric") or "cmc_rank_1", self.info.get("automl_direction") or "maximize"

    def digests(self) -> dict[str, str]:
        """SHA-256 of each file that defines the skill (empty for a missing one)."""
        return {name: hashlib.sha256((self.root / name).read_bytes()).hexdigest() if (self.root / name).is_file()
                else "" for name in SKILL_FILES}

    def train_command(self, spec_path: Path) -> list[str]:
        """The train action's command line for a spec file (``{config_path}`` substituted)."""
        command = ((self.info.get("actions") or {}).get("train") or {}).get("command")
        if not command:
            raise AutomlError(f"{self.root / SKILL_INFO}: actions.train.command is missing")
        return [part.replace("{config_path}", str(spec_path)) for part in shlex.split(command)]


def load_skill(root: str | Path) -> Skill:
    root = Path(root).expanduser().resolve()
    info_path = root / SKILL_INFO
    if not info_path.is_file():
        raise AutomlError(f"--skill-dir {root}: no {SKILL_INFO} (not a model skill dir)")
    try:
        info = read_yaml_mapping(info_path)
    except SpecError as err:
        raise AutomlError(str(err)) from None
    schema = template = problem = None
    try:
        schema = read_schema(root / TRAIN_SCHEMA)
    except SchemaError as err:
        problem = str(err)
    template_path = root / TRAIN_TEMPLATE
    try:
        template = read_yaml_mapping(template_path)
    except SpecError as err:
        problem = problem or str(err)
    return Skill(root, info, schema, template, problem)
