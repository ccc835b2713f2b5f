"""automl's own costs: orchestration overhead per trial, parallel scaling, suggestion overhead.

1. Orchestration overhead: real trials of the `re_identification` trainer on the `demo`
   synthetic dataset, started by ``automl.launcher.run_trial`` one after another. Overhead =
   (launch until the trainer's STARTED line, i.e. its first training step is next) + (its
   SUCCESS line until the launcher has seen the process exit and scored it). The first trial
   also starts the fork server that pre-imports torch and Lightning; it is reported apart.
2. Parallel scaling: the same N trials, each with one device (one CPU thread here, one GPU on
   a GPU machine), run one after another and then P at a time; the target is
   wall(P) <= wall(1) / (0.9 P).
3. Suggestion overhead: ask + ``space.suggest`` on a study that already holds 1,000 finished
   trials in an SQLite file (the default storage), for each algorithm's sampler.
4. A second objective: the same ask + suggest with one objective and with two (rank-1 up,
   latency down), side by side on the same finished trials, at 50 and ``--history`` trials, for
   each sampler a multi-objective study may use.

    .venv/bin/python bench/bench_automl.py [--trials 4] [--epochs 2] [--parallel 2] [--history 1000] [--postgres]
        [--only overhead|scaling|suggestions|objectives]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import optuna

from automl.algorithms import optuna_parts
from automl.gpu_pool import Lease
from automl.launcher import run_trial
from reid_core.status import read_status
from schemas import packaged_schema
from search_spaces import compile_schema
from studies.storage import open_storage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the throwaway PostgreSQL server
from servers import postgres_server  # noqa: E402

TRIAL_60S = 60.0


def _spec(data, epochs: int, results: Path) -> dict:
    from reid_core.actions.make_dataset import training_spec
    from reid_core.config import build_spec, spec_to_dict

    spec = spec_to_dict(build_spec([training_spec(data)], "train"), "train")
    spec["train"]["num_epochs"] = epochs
    spec["train"]["optim"]["lr_steps"] = [max(1, epochs - 1)]
    spec["results_dir"] = str(results)
    return spec


def _one(data, epochs: int, folder: Path, threads: int) -> dict:
    spec = _spec(data, epochs, folder)
    outcome = run_trial(["re_identification", "train", "-e", "{config_path}"], folder, spec, Lease((), threads),
                        "cmc_rank_1", "maximize", lambda epoch, value: False)
    assert outcome.state == "COMPLETE", outcome.failure
    lines = read_status(folder / "train" / "status.json")
    success = [line for line in lines if line.get("status") == "SUCCESS"][-1]
    launch = outcome.first_step - outcome.started
    teardown = outcome.ended - float(success["timestamp"])
    return {"launch": launch, "teardown": teardown, "wall": outcome.ended - outcome.started}


def overhead(data, root: Path, trials: int, epochs: int, threads: int) -> None:
    runs = [_one(data, epochs, root / f"overhead-{i}", threads) for i in range(trials + 1)]
    first, rest = runs[0], runs[1:]
    print(f"first trial (starts the fork server): launch {first['launch']:.2f} s, teardown {first['teardown']:.2f} s")
    for name in ("launch", "teardown"):
        values = [r[name] for r in rest]
        print(f"{name:>9}: median {statistics.median(values):.3f} s, max {max(values):.3f} s over {len(values)} trials")
    total = [r["launch"] + r["teardown"] for r in rest]
    print(f" overhead: median {statistics.median(total):.3f} s, max {max(total):.3f} s per trial = "
          f"{100 * statistics.median(total) / TRIAL_60S:.2f}% of a 60 s trial (targets: <= 2 s, <= 3%)")


def scaling(data, root: Path, trials: int, epochs: int, parallel: int) -> None:
    def batch(tag: str, workers: int) -> float:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda i: _one(data, epochs, root / f"{tag}-{i}", 1), range(trials)))
        return time.perf_counter() - start

    batch("warm", parallel)  # the fork server and the page cache, for both runs alike
    sequential = batch("seq", 1)
    together = batch("par", parallel)
    target = sequential / (0.9 * parallel)
    print(f"{trials} trials x {epochs} epochs, 1 device each: one after another {sequential:.1f} s, "
          f"{parallel} at a time {together:.1f} s; speed-up {sequential / together:.2f}x "
          f"(target wall <= {target:.1f} s, i.e. >= {0.9 * parallel:.1f}x)")


def _ask_times(study: optuna.Study, space, repeats: int) -> list[float]:
    """Seconds of ``repeats`` ask + ``space.suggest`` (each trial told 0 on every objective)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        trial = study.ask()
        space.suggest(trial)
        times.append(time.perf_counter() - start)
        study.tell(trial, [0.0] * len(study.directions))
    return times


