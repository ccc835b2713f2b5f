"""Load a spec file plus Hydra-style dot-list overrides into a validated ``ExperimentConfig``."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Sequence, get_type_hints

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from reid_core.config.experiment import ACTIONS, ExperimentConfig
from reid_core.config.validation import ACTION_SECTIONS, MISSING_VALUE, check_against_schema, check_relations
from reid_core.errors import SpecError
from schemas import spec as specs


def read_spec_file(path: str | os.PathLike) -> dict:
    """The user's YAML as plain containers, unresolved; a clear SpecError for anything unreadable."""
    try:
        return specs.read_yaml_mapping(path)
    except specs.SpecError as err:
        raise SpecError(str(err)) from None


def parse_overrides(overrides: Sequence[str]) -> dict:
    """``a.b=value`` strings (values parsed as YAML) into one nested mapping."""
    try:
        return specs.parse_overrides(overrides)
    except specs.SpecError as err:
        raise SpecError(str(err)) from None


def _has_interpolation(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_has_interpolation(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_interpolation(v) for v in node)
    return isinstance(node, str) and "${" in node


def _resolve(merged: dict) -> dict:
    """Resolve ``${...}`` interpolations; values without any are left exactly as written."""
    if not _has_interpolation(merged):
        return merged
    try:
        return OmegaConf.to_container(OmegaConf.create(merged), resolve=True)
    except (OmegaConfBaseException, ValueError, TypeError) as err:
        key = getattr(err, "full_key", None)
        message = (getattr(err, "msg", None) or str(err)).splitlines()[0]
        raise SpecError(f"{key + ': ' if key else ''}cannot resolve interpolation: {message}") from None


def _none_strings_to_empty(raw: Any, cls: type = ExperimentConfig) -> Any:
    """``key:`` in YAML or ``key=`` on the command line is None; for a string key it means empty."""
    if not isinstance(raw, dict):
        return raw
    hints = get_type_hints(cls)
    out = {}
    for key, value in raw.items():
        hint = hints.get(key) if isinstance(key, str) else None
        if isinstance(value, dict) and dataclasses.is_dataclass(hint):
            out[key] = _none_strings_to_empty(value, hint)
        else:
            out[key] = "" if value is None and hint is str else value
    return out


def build_spec(raw_layers: Sequence[dict], action: str = "train") -> ExperimentConfig:
    """Merge raw layers (file, then overrides) onto the defaults and validate them for ``action``."""
    if action not in ACTIONS:
        raise SpecError(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    merged = specs.merge(dataclasses.asdict(ExperimentConfig()), *raw_layers)
    plain = _none_strings_to_empty(_resolve(merged))
    problems = check_against_schema(plain, action)
    if not problems:
        problems = check_relations(plain, action)
    if problems:
        raise SpecError("\n".join(problems))
    return spec_from_dict(plain)


def load_spec(path: str | os.PathLike | None, overrides: Sequence[str] = (), action: str = "train") -> ExperimentConfig:
    """The validated spec for ``action`` from an optional YAML file and dot-list overrides."""
    layers = [read_spec_file(path)] if path else []
    layers.append(parse_overrides(overrides))
    return build_spec(layers, action)


def spec_from_dict(plain: dict) -> ExperimentConfig:
    """A typed ExperimentConfig from plain containers (mandatory ``???`` values become empty)."""
    structured = OmegaConf.merge(OmegaConf.structured(ExperimentConfig), plain)
    for section in ("evaluate", "inference"):
        if OmegaConf.is_missing(structured[section], "checkpoint"):
            structured[section].checkpoint = ""
    return OmegaConf.to_object(structured)


def spec_to_dict(spec: ExperimentConfig, action: str | None = None) -> dict:
    """Plain containers of a spec (for YAML files and checkpoints); ``action`` drops other action sections."""
    plain = dataclasses.asdict(spec)
    if action is not None:
        for other in ACTION_SECTIONS:
            if other != action:
                plain.pop(other, None)
        for section in ("evaluate", "inference"):
            if section in plain and plain[section]["checkpoint"] == "":
                plain[section]["checkpoint"] = MISSING_VALUE
    return plain


def dump_spec(spec: ExperimentConfig | dict, path: str | os.PathLike, action: str | None = None) -> None:
    specs.write_yaml(spec if isinstance(spec, dict) else spec_to_dict(spec, action), path)
