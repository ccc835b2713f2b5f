"""automl --engine ray: Ray Tune's search algorithms and schedulers, the same study record."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import optuna
import pytest

from automl.cli import main
from automl.resolver import resolve_checkpoint
from studies.record import StudyRecord
from studies.trial_record import TrialRecord
from test_automl import _overlap, behaviours, fake_skill  # noqa: F401  (fixtures)

TrialState = optuna.trial.TrialState


def _launch(skill: Path, results: Path, *extra: str) -> int:
    return main(["launch", "--skill-dir", str(skill), "--results-dir", str(results), "--engine", "ray",
                 "--hyperparameters", "train.optim.base_lr", "--no-handoff", *extra])


def _trials(results: Path) -> list[TrialRecord]:
    return StudyRecord.of_results_dir(results).trials()


def test_ray_trials_get_their_own_gpu_ids_and_land_in_the_study_record(fake_skill, tmp_path, monkeypatch,
                                                                       behaviours):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.3")
    behaviours({"3": "crash"})
    results = tmp_path / "ray"
    assert _launch(fake_skill, results, "--algorithm", "random", "--max-epochs", "4", "--max-trials", "4",
                   "--parallel", "2", "--gpus", "0,1") == 0
    trials = _trials(results)
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.state for t in trials] == ["COMPLETE"] * 3 + ["FAIL"]
    assert "exit code 1" in trials[3].failure and trials[3].value is None
    assert trials[0].origin == "base spec"
    assert trials[0].config == {"train.optim.base_lr": 0.00035}
    for trial in trials[:3]:
        folder = results / "trials" / str(trial.number)
        env = json.loads((folder / "env.json").read_text())
        assert (env["CUDA_VISIBLE_DEVICES"],) == trial.devices
        assert trial.engine == "ray"
        assert sorted(trial.epochs) == [0, 1, 2, 3]
        assert trial.value == max(trial.epochs.values())
        assert trial.params["train.optim.base_lr"] == trial.config["train.optim.base_lr"]
    overlapping = [(a, b) for a in trials for b in trials if a.number < b.number and _overlap(a, b)]
    assert overlapping
    for a, b in overlapping:
        assert a.devices != b.devices
    resolved = resolve_checkpoint(results)
    assert resolved.trial == max(trials[:3], key=lambda t: t.value).number and resolved.checkpoint.exists()


def test_ray_asha_prunes_at_equal_budget(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.3")
    results = tmp_path / "asha"
    assert _launch(fake_skill, results, "--algorithm", "asha", "--max-epochs", "6", "--max-trials", "7",
                   "--parallel", "2", "--gpus", "none", "--seed", "1") == 0
    trials = _trials(results)
    assert len(trials) == 7 and all(t.state != "FAIL" for t in trials)
    pruned = [t for t in trials if t.state == "PRUNED"]
    assert pruned
    for trial in pruned:
        assert len(trial.epochs) < 6
        pid = json.loads((results / "trials" / str(trial.number) / "env.json").read_text())["pid"]
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert any(t.state == "COMPLETE" and len(t.epochs) == 6 for t in trials)


@pytest.mark.slow  # whether PBT exploits within 8 short epochs depends on timing; flaky on a loaded machine
def test_ray_pbt_clones_a_better_trial_and_records_the_lineage(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.3")
    results = tmp_path / "pbt"
    assert _launch(fake_skill, results, "--algorithm", "pbt", "--max-epochs", "8", "--max-trials", "4",
                   "--parallel", "2", "--gpus", "none", "--seed", "0") == 0
    trials = _trials(results)
    assert [t.state for t in trials] == ["COMPLETE"] * 4
    cloned = [t for t in trials if t.lineage]
    assert cloned, "no exploit step happened"
    for trial in cloned:
        for step in trial.lineage:
            assert step["from_trial"] != trial.number and 0 <= step["epoch"] < 8
            assert 1e-5 <= step["config"]["train.optim.base_lr"] <= 1e-1
        # the clone trained on in its own folder from the donor's checkpoint: every epoch is there
        lines = [json.loads(line) for line in
                 (results / "trials" / str(trial.number) / "train" / "status.json").read_text().splitlines()]
        assert max(line.get("epoch", -1) for line in lines if line.get("kpi")) == 7
        assert sorted(trial.epochs) == list(range(8))


def test_ray_trials_are_proposed_by_the_records_own_sampler(fake_skill, tmp_path, monkeypatch):
    """Under Ray the study record's sampler (TPE here) proposes every config, just before Ray starts the
    trial: each trial's parameters are in the record as Optuna asked them, and the trial ran in its folder."""
    monkeypatch.setenv("FAKE_EPOCH_S", "0.1")
    results = tmp_path / "tpe"
    assert _launch(fake_skill, results, "--algorithm", "tpe", "--max-epochs", "2", "--max-trials", "5",
                   "--parallel", "2", "--gpus", "none") == 0
    record = StudyRecord.of_results_dir(results)
    trials = record.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 5
    assert all(set(t.params) == {"train.optim.base_lr"} and t.params["train.optim.base_lr"] ==
               t.config["train.optim.base_lr"] for t in trials)
    assert len({t.params["train.optim.base_lr"] for t in trials}) == 5
    for trial in trials:  # each Ray trial found its folder by its number
        assert json.loads((results / "trials" / str(trial.number) / "env.json").read_text())["pid"] == trial.pid


@pytest.mark.parametrize("algorithm", ["bayesian", "tpe", "random", "grid", "hyperband", "asha", "bohb",
                                       pytest.param("pbt", marks=pytest.mark.real)])  # PBT's 45 s: with the real ones
def test_every_algorithm_runs_on_ray_started_here(algorithm, fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.2")
    results = tmp_path / algorithm
    logs = set(Path(tempfile.gettempdir()).glob("automl-ray-*"))
    assert _launch(fake_skill, results, "--algorithm", algorithm, "--max-epochs", "4", "--max-trials", "4",
                   "--parallel", "2", "--gpus", "none", "--seed", "0") == 0
    assert set(Path(tempfile.gettempdir()).glob("automl-ray-*")) <= logs  # Ray's start-up chatter is not left
    trials = _trials(results)
    assert len([t for t in trials if t.finished]) == 4 and all(t.state in ("COMPLETE", "PRUNED") for t in trials)
    assert all(t.engine == "ray" and t.ray_node and t.checkpoints for t in trials)


@pytest.mark.parametrize("algorithm", ["hyperband", "bohb"])
def test_ray_hyperband_brackets_follow_the_seed_and_cut_weak_trials(algorithm, fake_skill, tmp_path, monkeypatch):
    """Ray draws each trial's bracket at random; ours come from --seed. One trial at a time, so which
    results a rung has seen is fixed too: the same study twice gives the same trials and the same cuts."""
    monkeypatch.setenv("FAKE_EPOCH_S", "0.2")
    outcomes = []
    for run in ("a", "b"):
        assert _launch(fake_skill, tmp_path / run, "--algorithm", algorithm, "--max-epochs", "4", "--max-trials",
                       "6", "--parallel", "1", "--gpus", "none", "--seed", "0") == 0
        outcomes.append([(t.number, t.state, len(t.epochs)) for t in _trials(tmp_path / run)])
    assert outcomes[0] == outcomes[1]
    assert any(state == "PRUNED" and epochs < 4 for _, state, epochs in outcomes[0])
