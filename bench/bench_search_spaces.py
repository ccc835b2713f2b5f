"""Search-space figures: compile time of a 40-parameter schema, what ``suggest`` adds per trial
beyond the sampler's own time, and the option-weight frequencies in both engines.

    .venv/bin/python bench/bench_search_spaces.py [--trials 300] [--draws 20000]

``suggest`` overhead = time inside ``space.suggest(trial)`` minus the time spent inside the
trial's own ``suggest_*`` calls (the sampler), measured by wrapping the trial.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import Counter

import numpy as np
import optuna

from schemas import packaged_schema
from search_spaces import ChoiceParam, compile_schema
from search_spaces.ray_backend import param_space

KINDS = ("float_log", "float", "int", "step", "power", "weighted", "bool", "relation", "list")


def forty_parameter_schema() -> dict:
    """A TAO-format schema with 40 searched parameters of every kind (plus a fixed epoch count)."""
    properties: dict = {"num_epochs": {"type": "int", "default": 50, "minimum": 1, "maximum": math.inf}}
    for i in range(40):
        kind = KINDS[i % len(KINDS)]
        node = {
            "float_log": {"type": "float", "default": 1e-3, "minimum": 0.0, "maximum": 1.0, "x_scale": "log",
                          "x_search_min": 1e-5, "x_search_max": 1e-1},
            "float": {"type": "float", "default": 0.5, "minimum": 0.0, "maximum": 1.0},
            "int": {"type": "int", "default": 8, "minimum": 1, "maximum": math.inf},
            "step": {"type": "int", "default": 64, "minimum": 32, "maximum": 512, "math_cond": "/ 32"},
            "power": {"type": "int", "default": 16, "minimum": 2, "maximum": 256, "math_cond": "^ 2"},
            "weighted": {"type": "categorical", "default": "a", "enum": ["a", "b", "c"], "option_weights": [0.5, 0.3, 0.2]},
            "bool": {"type": "bool", "default": False},
            "relation": {"type": "int", "default": 10, "minimum": 0, "maximum": 40, "math_cond": "< s.num_epochs"},
            "list": {"type": "list_2", "default": [10, 20], "depends_on": "s.num_epochs"},
        }[kind]
        properties[f"p{i:02d}_{kind}"] = node
    names = [f"s.{n}" for n in properties if n != "num_epochs"]
    return {"automl_default_parameters": names,
            "default": {"s": {n: node["default"] for n, node in properties.items()}},
            "properties": {"s": {"type": "collection", "properties": properties}}}


class _TimedTrial:
    """Forwards ``suggest_*`` to the real trial and adds up the time spent there."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial, self.inside = trial, 0.0

    def __getattr__(self, name: str):
        method = getattr(self.trial, name)
        if not name.startswith("suggest_"):
            return method

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.inside += time.perf_counter() - start

        return timed


def suggest_overhead(space, sampler, trials: int) -> tuple[float, float]:
    """(median ms our code adds per trial, median ms the sampler takes per trial)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    ours, sampler_time = [], []
    for _ in range(trials):
        trial = study.ask()
        timed = _TimedTrial(trial)
        start = time.perf_counter()
        config = space.suggest(timed)
        total = time.perf_counter() - start
        ours.append((total - timed.inside) * 1000)
        sampler_time.append(timed.inside * 1000)
        study.tell(trial, -abs(math.log10(config.get("train.optim.base_lr", 1e-3)) + 2.5))
    return statistics.median(ours), statistics.median(sampler_time)


def weight_frequencies(draws: int) -> list[str]:
    from ray.tune.search.variant_generator import generate_variants

    space = compile_schema(packaged_schema("train"), automl_hyperparameters=["train.optim.name"])
    (param,) = space.params
    assert isinstance(param, ChoiceParam)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    optuna_draws = []
    for _ in range(draws):
        trial = study.ask()
        optuna_draws.append(space.suggest(trial)["train.optim.name"])
        study.tell(trial, 0.0)
    ray_space, state = param_space(space), np.random.RandomState(1)  # not 0: Optuna draws from RandomState(0) too
    ray_draws = [spec["config"]["train.optim.name"] for _ in range(draws)
                 for _, spec in generate_variants({"config": ray_space}, random_state=state)]
    lines = []
    for engine, values in (("Optuna RandomSampler", optuna_draws), ("Ray default generator", ray_draws)):
        counts = Counter(values)
        parts = [f"{o} {counts[o] / draws * 100:5.2f}% (weight {w * 100:.0f}%)" for o, w in zip(param.options, param.weights)]
        worst = max(abs(counts[o] / draws - w) for o, w in zip(param.options, param.weights)) * 100
        lines.append(f"{engine:<22} {'; '.join(parts)}; largest gap {worst:.2f} points")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--draws", type=int, default=20_000)
    args = parser.parse_args()
    schema = forty_parameter_schema()
    compile_schema(schema)  # warm imports
    times = []
    for _ in range(50):
        start = time.perf_counter()
        space = compile_schema(schema)
        times.append((time.perf_counter() - start) * 1000)
    print(f"compile_schema, {len(space)} parameters: median {statistics.median(times):.2f} ms, max {max(times):.2f} ms "
          f"(target < 50 ms)")
    reid = compile_schema(packaged_schema("train"), base_spec={"train": {"num_epochs": 8}})
    for name, space_, sampler in (
        ("ReID search set, RandomSampler", reid, optuna.samplers.RandomSampler(seed=0)),
        ("ReID search set, TPESampler", reid, optuna.samplers.TPESampler(seed=0)),
        ("40 parameters, RandomSampler", space, optuna.samplers.RandomSampler(seed=0)),
        ("40 parameters, TPESampler", space, optuna.samplers.TPESampler(seed=0)),
    ):
        ours, sampler_ms = suggest_overhead(space_, sampler, args.trials)
        print(f"suggest over {args.trials} trials, {name:<31}: ours {ours:6.3f} ms/trial, sampler {sampler_ms:7.3f} "
              f"ms/trial (target: ours < 5 ms)")
    print(f"train.optim.name over {args.draws} draws:")
    for line in weight_frequencies(args.draws):
        print("  " + line)


if __name__ == "__main__":
    main()
