"""Budgets through the CLI (fake trainer): ``--budget-hours`` (device-hours across every trial and
worker) and ``--timeout`` (wall clock): no trial starts past them, running trials stop at their next
epoch boundary as results with their checkpoints, the study ends normally with its handoff and the
summary states the budget; bad budgets are one line and exit 2 with nothing created."""

from __future__ import annotations

import json
import time

import pytest

from automl.cli import main
from automl.resolver import resolve_checkpoint
from studies.record import StudyRecord
from test_automl import ROOT, fake_skill, launch_with_worker  # noqa: F401  (fixture)


def _launch(skill, results, *extra):
    return main(["launch", "--skill-dir", str(skill), "--results-dir", str(results), "--max-epochs", "8",
                 "--hyperparameters", "train.optim.base_lr", "--algorithm", "random", "--max-trials", "10",
                 "--parallel", "2", "--gpus", "none", *extra])


@pytest.mark.parametrize("engine", ["optuna", pytest.param("ray", marks=pytest.mark.real)])
def test_a_spent_device_hour_budget_stops_trials_at_an_epoch_and_still_hands_off(engine, fake_skill, tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.4")
    results = tmp_path / "hours"
    assert _launch(fake_skill, results, "--budget-hours", "0.001", "--engine", engine) == 0  # 3.6 device-seconds
    record = StudyRecord.of_results_dir(results)
    trials = record.trials()
    assert all(t.engine == engine for t in trials)
    assert len(trials) < 10 and record.spent().startswith("--budget-hours 0.001")
    stopped = [t for t in trials if t.stopped_early]
    assert stopped and all(t.state == "COMPLETE" and len(t.epochs) < 8 and t.checkpoints for t in stopped)
    summary = json.loads((results / "summary.json").read_text())
    assert summary["budget"]["budget_hours"] == 0.001 and summary["budget"]["used_hours"] >= 0.001
    if engine == "optuna":  # stopped at the next epoch, not at the end (a Ray trial's start counts: ~3 s)
        assert summary["budget"]["used_hours"] < 0.001 * 2
    assert resolve_checkpoint(results).checkpoint.is_file()


@pytest.mark.parametrize("engine", ["optuna", pytest.param("ray", marks=pytest.mark.real)])
def test_a_timeout_ends_the_study_with_its_handoff(engine, fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.3")
    results = tmp_path / "timeout"
    start = time.monotonic()
    timeout = "4" if engine == "optuna" else "15"  # Ray's start counts too
    assert _launch(fake_skill, results, "--timeout", timeout, "--max-epochs", "40", "--engine", engine) == 0
    record = StudyRecord.of_results_dir(results)
    assert record.spent().startswith(f"--timeout {timeout}") and all(t.state == "COMPLETE" for t in record.trials())
    assert any(t.stopped_early for t in record.trials())
    assert time.monotonic() - start < 60 and (results / "summary.json").exists()


def test_a_worker_keeps_to_the_launchs_budget(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.3")
    record, _ = launch_with_worker(fake_skill, tmp_path, "--max-trials", "20", "--max-epochs", "6",
                                   "--algorithm", "random", "--budget-hours", "0.0015")
    trials = record.trials()
    assert record.spent() and len(trials) < 20
    assert sum(t.device_seconds or 0 for t in trials) / 3600 < 0.0015 * 2


@pytest.mark.parametrize("extra,expected", [
    (["--budget-hours", "0"], "--budget-hours 0: must be more than 0"),
    (["--timeout", "-5"], "--timeout -5: must be more than 0"),
])
def test_bad_budgets_are_one_line_and_exit_2(fake_skill, tmp_path, capsys, extra, expected):
    results = tmp_path / "bad"
    assert _launch(fake_skill, results, *extra) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and not results.exists()


def test_a_budget_smaller_than_one_trials_estimate_is_refused_before_anything(tmp_path, tiny_dataset, capsys):
    from reid_core.actions.make_dataset import training_spec
    from reid_core.config import build_spec, dump_spec

    spec = tmp_path / "spec_train.yaml"
    dump_spec(build_spec([training_spec(tiny_dataset)], "train"), spec, "train")
    results = tmp_path / "study"
    assert main(["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(spec),
                 "--max-trials", "2", "--hyperparameters", "train.optim.base_lr", "--timeout", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--timeout 0.5: one trial is estimated at" in err and err.count("\n") == 1 and not results.exists()
