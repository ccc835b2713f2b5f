"""Checks a spec against the field metadata of the experiment dataclasses.

Two passes, both returning one line per violation naming the dotted key:
``check_raw`` looks at what the user wrote (unknown keys, strict types) before OmegaConf
coerces anything (it would turn ``label_smooth: 3`` into ``True``); ``check_values`` looks at
the merged spec (bounds, options, list shapes) and at the relations between keys for an action.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any, get_args, get_origin, get_type_hints

from reid_core.config.experiment import ExperimentConfig
from reid_core.config.fields import FieldMeta, field_meta

MISSING_VALUE = "???"


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_interpolation(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _scalar_matches(expected: Any, value: Any) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is str:
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return True


def _expected_name(expected: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(expected, str(expected))


def check_raw(raw: Any, cls: type = ExperimentConfig, prefix: str = "") -> list[str]:
    """Unknown keys and wrong types in a user-written mapping, before any coercion."""
    where = prefix.rstrip(".") or "the spec"
    if not isinstance(raw, dict):
        return [f"{where}: expected a mapping of keys, got {_type_name(raw)} {raw!r}"]
    problems: list[str] = []
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            problems.append(f"{dotted}: unknown key{hint}")
            continue
        expected = hints[key]
        if _is_interpolation(value):
            continue
        if dataclasses.is_dataclass(expected):
            problems.extend(check_raw(value, expected, f"{dotted}."))
        elif get_origin(expected) in (list, tuple):
            problems.extend(_check_raw_list(dotted, expected, value))
        elif value is None and expected is str:
            continue  # `key=` on the command line means an empty string
        elif not _scalar_matches(expected, value):
            problems.append(f"{dotted}: expected {_expected_name(expected)}, got {_type_name(value)} {value!r}")
    return problems


def _check_raw_list(dotted: str, expected: Any, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        return [f"{dotted}: expected a list, got {_type_name(value)} {value!r}"]
    (item_type,) = get_args(expected) or (Any,)
    for index, item in enumerate(value):
        if not _is_interpolation(item) and not _scalar_matches(item_type, item):
            return [f"{dotted}[{index}]: expected {_expected_name(item_type)}, got {_type_name(item)} {item!r}"]
    return []


def iter_fields(cls: type = ExperimentConfig, prefix: str = ""):
    """Yield ``(dotted_key, dataclasses.Field, FieldMeta, type)`` for every leaf and section."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}{f.name}"
        yield dotted, f, field_meta(f), hints[f.name]
        if dataclasses.is_dataclass(hints[f.name]):
            yield from iter_fields(hints[f.name], f"{dotted}.")


def lookup(container: dict, dotted: str) -> Any:
    node: Any = container
    for part in dotted.split("."):
        node = node[part]
    return node


def _check_number(dotted: str, meta: FieldMeta, value: Any) -> list[str]:
    if isinstance(value, float) and math.isnan(value):
        return [f"{dotted}: expected a number, got nan"]
    low, high = meta.minimum, meta.maximum
    if low is not None:
        if meta.exclusive_minimum and not value > low:
            return [f"{dotted}: expected a value > {low}, got {value!r}"]
        if value < low:
            return [f"{dotted}: expected a value >= {low}, got {value!r}"]
    if high is not None and value > high:
        return [f"{dotted}: expected a value <= {high}, got {value!r}"]
    return []


def _check_list(dotted: str, meta: FieldMeta, value: list) -> list[str]:
    if meta.list_length is not None and len(value) != meta.list_length:
        return [f"{dotted}: expected a list of {meta.list_length} values, got {len(value)}: {value!r}"]
    for index, item in enumerate(value):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            if meta.item_minimum is not None and item < meta.item_minimum:
                return [f"{dotted}[{index}]: expected a value >= {meta.item_minimum}, got {item!r}"]
            if meta.item_maximum is not None and item > meta.item_maximum:
                return [f"{dotted}[{index}]: expected a value <= {meta.item_maximum}, got {item!r}"]
    return []


