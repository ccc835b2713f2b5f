"""Search efficiency on the synthetic ReID task at an equal epoch budget.

For each seed, one study per algorithm on the `demo` synthetic dataset (CPU, trials 2 at a
time), each with the same budget of epochs: ``--trials`` trials of ``--epochs`` epochs. Every
study starts with the base spec's own values (trial 0), so "default spec" is that trial. ASHA
stops weak trials early, so it is given more trials and cut, after the fact, at the same epoch
budget: only trials that finished before the budget ran out count. The figure is the best
validation ``cmc_rank_1`` (on the split carved from the training identities) each algorithm
found.

    .venv/bin/python bench/bench_search_efficiency.py [--seeds 0 1 2] [--trials 10] [--epochs 6]
        [--algorithms random bayesian tpe asha] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


from automl import api
from automl.options import StudyOptions, default_storage
from studies import StudyRecord, TrialRecord

ROOT = Path(__file__).resolve().parents[1]


def _best_within_budget(trials: list[TrialRecord], budget: int) -> tuple[float | None, int, int]:
    """(best value, trials counted, epochs used) over trials in completion order until the budget."""
    finished = sorted((t for t in trials if t.finished and t.datetime_complete), key=lambda t: t.datetime_complete)
    used, best, counted = 0, None, 0
    for trial in finished:
        epochs = len(trial.epochs)
        if used + epochs > budget:
            break
        used += epochs
        counted += 1
        if trial.state == "COMPLETE" and trial.value is not None:
            best = trial.value if best is None else max(best, trial.value)
    return best, counted, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--algorithms", nargs="+", default=["random", "bayesian", "tpe", "asha"])
    parser.add_argument("--out", help="keep the studies here (default: a temporary folder)")
    args = parser.parse_args()
    from reid_core.synthetic import make_dataset
    from reid_core.actions.make_dataset import training_spec
    from reid_core.config import build_spec, dump_spec

    out = Path(args.out or tempfile.mkdtemp(prefix="bench-search-"))
    data = make_dataset(out / "data", preset="demo", seed=0)
    spec = out / "spec_train.yaml"
    dump_spec(build_spec([training_spec(data)], "train"), spec, "train")
    budget = args.trials * args.epochs
    rows: dict[str, list[float]] = {name: [] for name in args.algorithms}
    defaults: dict[int, float] = {}
    detail = []
    for seed in args.seeds:
        for name in args.algorithms:
            results = out / f"{name}-{seed}"
            trials = args.trials * 3 if name in ("asha", "hyperband") else args.trials
            options = StudyOptions(skill_dir=str(ROOT), results_dir=str(results), storage=default_storage(results),
                                   study="bench", spec=str(spec), algorithm=name, max_trials=trials,
                                   max_epochs=args.epochs, gpus=(), parallel=2, seed=seed, handoff=False)
            start = time.perf_counter()
            api.launch(options, policy="on", say=lambda text: None)
            seconds = time.perf_counter() - start
            trials = StudyRecord.of_results_dir(results).trials()
            best, counted, used = _best_within_budget(trials, budget)
            rows[name].append(best if best is not None else float("nan"))
            base = [t for t in trials if t.origin == "base spec" and t.value is not None]
            if base:
                defaults.setdefault(seed, base[0].value)
            detail.append({"seed": seed, "algorithm": name, "best": best, "trials_counted": counted,
                           "epochs_used": used, "trials_run": len(trials), "seconds": round(seconds, 1)})
            print(json.dumps(detail[-1]), flush=True)
    print(f"\nBest validation cmc_rank_1 at an equal budget of {budget} epochs ({args.trials} trials x "
          f"{args.epochs} epochs), demo dataset, seeds {args.seeds}")
    print(f"| algorithm | {' | '.join(f'seed {s}' for s in args.seeds)} | mean |")
    print(f"| --- | {' | '.join('---' for _ in args.seeds)} | --- |")
    if defaults:
        print(f"| default spec (trial 0) | {' | '.join(f'{defaults[s]:.3f}' for s in args.seeds if s in defaults)} "
              f"| {statistics.mean(defaults.values()):.3f} |")
    for name, values in rows.items():
        print(f"| {name} | {' | '.join(f'{v:.3f}' for v in values)} | {statistics.mean(values):.3f} |")


if __name__ == "__main__":
    main()
