"""A fake ReID study of any size, written through the study record (``studies.record``) as
``automl launch`` writes one, for the dashboard's tests and benchmark: searched keys and helper
params, trials placed on 8 GPUs, learning curves whose height depends on the parameters, pruning
at ASHA-like rungs, failures with their causes, CMC curves, and (with a results dir) the kept
checkpoints, ``study.json`` and the handoff's ``summary.json``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from studies.record import StudyRecord
from studies.trial_record import StudyMeta, TrialRecord

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
              ("dataset.batch_size", "train.optim.name", "train.optim.lr_steps", "dataset.num_instances")}
    params.update({"dataset.batch_size~u": float(u_batch), "train.optim.name~u": float(u_name),
                   "train.optim.lr_steps~u": float(u_steps),
                   "dataset.num_instances~index": [2, 4, 8, 16].index(num_instances)})
    distributions = {
        "model.with_center_loss": CategoricalDistribution([False, True]),
        "model.label_smooth": CategoricalDistribution([False, True]),
        "dataset.num_instances~index": IntDistribution(0, 3),
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


def _cmc(rank1: float) -> dict[int, float]:
    """A CMC curve through ``rank1``: misses become hits as the rank grows."""
    return {r: float(1 - (1 - rank1) * (0.72 ** math.log2(r))) for r in range(1, CMC_RANKS + 1)}


def synthetic_study(n_trials: int, storage: str | None = None, results_dir: str | Path | None = None,
                    max_epochs: int = 30, seed: int = 0, study_name: str = STUDY_NAME) -> StudyRecord:
    """Create the study (in ``storage``, a SQLAlchemy URL; in memory when None) and return its record.
    With ``results_dir`` the kept checkpoints (best and base-spec trial) and ``summary.json`` are
    written there too, and with a storage ``study.json``, so ``--results-dir`` finds it."""
    rng = np.random.default_rng(seed)
    folder = Path(results_dir).resolve() if results_dir is not None else None
    meta = StudyMeta(metrics=("cmc_rank_1",), directions=("maximize",), max_trials=n_trials, max_epochs=max_epochs,
                     algorithm="asha", base_spec={"train": {"num_epochs": max_epochs}},
                     launch={"skill_dir": ".", "study": study_name, "algorithm": "asha", "max_trials": n_trials,
                             "max_epochs": max_epochs, "gpus": list(GPUS), "parallel": len(GPUS)})
    record = StudyRecord.create(storage, study_name, meta, folder)
    begin = datetime(2026, 1, 5, 9, 0, 0)
    free_at = {gpu: begin for gpu in GPUS}
    seen_at_rung: dict[int, list[float]] = {rung: [] for rung in RUNGS}
    trials = []
    for number in range(n_trials):
        config, params, distributions = _config(rng, max_epochs)
        values = _curve(_quality(config), max_epochs, rng)
        state, failure, done = "COMPLETE", None, max_epochs
        for rung in RUNGS:
            if rung < max_epochs and len(seen_at_rung[rung]) >= 8:
                if values[rung] < np.quantile(seen_at_rung[rung], 0.4):
                    state, done = "PRUNED", rung + 1
                    break
            if rung < max_epochs:
                seen_at_rung[rung].append(float(values[rung]))
        if number and rng.random() < 0.03:
            state, done, failure = "FAIL", int(rng.integers(0, 3)), FAILURES[int(rng.integers(len(FAILURES)))]
        values = values[:done]
        gpu = min(free_at, key=lambda g: free_at[g])
        epoch_s = 40.0 + config["dataset.batch_size"] * 0.9
        start = free_at[gpu] + timedelta(seconds=float(rng.uniform(1, 5)))
        seconds = done * epoch_s + 20.0
        free_at[gpu] = start + timedelta(seconds=seconds)
        best = int(np.argmax(values)) if len(values) else None
        trial = TrialRecord(
            number=number, state=state, value=float(values.max()) if state == "COMPLETE" else None, params=params,
            epochs={epoch: float(v) for epoch, v in enumerate(values)}, datetime_start=start,
            datetime_complete=start + timedelta(seconds=seconds), config=config,
            origin="base spec" if number == 0 else "sampler", folder=f"trials/{number}", host="gpu-box-1",
            devices=(gpu,), threads=8, pid=10_000 + number, engine="optuna",
            checkpoints={e: f"trials/{number}/train/model_epoch_{e:03d}_step_{(e + 1) * 100:05d}.pth"
                         for e in range(done)},
            best_epoch=best, cmc=_cmc(float(values[best])) if best is not None else None, failure=failure,
            wall_seconds=seconds, device_seconds=seconds, launch_to_first_step=12.0,
            exit_code=1 if state == "FAIL" else (-15 if state == "PRUNED" else 0))
        record.add_finished(trial, distributions)
        trials.append(trial)
    if folder is not None:
        _write_files(record, trials, folder)
    return record


def _write_files(record: StudyRecord, trials: list[TrialRecord], folder: Path) -> None:
    best = record.best_trial(trials)
    base = trials[0]
    for trial in {best.number: best, base.number: base}.values():
        if trial.best_epoch is not None:
            path = folder / trial.checkpoints[trial.best_epoch]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"synthetic")
    test = {"cmc_rank_1": best.cmc[1] * 0.97, "cmc_rank_5": best.cmc[5] * 0.97, "cmc_rank_10": best.cmc[10] * 0.97,
            "mAP": best.cmc[1] * 0.8 * 0.97, "mINP": best.cmc[1] * 0.45 * 0.97}
    base_rank1 = (base.cmc or {1: 0.5})[1]
    summary = {
        "study": record.name, "storage": record.masked_url, "metric": "cmc_rank_1", "direction": "maximize",
        "best": {"trial": best.number, "value": best.value, "epoch": best.best_epoch, "params": best.config},
        "test_evaluation": test,
        "baseline": {"source": f"base spec (trial {base.number})",
                     "test_evaluation": {"cmc_rank_1": base_rank1 * 0.97, "mAP": base_rank1 * 0.8 * 0.97}},
        "device_hours": record.device_hours(trials),
    }
    record.write_summary(summary)
