"""Spec validation: the action's packaged schema (jsonschema + its conditions), then the
relations that depend on the action about to run, which a schema cannot express."""

from __future__ import annotations

from typing import Any, Mapping

from reid_core.config.experiment import ACTIONS
from schemas import packaged_schema, validate_spec

MISSING_VALUE = "???"
ACTION_SECTIONS = tuple(a for a in ACTIONS if a != "train")  # sections only their own action's schema carries


def check_against_schema(spec: Mapping[str, Any], action: str) -> list[str]:
    """Violations of the action's schema; other actions' sections are checked against their own schema."""
    foreign = [s for s in ACTION_SECTIONS if s != action and s in spec]
    own = {k: v for k, v in spec.items() if k not in foreign}
    problems = [str(v) for v in validate_spec(own, packaged_schema(action))]
    for section in foreign:
        node = packaged_schema(section)["properties"][section]
        problems += [str(v) for v in validate_spec({section: spec[section]}, {"properties": {section: node}})]
    return problems


def _needs(spec: Mapping[str, Any], section: str, key: str, why: str) -> list[str]:
    value = spec[section][key]
    return [] if value not in ("", None, MISSING_VALUE) else [f"{section}.{key}: required {why}"]


def check_relations(spec: Mapping[str, Any], action: str) -> list[str]:
    """What the action needs."""
    problems: list[str] = []
    data, train = spec["dataset"], spec["train"]
    own_dir = (spec.get(action) or {}).get("results_dir") or (action == "train" and train["results_dir"])
    if not spec["results_dir"] and not own_dir:
        problems.append(f"results_dir: required for '{action}' (or set {action}.results_dir)")
    for section in ("train", "evaluate", "inference"):
        gpus = spec.get(section)
        if gpus and len(gpus["gpu_ids"]) != gpus["num_gpus"] and gpus["gpu_ids"] != [0]:
            problems.append(f"{section}.gpu_ids: expected {gpus['num_gpus']} ids for {section}.num_gpus="
                            f"{gpus['num_gpus']}, got {gpus['gpu_ids']!r}")
    if action == "train":
        problems += _needs(spec, "dataset", "train_dataset_dir", "to train")
        if data["val_split"] == 0:
            for key in ("query_dataset_dir", "test_dataset_dir"):
                problems += _needs(spec, "dataset", key, "to validate (or set dataset.val_split > 0)")
    elif action in ("evaluate", "inference"):
        section = spec[action]
        problems += _needs(spec, action, "checkpoint", f"to run '{action}'")
        if section["trt_engine"]:
            problems.append(f"{action}.trt_engine: TensorRT engines are not supported, got {section['trt_engine']!r}")
        for key, fallback in (("query_dataset", "query_dataset_dir"), ("test_dataset", "test_dataset_dir")):
            if not section[key] and not data[fallback]:
                problems.append(f"{action}.{key}: required to run '{action}' (or set dataset.{fallback})")
    elif action == "export":
        problems += _needs(spec, "export", "checkpoint", "to run 'export'")
    return problems