def check_values(spec: dict) -> list[str]:
    """Bounds, options, list shapes and transformer-only keys of a merged, resolved spec."""
    problems: list[str] = []
    defaults = dataclasses.asdict(ExperimentConfig())
    for dotted, _field, meta, expected in iter_fields():
        if dataclasses.is_dataclass(expected):
            continue
        value = lookup(spec, dotted)
        if value == MISSING_VALUE:
            continue
        if meta.options is not None and value not in meta.options:
            allowed = ", ".join(repr(o) for o in meta.options)
            problems.append(f"{dotted}: expected one of {allowed}, got {value!r}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            problems.extend(_check_number(dotted, meta, value))
        elif isinstance(value, list):
            problems.extend(_check_list(dotted, meta, value))
        if meta.transformer_only and value != lookup(defaults, dotted):
            problems.append(
                f"{dotted}: applies only to transformer backbones; with model.backbone="
                f"{spec['model']['backbone']!r} it must stay {lookup(defaults, dotted)!r}, got {value!r}"
            )
    return problems


def _needs(spec: dict, dotted: str, why: str) -> list[str]:
    value = lookup(spec, dotted)
    return [] if value not in ("", None, MISSING_VALUE) else [f"{dotted}: required {why}"]


def check_relations(spec: dict, action: str) -> list[str]:
    """Cross-key conditions; which ones apply depends on the action about to run."""
    problems: list[str] = []
    data, train = spec["dataset"], spec["train"]
    if not spec["results_dir"] and not (spec.get(action) or {}).get("results_dir") and not (
        action == "train" and train["results_dir"]
    ):
        problems.append(f"results_dir: required for '{action}' (or set {action}.results_dir)")
    if data["sampler"] != "softmax":
        k, batch = data["num_instances"], data["batch_size"]
        if batch % k:
            problems.append(
                f"dataset.batch_size: expected a multiple of dataset.num_instances={k}, got {batch}"
            )
        elif batch // k < 2:
            problems.append(
                f"dataset.batch_size: {batch} holds {batch // k} identity of dataset.num_instances={k}; "
                "triplet mining needs at least 2 identities per batch"
            )
    steps = train["optim"]["lr_steps"]
    if any(b <= a for a, b in zip(steps, steps[1:])):
        problems.append(f"train.optim.lr_steps: expected strictly increasing epochs, got {steps!r}")
    for section in ("train", "evaluate", "inference"):
        gpus = spec.get(section)
        if gpus and len(gpus["gpu_ids"]) != gpus["num_gpus"] and gpus["gpu_ids"] != [0]:
            problems.append(
                f"{section}.gpu_ids: expected {gpus['num_gpus']} ids for {section}.num_gpus="
                f"{gpus['num_gpus']}, got {gpus['gpu_ids']!r}"
            )
    if action == "train":
        problems += _needs(spec, "dataset.train_dataset_dir", "to train")
        if data["val_split"] == 0:
            problems += _needs(spec, "dataset.query_dataset_dir", "to validate (or set dataset.val_split > 0)")
            problems += _needs(spec, "dataset.test_dataset_dir", "to validate (or set dataset.val_split > 0)")
    elif action in ("evaluate", "inference"):
        section = spec[action]
        problems += _needs(spec, f"{action}.checkpoint", f"to run '{action}'")
        if section["trt_engine"]:
            problems.append(f"{action}.trt_engine: TensorRT engines are not supported, got {section['trt_engine']!r}")
        for key, fallback in (("query_dataset", "query_dataset_dir"), ("test_dataset", "test_dataset_dir")):
            if not section[key] and not data[fallback]:
                problems.append(f"{action}.{key}: required to run '{action}' (or set dataset.{fallback})")
    elif action == "export":
        problems += _needs(spec, "export.checkpoint", "to run 'export'")
    return problems
