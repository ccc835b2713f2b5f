"""schemas/ and references/: generation, TAO format, the ReID search set, validation."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reid_core.config import build_spec, load_spec
from reid_core.config.loading import read_spec_file
from reid_core.errors import SpecError
from reid_core.skill import SKILL
from schemas import (
    GenerationError,
    SchemaError,
    Skill,
    action_schema,
    field_node,
    iter_fields,
    packaged_schema,
    read_schema,
    stale_files,
    validate_spec,
    write,
)
from schemas.fields import bool_field, float_field, int_field, list_field, section_field, str_field

ROOT = Path(__file__).resolve().parents[1]
NVIDIA = Path(__file__).resolve().parent / "fixtures" / "tao_reid"
ACTIONS = ("train", "evaluate", "inference", "export")
TAO_FIELD_KEYS = {"title", "description", "type", "default", "minimum", "maximum", "enum", "option_weights",
                  "math_cond", "depends_on", "parent_param", "popular", "automl_enabled"}
TAO_SECTION_KEYS = {"automl_default_parameters", "automl_disabled_parameters", "automl_enabled", "default",
                    "description", "popular", "properties", "title", "type"}
TAO_TYPES = {"int", "float", "bool", "string", "categorical", "ordered_int", "list", "list_2", "collection"}
FILLED = {"dataset": {"train_dataset_dir": "/d/train", "query_dataset_dir": "/d/query", "test_dataset_dir": "/d/test"},
          "results_dir": "/r"}


# --- generation -------------------------------------------------------------------------------

def test_committed_files_are_what_the_generator_writes():
    done = subprocess.run([sys.executable, "-m", "reid_core.skill", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_names_every_stale_or_missing_file_and_write_fixes_them(tmp_path):
    assert len(stale_files(SKILL, tmp_path)) == 12
    write(SKILL, tmp_path)
    assert stale_files(SKILL, tmp_path) == []
    (tmp_path / "schemas" / "train.schema.json").write_text("{}")
    (tmp_path / "references" / "skill_info.yaml").unlink()
    assert sorted(stale_files(SKILL, tmp_path)) == ["references/skill_info.yaml", "schemas/train.schema.json"]
    done = subprocess.run([sys.executable, "-m", "reid_core.skill", "--check", "--root", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and "schemas/train.schema.json" in done.stdout


@pytest.mark.parametrize("action", ACTIONS)
def test_our_schema_has_nvidia_format(action):
    ours, theirs = packaged_schema(action), read_schema(NVIDIA / "schemas" / f"{action}.schema.json")
    assert {k for k in ours if not k.startswith("x_")} == {k for k in theirs if not k.startswith("x_")}
    assert set(ours["properties"]) == set(theirs["properties"])  # per-action filtering as TAO does
    assert ours["x_tao_schema"]["action"] == action and ours["x_tao_schema"]["network_arch"] == "re_identification"
    for key, node in iter_fields(ours):
        assert node["type"] in TAO_TYPES, key
        assert set(node) - TAO_FIELD_KEYS <= {k for k in node if k.startswith("x_")}, key
        theirs_node = field_node(theirs, key)
        if theirs_node is not None:
            assert node["default"] == theirs_node["default"], key


def test_infinity_is_written_as_tao_does():
    text = (ROOT / "schemas" / "train.schema.json").read_text()
    assert '"maximum": Infinity' in text
    assert field_node(packaged_schema("train"), "train.checkpoint_interval")["maximum"] == math.inf


def test_templates_are_the_schema_defaults_and_validate():
    for action in ACTIONS:
        template = yaml.safe_load((ROOT / "references" / f"spec_template_{action}.yaml").read_text())
        assert template == packaged_schema(action)["default"]
        layers = [template, FILLED | {action: {"checkpoint": "/c.pth"}} if action != "train" else FILLED]
        build_spec(layers, action)


def test_manifest_and_skill_info_follow_nvidia_structure():
    manifest = json.loads((ROOT / "schemas" / "manifest.json").read_text())
    theirs = json.loads((NVIDIA / "schemas" / "manifest.json").read_text())
    assert set(manifest) == set(theirs)
    assert set(manifest["actions"]["train"]) == set(theirs["actions"]["train"])
    info = yaml.safe_load((ROOT / "references" / "skill_info.yaml").read_text())
    reference = yaml.safe_load((NVIDIA / "references" / "skill_info.yaml").read_text())
    assert info["automl_enabled"] is True
    assert set(reference) - set(info) == {"container_image"}  # we run natively, not in TAO's container
    assert set(info) - set(reference) == {"kpis", "automl_metric", "automl_direction"}  # ours, for automl
    assert info["automl_metric"] == "cmc_rank_1" and "mAP" in info["kpis"]
    for action in ACTIONS:
        assert info["actions"][action]["inputs"] == reference["actions"][action]["inputs"], action
        assert info["actions"][action]["command"] == reference["actions"][action]["command"]
    assert info["data_sources"] == reference["data_sources"]
    assert info["spec_params"] == reference["spec_params"]


# --- the ReID search set ----------------------------------------------------------------------------

def test_search_set_is_what_a_reid_practitioner_tunes():
    schema = packaged_schema("train")
    searched = set(schema["automl_default_parameters"])
    assert {"train.optim.base_lr", "train.optim.weight_decay", "train.optim.triplet_loss_margin",
            "model.label_smooth", "dataset.num_instances", "dataset.batch_size", "train.optim.name",
            "train.optim.warmup_iters", "train.optim.lr_steps", "dataset.re_prob", "model.with_center_loss"} <= searched
    lr = field_node(schema, "train.optim.base_lr")
    assert lr["x_scale"] == "log" and 0 < lr["x_search_min"] and lr["x_search_max"] <= 0.1
    assert field_node(schema, "train.optim.weight_decay")["x_scale"] == "log"
    batch = field_node(schema, "dataset.batch_size")
    assert batch["x_multiple_of"] == batch["depends_on"] == "dataset.num_instances" and batch["x_search_max"] <= 256
    assert field_node(schema, "dataset.num_instances")["x_search_options"] == [2, 4, 8, 16]
    optimizer = field_node(schema, "train.optim.name")
    assert len(optimizer["option_weights"]) == len(optimizer["enum"]) and sum(optimizer["option_weights"]) > 0
    assert field_node(schema, "train.optim.lr_steps")["depends_on"] == "train.num_epochs"
    assert field_node(schema, "train.optim.warmup_iters")["x_relative_max"] <= 0.5
    disabled = set(schema["automl_disabled_parameters"])
    assert {"dataset.num_classes", "dataset.train_dataset_dir", "dataset.test_dataset_dir",
            "dataset.query_dataset_dir", "train.gpu_ids", "results_dir", "train.results_dir"} <= disabled
    assert not searched & disabled


# --- NVIDIA's files through our reader and validator -------------------------------------------------

def test_nvidia_schemas_load_through_the_same_reader():
    for action in ACTIONS:
        schema = read_schema(NVIDIA / "schemas" / f"{action}.schema.json")
        assert field_node(schema, "train.optim.lr_steps")["type"] == "list_2"
        assert field_node(schema, "train.num_epochs")["maximum"] == math.inf


def test_nvidia_template_validates_against_both_schemas():
    template = yaml.safe_load((NVIDIA / "references" / "spec_template_train.yaml").read_text())
    assert validate_spec(template, read_schema(NVIDIA / "schemas" / "train.schema.json")) == []
    assert validate_spec(template, packaged_schema("train")) == []
    build_spec([template, FILLED], "train")


def test_validation_against_nvidia_schema_names_the_key():
    schema = read_schema(NVIDIA / "schemas" / "train.schema.json")
    template = yaml.safe_load((NVIDIA / "references" / "spec_template_train.yaml").read_text())
    template["dataset"]["re_prob"] = 3
    template["train"]["typo"] = 1
    problems = [str(v) for v in validate_spec(template, schema)]
    assert "dataset.re_prob: expected a value <= 1.0, got 3" in problems
    assert any(p.startswith("train.typo: unknown key") for p in problems)


# --- bad schemas and bad metadata ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("{not json", "malformed JSON at line 1"),
    ("[1, 2]", "not a TAO-format schema"),
])
def test_malformed_schema_file_is_refused_naming_file_and_field(tmp_path, text, expected):
    path = tmp_path / "bad.schema.json"
    path.write_text(text)
    with pytest.raises(SchemaError, match=expected) as caught:
        read_schema(path)
    assert "bad.schema.json" in str(caught.value)


def test_free_form_and_typeless_fields_are_read_and_accept_their_values():
    schema = read_schema({"properties": {"a": {"default": 1}, "s": {"type": "collection"},
                                         "n": {"type": "int", "default": 2, "math_cond": ">0"}}})
    assert dict(iter_fields(schema)).keys() == {"a", "s", "n"}
    assert validate_spec({"a": [1, "x"], "s": {"car": 1, "person": {"id": 2}}, "n": 3}, schema) == []
    assert [str(v) for v in validate_spec({"s": 5, "n": 0}, schema)] == ["s: expected a mapping of keys, got int 5"]
    assert [str(v) for v in validate_spec({"n": 0}, schema)] == ["n: expected a value > 0, got 0"]


def test_missing_schema_file():
    with pytest.raises(SchemaError, match="schema file not found"):
        read_schema("/nonexistent/train.schema.json")


def _toy_skill(**field_kwargs) -> Skill:
    """A two-section config tree with one field built from ``field_kwargs`` (the generator is generic)."""
    kind = field_kwargs.pop("kind", "float")
    default = field_kwargs.pop("default", 0.5)
    maker = {"float": float_field, "int": int_field, "str": str_field, "bool": bool_field}[kind]

    inner = dataclasses.make_dataclass("Inner", [
        ("value", type(default), maker(default, "The value under test.", **field_kwargs)),
        ("other", int, int_field(3, "Another value.", minimum=1)),
    ])
    root = dataclasses.make_dataclass("Root", [
        ("section", inner, section_field(inner, "A section.")),
        ("steps", list, list_field([1, 2], "Steps.", value_type="list_2")),
    ])

    return Skill(name="toy", network_arch="toy", model="toy", description="Toy.", config=root, actions=("train",),
                 command="toy", source="tests")


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"minimum": 1.0, "maximum": 0.0}, "minimum 1.0 > maximum 0.0"),
    ({"minimum": 0.6, "maximum": 1.0}, "default 0.5 is below the minimum 0.6"),
    ({"minimum": 0.0, "maximum": 0.4}, "default 0.5 is above the maximum 0.4"),
    ({"minimum": 0.5, "exclusive_minimum": True}, "below the minimum"),
    ({"kind": "str", "default": "a", "options": ("b", "c")}, "default 'a' is not one of the options"),
    ({"kind": "str", "default": "a", "options": ("a", "b"), "option_weights": (1.0,)}, "1 option_weights for 2 options"),
    ({"kind": "str", "default": "a", "options": ("a", "b"), "option_weights": (0.0, 0.0)}, "sum to more than 0"),
    ({"kind": "str", "default": "a", "options": ("a", "b"), "option_weights": (-1.0, 2.0)}, "must be >= 0"),
    ({"depends_on": "section.missing"}, "depends_on names 'section.missing'"),
    ({"multiple_of": "nowhere"}, "multiple_of names 'nowhere'"),
    ({"math_cond": "~ 3"}, "unknown operator"),
    ({"math_cond": "> banana!"}, "neither a number nor a field"),
    ({"math_cond": "> depends_on"}, "refers to depends_on, which is not set"),
    ({"math_cond": "< section.absent"}, "refers to 'section.absent'"),
    ({"minimum": 0.0, "maximum": 1.0, "search_min": -1.0}, "search_min -1.0 lies outside"),
    ({"minimum": 0.0, "maximum": 1.0, "search_min": 0.9, "search_max": 0.1}, "search_min 0.9 > search_max 0.1"),
    ({"minimum": 0.0, "maximum": 1.0, "scale": "log"}, "a log scale needs a positive search_min"),
    ({"scale": "cubic"}, "scale 'cubic'"),
    ({"relative_max": 0.5}, "relative_max needs depends_on"),
    ({"kind": "int", "default": 3, "math_cond": "/ 2"}, "violates its own schema: section.value: expected a multiple of 2"),
    ({"kind": "int", "default": 3, "parent_param": True}, "parent_param is only meaningful on a bool"),
])
def test_generator_refuses_contradicting_metadata_naming_the_field(kwargs, expected):
    with pytest.raises(GenerationError, match=expected) as caught:
        action_schema(_toy_skill(**kwargs), "train")
    message = str(caught.value)
    assert "section.value" in message and "\n" not in message


def test_generator_is_generic_over_any_dataclass_tree():
    schema = action_schema(_toy_skill(minimum=0.0, maximum=1.0, automl_enabled=True, scale="linear"), "train")
    assert schema["automl_default_parameters"] == ["section.value"]
    assert field_node(schema, "section.other")["maximum"] == math.inf
    assert validate_spec({"section": {"value": 0.2, "other": 4}, "steps": [1, 5]}, schema) == []
    assert [str(v) for v in validate_spec({"section": {"value": 0.2, "other": 4}, "steps": [5, 1]}, schema)] == [
        "steps: expected strictly increasing values, got [5, 1]"]


# --- math_cond forms in validation ----------------------------------------------------------------------

def _one_field_schema(node: dict, extra: dict | None = None) -> dict:
    properties = {"v": {"default": 0, **node}, "p": {"type": "int", "default": 8}}
    properties.update(extra or {})
    return {"properties": properties}


@pytest.mark.parametrize(("node", "value", "ok"), [
    ({"type": "int", "math_cond": "> 0"}, 1, True),
    ({"type": "int", "math_cond": "> 0"}, 0, False),
    ({"type": "float", "math_cond": ">= 0.5"}, 0.5, True),
    ({"type": "int", "math_cond": "!= 0"}, 0, False),
    ({"type": "int", "math_cond": "> depends_on", "depends_on": "p"}, 9, True),
    ({"type": "int", "math_cond": "> depends_on", "depends_on": "p"}, 8, False),
    ({"type": "int", "math_cond": "<= p"}, 8, True),
    ({"type": "int", "math_cond": "< p"}, 8, False),
    ({"type": "int", "math_cond": "/ 32"}, 64, True),
    ({"type": "int", "math_cond": "/ 32"}, 48, False),
    ({"type": "int", "math_cond": "/ 2", "depends_on": "p"}, 4, True),
    ({"type": "int", "math_cond": "/ 2", "depends_on": "p"}, 6, False),
    ({"type": "int", "math_cond": "^ 2"}, 16, True),
    ({"type": "int", "math_cond": "^ 2"}, 12, False),
    ({"type": "int", "x_multiple_of": "p"}, 24, True),
    ({"type": "int", "x_multiple_of": "p"}, 20, False),
])
def test_math_conditions(node, value, ok):
    problems = validate_spec({"v": value, "p": 8}, _one_field_schema(node))
    assert (problems == []) == ok, problems
    if not ok:
        assert problems[0].key == "v"


# --- property tests: every field, valid values pass and out-of-bounds values fail ------------------------

TRAIN_SCHEMA = packaged_schema("train")
BASE = build_spec([FILLED], "train")
BASE_PLAIN = {k: v for k, v in dataclasses.asdict(BASE).items()
              if k not in ("evaluate", "inference", "export", "tune_reranking")}
FIELDS = [(k, n) for k, n in iter_fields(TRAIN_SCHEMA) if not n.get("x_fixed")]


def _set(spec: dict, dotted: str, value) -> dict:
    out = json.loads(json.dumps(spec))
    node = out
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    return out


def _bounds(node: dict) -> tuple[float, float]:
    low = node.get("minimum", -1000)
    high = node.get("maximum", math.inf)
    return low, (high if math.isfinite(high) else low + 1000)


@st.composite
def valid_change(draw):
    key, node = draw(st.sampled_from(FIELDS))
    kind = node["type"]
    if "enum" in node:
        value = draw(st.sampled_from(node["enum"]))
    elif kind == "bool":
        value = draw(st.booleans())
    elif kind in ("string",):
        value = draw(st.text(alphabet="abcxyz/_.", max_size=12))
    elif kind in ("int", "ordered_int"):
        low, high = _bounds(node)
        low += 1 if node.get("x_exclusive_minimum") else 0
        value = draw(st.integers(int(math.ceil(low)), int(high)))
    elif kind == "float":
        low, high = _bounds(node)
        value = draw(st.floats(low, high, allow_nan=False, exclude_min=bool(node.get("x_exclusive_minimum"))))
    else:  # lists
        length = node.get("x_list_length") or draw(st.integers(0, 4))
        low = node.get("x_item_minimum", 0)
        high = node.get("x_item_maximum", low + 100)
        items = {"int": st.integers(int(low), int(high)), "float": st.floats(low, high),
                 "string": st.text(max_size=6)}[node.get("x_item_type", "float")]
        value = draw(st.lists(items, min_size=length, max_size=length, unique=True))
        if kind == "list_2":
            value = sorted(value)
    spec = _set(BASE_PLAIN, key, value)
    # keep the batch a multiple of K
    if key == "dataset.num_instances":
        spec = _set(spec, "dataset.batch_size", value * 2)
    if key in ("model.input_height", "model.input_width"):  # the width is derived: height / 2
        height = value if key == "model.input_height" else value * 2
        spec = _set(_set(spec, "model.input_height", height), "model.input_width", height // 2)
    if key == "dataset.batch_size":  # K must divide the batch (a prime batch over 64 fits no K: invalid)
        divisors = [k for k in range(2, 65) if value % k == 0 and value // k >= 2]
        assume(divisors)
        spec = _set(spec, "dataset.num_instances", draw(st.sampled_from(divisors)))
    return key, spec


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_change())
def test_random_valid_values_of_every_field_pass(change):
    key, spec = change
    assert validate_spec(spec, TRAIN_SCHEMA) == [], key


@st.composite
def invalid_change(draw):
    key, node = draw(st.sampled_from(FIELDS))
    kind = node["type"]
    choices = []
    if kind in ("int", "ordered_int", "float"):
        choices.append("wrong-type")
        if "minimum" in node:
            choices.append(node["minimum"] - (1 if kind != "float" else 0.5))
        if math.isfinite(node.get("maximum", math.inf)):
            choices.append(node["maximum"] + (1 if kind != "float" else 0.5))
    elif "enum" in node:
        choices.append("definitely-not-an-option")
    elif kind == "bool":
        choices += [3, "yes"]
    elif kind == "string":
        choices += [["a", "list"], {"a": 1}]
    else:
        choices += ["not a list", [{"a": 1}]]
    return key, _set(BASE_PLAIN, key, draw(st.sampled_from(choices)))


@settings(max_examples=400, deadline=None)
@given(invalid_change())
def test_random_invalid_values_of_every_field_fail_naming_the_field(change):
    key, spec = change
    problems = validate_spec(spec, TRAIN_SCHEMA)
    assert problems and any(p.key == key or p.key.startswith(f"{key}[") for p in problems), (key, problems)


# --- user YAML never ends in a traceback ------------------------------------------------------------------

KEYS = st.sampled_from(["model", "dataset", "train", "optim", "backbone", "batch_size", "num_epochs", "lr_steps",
                        "results_dir", "evaluate", "checkpoint", "x", "1", "${train}", "base_lr"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(["${train.num_epochs}", "${nope}", "${", "???", "1e-3"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=5))
def test_any_mapping_a_user_can_write_is_a_spec_or_a_spec_error(layer):
    try:
        build_spec([layer], "train")
    except SpecError as err:
        assert str(err).strip()


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80))
def test_any_yaml_text_is_read_or_refused_with_a_spec_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "spec.yaml"
    path.write_text(text)
    try:
        load_spec(path, ["results_dir=/r", "dataset.train_dataset_dir=/d", "dataset.val_split=0.2"], "train")
    except SpecError as err:
        assert str(err).strip()


def test_a_spec_file_with_odd_keys_is_refused_cleanly(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("results_dir: 2024-01-01\n1: 2\n")
    with pytest.raises(SpecError, match="^1: unknown key$"):
        load_spec(path, [], "train")
    assert read_spec_file(path)["results_dir"] == "2024-01-01"  # YAML dates stay text
