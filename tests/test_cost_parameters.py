"""The architecture keys a cost-aware study searches (``x_automl_cost_parameters``): declared like
every searched key, outside the default search set, and every draw a spec the trainer accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reid_core.config import BACKBONES, build_spec
from schemas import packaged_schema
from schemas.spec import merge, read_yaml_mapping
from search_spaces import compile_schema

ROOT = Path(__file__).resolve().parents[1]
COST_KEYS = {"model.backbone", "model.input_height", "model.input_width", "model.reduce_feat_dim", "model.feat_dim"}


def _base_spec() -> dict:
    template = read_yaml_mapping(ROOT / "references" / "spec_template_train.yaml")
    return merge(template, {"results_dir": "/results", "dataset": {
        "train_dataset_dir": "/data/train", "query_dataset_dir": "/data/query", "test_dataset_dir": "/data/test"}})


def test_cost_parameters_are_declared_and_not_searched_by_default():
    schema = packaged_schema("train")
    assert set(schema["x_automl_cost_parameters"]) == COST_KEYS
    assert not COST_KEYS & set(schema["automl_default_parameters"])


def test_every_draw_of_the_default_and_cost_parameters_is_a_valid_training_spec():
    schema, base = packaged_schema("train"), _base_spec()
    searched = schema["automl_default_parameters"] + schema["x_automl_cost_parameters"]
    space = compile_schema(schema, automl_hyperparameters=searched, base_spec=base)
    rng = np.random.default_rng(0)
    models = [build_spec([space.to_spec(space.sample(rng), base)], "train").model for _ in range(200)]
    assert {m.backbone for m in models} == set(BACKBONES)
    assert {m.input_height for m in models} == set(schema["properties"]["model"]["properties"]["input_height"]
                                                   ["x_search_options"])
    assert all(m.input_width == m.input_height // 2 for m in models)
    assert {m.feat_dim for m in models if m.reduce_feat_dim} == {64, 128, 256}
    assert {m.feat_dim for m in models if not m.reduce_feat_dim} == {base["model"]["feat_dim"]}