def suggestions(root: Path, history: int, storage: str | None = None) -> None:
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = compile_schema(packaged_schema("train"), base_spec={"train": {"num_epochs": 8}})
    rng = np.random.default_rng(0)
    source = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    for _ in range(history):
        trial = source.ask()
        config = space.suggest(trial)
        for epoch in range(8):
            trial.report(0.1 * epoch, epoch)
        source.tell(trial, -abs(math.log10(config["train.optim.base_lr"]) + 2.5) + rng.normal(0, 0.05))
    print(f"ask + suggest with {history} finished trials in {'PostgreSQL' if storage else 'SQLite'} "
          "(median of 10, first ask apart):")
    for name in ("random", "tpe", "bayesian", "grid", "asha", "hyperband", "bohb"):
        parts = optuna_parts(name, space, 0, 8, history)
        url = storage or f"sqlite:///{root / f'suggest-{name}.db'}"
        study = optuna.create_study(storage=open_storage(url, create=True), study_name=f"suggest-{name}",
                                    sampler=parts.sampler, pruner=parts.pruner, direction="maximize")
        study.add_trials(source.trials)
        times = _ask_times(study, space, 11)
        print(f"  {name:<9} median {statistics.median(times[1:]) * 1000:7.1f} ms, max {max(times[1:]) * 1000:7.1f} ms"
              f" (first {times[0] * 1000:.0f} ms)")


def objectives(root: Path, histories: tuple[int, ...], repeats: int = 7) -> None:
    """What a second objective (rank-1 up, latency down) adds to ask + suggest, per sampler a
    multi-objective study may use, side by side on the same finished trials in SQLite."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = compile_schema(packaged_schema("train"), base_spec={"train": {"num_epochs": 8}})
    rng = np.random.default_rng(0)
    for history in histories:
        source = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), directions=["maximize", "minimize"])
        for _ in range(history):
            trial = source.ask()
            config = space.suggest(trial)
            source.tell(trial, [-abs(math.log10(config["train.optim.base_lr"]) + 2.5) + rng.normal(0, 0.05),
                                float(rng.uniform(1.0, 20.0))])
        print(f"ask + suggest with {history} finished trials in SQLite, 1 objective vs 2 (median of "
              f"{repeats - 1}, first ask apart):")
        for name in ("random", "tpe", "bayesian", "grid"):
            medians = []
            for directions in (["maximize"], ["maximize", "minimize"]):
                parts = optuna_parts(name, space, 0, 8, history)
                tag = f"mo{len(directions)}-{name}-{history}"
                study = optuna.create_study(storage=open_storage(f"sqlite:///{root / f'{tag}.db'}", create=True),
                                            study_name=tag, sampler=parts.sampler, directions=directions)
                study.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                                            values=t.values[:len(directions)]) for t in source.trials])
                medians.append(statistics.median(_ask_times(study, space, repeats)[1:]))
            print(f"  {name:<9} 1 objective {medians[0] * 1000:8.1f} ms, 2 objectives {medians[1] * 1000:8.1f} ms: "
                  f"{(medians[1] - medians[0]) * 1000:+.1f} ms ({medians[1] / medians[0]:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--only", choices=("overhead", "scaling", "suggestions", "objectives"))
    parser.add_argument("--postgres", action="store_true", help="suggestions on a throwaway PostgreSQL server")
    args = parser.parse_args()
    from reid_core.synthetic import make_dataset

    with tempfile.TemporaryDirectory(prefix="bench-automl-") as tmp:
        root = Path(tmp)
        data = None
        if args.only in (None, "overhead", "scaling"):
            data = make_dataset(root / "data", preset="demo", seed=0)
        if args.only in (None, "overhead"):
            print("== orchestration overhead ==")
            overhead(data, root, args.trials, args.epochs, threads=2)
        if args.only in (None, "scaling"):
            print("== parallel scaling ==")
            scaling(data, root, args.trials, args.epochs, args.parallel)
        if args.only in (None, "suggestions"):
            print("== suggestion overhead ==")
            if args.postgres:
                with postgres_server() as server:
                    suggestions(root, args.history, server.url)
            else:
                suggestions(root, args.history)
        if args.only in (None, "objectives"):
            print("== a second objective ==")
            objectives(root, (50, args.history))


if __name__ == "__main__":
    main()
