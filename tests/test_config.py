"""The spec: TAO's templates load unchanged, and every kind of bad value is one line naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reid_core.skill import SKILL
from schemas import action_schema
from reid_core.config import load_spec, spec_to_dict
from reid_core.errors import SpecError

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "tao_reid" / "references"
DATA = ["dataset.train_dataset_dir=/d/train", "dataset.query_dataset_dir=/d/query",
        "dataset.test_dataset_dir=/d/test", "results_dir=/r"]
CHECKPOINTS = ["evaluate.checkpoint=/c.pth", "inference.checkpoint=/c.pth", "export.checkpoint=/c.pth"]
TAO_ACTIONS = ("train", "evaluate", "inference", "export")  # tune_reranking is ours: TAO has no template of it


def _reference(action: str) -> Path:
    return REFERENCE / f"spec_template_{action}.yaml"


def _differences(theirs: dict, mine: dict, prefix: str) -> list[str]:
    """Keys of ``theirs`` missing from ``mine`` or holding another value."""
    found = []
    for key, value in theirs.items():
        if key not in mine:
            found.append(f"missing {prefix}{key}")
        elif isinstance(value, dict):
            found += _differences(value, mine[key], f"{prefix}{key}.")
        elif mine[key] != value:
            found.append(f"{prefix}{key}: ours {mine[key]!r}, TAO {value!r}")
    return found


@pytest.mark.parametrize("action", TAO_ACTIONS)
def test_nvidia_templates_load_unchanged(action):
    spec = load_spec(_reference(action), DATA + CHECKPOINTS, action)
    template = yaml.safe_load(_reference(action).read_text())
    plain = spec_to_dict(spec)
    overridden = {o.split("=")[0] for o in DATA + CHECKPOINTS}
    for section in ("model", "train", "re_ranking"):
        assert _differences(template[section], plain[section], f"{section}.") == []
    for key, value in template["dataset"].items():
        if f"dataset.{key}" not in overridden:
            assert plain["dataset"][key] == value, key


@pytest.mark.parametrize("action", TAO_ACTIONS)
def test_our_defaults_match_the_nvidia_template_for_every_tao_key(action):
    template = yaml.safe_load(_reference(action).read_text())
    assert _differences(template, action_schema(SKILL, action)["default"], "") == []


BAD_OVERRIDES = [
    ("train.foo=1", "train.foo: unknown key"),
    ("train.num_epoch=3", "did you mean 'train.num_epochs'"),
    ("train.num_epochs=abc", "train.num_epochs: expected int"),
    ("train.num_epochs=1.5", "train.num_epochs: expected int"),
    ("train.num_epochs=0", "train.num_epochs: expected a value >= 1"),
    ("model.label_smooth=3", "model.label_smooth: expected bool"),
    ("model=5", "model: expected a mapping"),
    ("model.backbone=swin_tiny", "model.backbone: expected one of"),
    ("dataset.sampler=random", "dataset.sampler: expected one of"),
    ("dataset.batch_size=30", "dataset.batch_size: expected a multiple of dataset.num_instances=4"),
    ("dataset.batch_size=4", "dataset.batch_size: expected a value > dataset.num_instances=4, got 4"),
    ("dataset.re_prob=1.5", "dataset.re_prob: expected a value <= 1.0"),
    ("dataset.pixel_std=[0.2,0.2]", "dataset.pixel_std: expected a list of 3 values"),
    ("dataset.pixel_mean=[0.5,0.5,2.0]", "dataset.pixel_mean[2]: expected a value <= 1.0"),
    ("train.optim.base_lr=0", "train.optim.base_lr: expected a value > 0.0"),
    ("train.optim.base_lr=-0.1", "train.optim.base_lr: expected a value > 0.0"),
    ("train.optim.name=RMSprop", "train.optim.name: expected one of"),
    ("train.optim.lr_steps=[70,40]", "train.optim.lr_steps: expected strictly increasing"),
    ("train.optim.lr_steps=[40,x]", "train.optim.lr_steps[1]: expected int"),
    ("train.optim.warmup_method=exp", "train.optim.warmup_method: expected one of"),
    ("train.gpu_ids=[0,1]", "train.gpu_ids: expected 1 ids for train.num_gpus=1"),
    ("model.jpm=true", "model.jpm: must stay False"),
    ("model.feat_dim=8", "model.feat_dim: expected a value >= 32"),
    ("results_dir=", "results_dir: required for 'train'"),
    ("dataset.train_dataset_dir=", "dataset.train_dataset_dir: required to train"),
    ("train.optim.base_lr=${train.num_epochs}", "train.optim.base_lr: expected a value <= 1.0"),
]


@pytest.mark.parametrize(("override", "expected"), BAD_OVERRIDES)
def test_invalid_value_is_refused_naming_its_key(override, expected):
    with pytest.raises(SpecError) as caught:
        load_spec(None, DATA + [override], "train")
    message = str(caught.value)
    assert expected in message
    assert "Traceback" not in message


@pytest.mark.parametrize(("action", "missing"), [
    ("evaluate", "evaluate.checkpoint: required"),
    ("inference", "inference.checkpoint: required"),
    ("export", "export.checkpoint: required"),
])
def test_action_specific_requirements(action, missing):
    with pytest.raises(SpecError, match=missing):
        load_spec(None, DATA, action)


def test_trt_engine_is_refused():
    with pytest.raises(SpecError, match="evaluate.trt_engine: TensorRT engines are not supported"):
        load_spec(None, DATA + CHECKPOINTS + ["evaluate.trt_engine=/m.engine"], "evaluate")


def test_validation_split_replaces_query_and_test():
    spec = load_spec(None, ["dataset.train_dataset_dir=/d", "results_dir=/r", "dataset.val_split=0.2"], "train")
    assert spec.dataset.val_split == 0.2


def test_several_violations_are_all_reported_one_per_line():
    with pytest.raises(SpecError) as caught:
        load_spec(None, DATA + ["train.num_epochs=0", "dataset.prob=2"], "train")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and lines[0].startswith("dataset.prob") or lines[0].startswith("train.num_epochs")


@pytest.mark.parametrize("text,expected", [
    ("model: [1, 2\n", "malformed YAML"),
    ("- a\n- b\n", "expected a mapping of spec keys"),
    ("model:\n  backbone: resnet_50\n  unknown_key: 1\n", "model.unknown_key: unknown key"),
    ("train:\n  optim: 3\n", "train.optim: expected a mapping"),
])
def test_bad_spec_files(tmp_path, text, expected):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=expected):
        load_spec(path, DATA, "train")


def test_missing_spec_file_names_it(tmp_path):
    with pytest.raises(SpecError, match="spec file not found: .*nope.yaml"):
        load_spec(tmp_path / "nope.yaml", DATA, "train")


def test_override_without_equals_is_refused():
    with pytest.raises(SpecError, match="expected key=value"):
        load_spec(None, DATA + ["train.num_epochs"], "train")


def test_empty_override_means_empty_string():
    spec = load_spec(None, DATA + ["model.pretrained_model_path="], "train")
    assert spec.model.pretrained_model_path == ""
