"""A synthetic ReID study record of any size, shaped like one ``automl launch`` writes, for the
dashboard's benchmark and tests: the same study and trial attributes, searched keys and helper
params, trials placed on 8 GPUs, learning curves whose height depends on the parameters,
pruning at ASHA-like rungs, failures with their causes, and (with a results dir) each trial's
``train/status.json`` with its CMC curve, the kept checkpoints and the handoff's ``summary.json``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from automl.options import StudyOptions, write_marker

TrialState = optuna.trial.TrialState
STUDY_NAME = "synthetic-reid"
GPUS = tuple(str(i) for i in range(8))
RUNGS = (2, 6, 14)  # epochs at which weak trials are pruned
CMC_RANKS = 20
FAILURES = ("killed by SIGKILL; out of memory?", "NaN loss: training diverged",
            "exit code 1: RuntimeError: CUDA error: an illegal memory access was encountered")
FLOAT = FloatDistribution
UNIT = FloatDistribution(0.0, 1.0)


def _config(rng: np.random.Generator, max_epochs: int) -> tuple[dict, dict, dict]:
    """(config by spec key, Optuna params, their distributions), as the search space encodes them."""
    num_instances = int(rng.choice([2, 4, 8, 16]))
    u_batch, u_name, u_steps = rng.random(3)
    multiples = list(range(max(16, 2 * num_instances), 129, num_instances))
    config = {
        "model.with_center_loss": bool(rng.random() < 0.3),
        "model.label_smooth": bool(rng.random() < 0.5),
        "dataset.num_instances": num_instances,
        "dataset.batch_size": multiples[min(int(u_batch * len(multiples)), len(multiples) - 1)],
        "dataset.re_prob": float(rng.uniform(0, 0.8)),
        "train.optim.name": ("SGD", "Adam", "AdamW")[int(np.searchsorted([0.2, 0.65], u_name))],
        "train.optim.lr_steps": [max(1, int(u_steps * (max_epochs - 1)))],
        "train.optim.weight_decay": float(math.exp(rng.uniform(math.log(1e-5), math.log(1e-2)))),
        "train.optim.warmup_iters": int(rng.integers(0, max(1, int(0.3 * max_epochs)) + 1)),
        "train.optim.base_lr": float(math.exp(rng.uniform(math.log(1e-4), math.log(3e-2)))),
        "train.optim.triplet_loss_margin": float(rng.uniform(0.1, 1.0)),
    }
    if config["model.with_center_loss"]:
        config["train.optim.center_loss_weight"] = float(math.exp(rng.uniform(math.log(1e-4), math.log(1e-2))))
    params = {key: value for key, value in config.items() if key not in
              ("dataset.batch_size", "train.optim.name", "train.optim.lr_steps")}
    params.update({"dataset.batch_size~u": float(u_batch), "train.optim.name~u": float(u_name),
                   "train.optim.lr_steps~u": float(u_steps)})
    distributions = {
        "model.with_center_loss": CategoricalDistribution([False, True]),
        "model.label_smooth": CategoricalDistribution([False, True]),
        "dataset.num_instances": CategoricalDistribution([2, 4, 8, 16]),
        "dataset.re_prob": FLOAT(0.0, 0.8), "train.optim.weight_decay": FLOAT(1e-5, 1e-2, log=True),
        "train.optim.warmup_iters": IntDistribution(0, max(1, int(0.3 * max_epochs))),
        "train.optim.base_lr": FLOAT(1e-4, 3e-2, log=True), "train.optim.triplet_loss_margin": FLOAT(0.1, 1.0),
        "train.optim.center_loss_weight": FLOAT(1e-4, 1e-2, log=True),
        "dataset.batch_size~u": UNIT, "train.optim.name~u": UNIT, "train.optim.lr_steps~u": UNIT,
    }
    return config, params, {key: distributions[key] for key in params}


def _quality(config: dict) -> float:
    """The rank-1 a trial converges to: best near base_lr 3.5e-3 and batch 64, Adam/AdamW ahead of SGD."""
    lr = -abs(math.log10(config["train.optim.base_lr"]) - math.log10(3.5e-3)) * 0.22
    batch = -abs(math.log2(config["dataset.batch_size"] / 64)) * 0.04
    optimiser = {"SGD": -0.06, "Adam": 0.0, "AdamW": 0.02}[config["train.optim.name"]]
    margin = -abs(config["train.optim.triplet_loss_margin"] - 0.35) * 0.05
    smooth = 0.02 if config["model.label_smooth"] else 0.0
    return float(np.clip(0.86 + lr + batch + optimiser + margin + smooth, 0.05, 0.97))


def _curve(quality: float, epochs: int, rng: np.random.Generator) -> np.ndarray:
    tau = max(epochs / 5, 1.0)
    clean = quality * (1 - np.exp(-(np.arange(epochs) + 1) / tau))
    return np.clip(clean + rng.normal(0, 0.012, epochs), 0.0, 1.0)


def _cmc(rank1: float) -> list[float]:
    """A CMC curve through ``rank1``: misses become hits as the rank grows."""
    return [float(1 - (1 - rank1) * (0.72 ** math.log2(r))) for r in range(1, CMC_RANKS + 1)]


def _status_lines(values: np.ndarray, max_epochs: int, state: TrialState, failure: str | None) -> list[dict]:
    lines = [{"status": "STARTED", "epoch": 0, "max_epoch": max_epochs, "message": "Starting Training Loop."}]
    for epoch, value in enumerate(values):
        cmc = _cmc(float(value))
        lines.append({"status": "RUNNING", "epoch": epoch, "max_epoch": max_epochs, "message": f"Epoch {epoch} finished.",
                      "kpi": {"train_loss": 6.0 * (1 - float(value)), "cmc_rank_1": cmc[0], "cmc_rank_5": cmc[4],
                              "cmc_rank_10": cmc[9], "mAP": cmc[0] * 0.8, "mINP": cmc[0] * 0.45}, "cmc": cmc})
    if state == TrialState.COMPLETE:
        lines.append({"status": "SUCCESS", "epoch": max_epochs - 1, "message": "Train finished successfully."})
    elif state == TrialState.FAIL:
        lines.append({"status": "FAILURE", "message": failure})
    return lines


def synthetic_study(n_trials: int, storage: str | None = None, results_dir: str | Path | None = None,
                    max_epochs: int = 30, seed: int = 0, study_name: str = STUDY_NAME) -> optuna.Study:
    """Create the study (in ``storage``, a SQLAlchemy URL; in memory when None) and return it.

    With ``results_dir`` the trial folders, the kept checkpoints (best and base-spec trial),
    ``summary.json`` and ``study.json`` are written there too, so ``--results-dir`` finds it."""
    rng = np.random.default_rng(seed)
    folder = Path(results_dir).resolve() if results_dir is not None else None
    study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
    options = StudyOptions(skill_dir=".", results_dir=str(folder or "."), storage=storage or "", study=study_name,
                           algorithm="asha", max_trials=n_trials, max_epochs=max_epochs, gpus=GPUS, parallel=len(GPUS))
    study.set_user_attr("options", options.to_json())
    study.set_user_attr("base_spec", json.dumps({"train": {"num_epochs": max_epochs}}))
    study.set_user_attr("policy", "on")
    begin = datetime(2026, 1, 5, 9, 0, 0)
    free_at = {gpu: begin for gpu in GPUS}
    seen_at_rung: dict[int, list[float]] = {rung: [] for rung in RUNGS}
    trials, statuses = [], {}
    for number in range(n_trials):
        config, params, distributions = _config(rng, max_epochs)
        values = _curve(_quality(config), max_epochs, rng)
        state, failure, done = TrialState.COMPLETE, None, max_epochs
        for rung in RUNGS:
            if rung < max_epochs and len(seen_at_rung[rung]) >= 8:
                if values[rung] < np.quantile(seen_at_rung[rung], 0.4):
                    state, done = TrialState.PRUNED, rung + 1
                    break
            if rung < max_epochs:
                seen_at_rung[rung].append(float(values[rung]))
        if number and rng.random() < 0.03:
            state, done, failure = TrialState.FAIL, int(rng.integers(0, 3)), FAILURES[int(rng.integers(len(FAILURES)))]
        values = values[:done]
        gpu = min(free_at, key=lambda g: free_at[g])
        epoch_s = 40.0 + config["dataset.batch_size"] * 0.9
        start = free_at[gpu] + timedelta(seconds=float(rng.uniform(1, 5)))
        seconds = done * epoch_s + 20.0
        free_at[gpu] = start + timedelta(seconds=seconds)
        best = int(np.argmax(values)) if len(values) else None
        trial_dir = folder / "trials" / str(number) if folder else None
        trial = optuna.trial.create_trial(
            state=state, value=float(values.max()) if state == TrialState.COMPLETE else None,
            params=params, distributions=distributions,
            intermediate_values={epoch: float(v) for epoch, v in enumerate(values)},
            user_attrs={"config": config, "results_dir": str(trial_dir) if trial_dir else None,
                        "origin": "base spec" if number == 0 else "sampler", "devices": [gpu], "threads": 8,
                        "pid": 10_000 + number, "failure": failure, "best_epoch": best, "epochs_done": done,
                        "wall_seconds": seconds, "device_seconds": seconds, "launch_to_first_step": 12.0,
                        "exit_code": 1 if state == TrialState.FAIL else (-15 if state == TrialState.PRUNED else 0),
                        "kpis": {str(epoch): float(v) for epoch, v in enumerate(values)}})
        trial.datetime_start, trial.datetime_complete = start, start + timedelta(seconds=seconds)
        trials.append(trial)
        statuses[number] = _status_lines(values, max_epochs, state, failure)
    study.add_trials(trials)
    if folder is not None:
        _write_files(study, folder, statuses, storage or "", max_epochs)
    return study


def _write_files(study: optuna.Study, folder: Path, statuses: dict[int, list[dict]], storage: str,
                 max_epochs: int) -> None:
    for number, lines in statuses.items():
        train = folder / "trials" / str(number) / "train"
        train.mkdir(parents=True, exist_ok=True)
        (train / "status.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    best = study.best_trial
    base = study.trials[0]
    for trial in {best.number: best, base.number: base}.values():
        epoch = trial.user_attrs["best_epoch"]
        if epoch is not None:
            name = f"model_epoch_{epoch:03d}_step_{(epoch + 1) * 100:05d}.pth"
            (folder / "trials" / str(trial.number) / "train" / name).write_bytes(b"synthetic")
    test = {k: v * 0.97 for k, v in statuses[best.number][best.user_attrs["best_epoch"] + 1]["kpi"].items()
            if k != "train_loss"}
    base_kpis = statuses[0][(base.user_attrs["best_epoch"] or 0) + 1].get("kpi", {})
    used = sum(t.user_attrs["device_seconds"] for t in study.trials) / 3600
    summary = {
        "study": study.study_name, "storage": storage, "metric": "cmc_rank_1", "direction": "maximize",
        "best": {"trial": best.number, "value": best.value, "epoch": best.user_attrs["best_epoch"],
                 "params": best.user_attrs["config"]},
        "test_evaluation": test,
        "baseline": {"source": f"base spec (trial {base.number})",
                     "test_evaluation": {k: v * 0.97 for k, v in base_kpis.items() if k != "train_loss"}},
        "device_hours": {"used": round(used, 4)},
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if storage:
        write_marker(folder, storage, study.study_name)
