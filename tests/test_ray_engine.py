"""automl --engine ray: Ray Tune's search algorithms and schedulers, the same study record."""

from __future__ import annotations

import json
import os
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


def test_budget_aware_search_never_scores_an_early_stop_or_a_failure():
    pytest.importorskip("ray")
    from automl.engines.ray_search import BudgetAwareOptunaSearch
    from schemas import packaged_schema
    from search_spaces import compile_schema

    space = compile_schema(packaged_schema("train"), automl_hyperparameters=["train.optim.base_lr"])
    search = BudgetAwareOptunaSearch(space=space.suggest, metric="cmc_rank_1", mode="max",
                                      sampler=optuna.samplers.RandomSampler(seed=0))
    for trial_id in ("a", "b", "c"):
        assert "train.optim.base_lr" in search.suggest(trial_id)
        search.on_trial_result(trial_id, {"cmc_rank_1": 0.5, "training_iteration": 1})
    search.on_trial_complete("a", {"cmc_rank_1": 0.5, "epoch": 2})  # stopped by a scheduler
    search.on_trial_complete("b", {"cmc_rank_1": 0.5, "epoch": 3}, error=True)
    search.on_trial_complete("c", {"cmc_rank_1": 0.9, "epoch": 8, "finished": True})
    states = [t.state for t in search._ot_study.trials]
    assert states == [TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE]
    assert search._ot_study.best_trial.value == 0.9


def test_pbts_exploit_hook_is_still_the_one_recorded_pbt_overrides():
    """``RecordedPBT`` overrides Ray's private ``PopulationBasedTraining._exploit`` (no public hook keeps a
    clone's own number and records its lineage; ray is pinned below 2.61 for this)."""
    import inspect

    from ray.tune.schedulers import PopulationBasedTraining

    assert list(inspect.signature(PopulationBasedTraining._exploit).parameters) == \
        ["self", "tune_controller", "trial", "trial_to_clone"], \
        "Ray changed PopulationBasedTraining._exploit: automl/engines/ray_search.py RecordedPBT must follow it"
    pbt = PopulationBasedTraining(time_attr="epoch", metric="m", mode="max", hyperparam_mutations={"x": [1, 2]})
    assert isinstance(getattr(pbt, "_trial_state", None), dict), \
        "Ray renamed PopulationBasedTraining._trial_state: RecordedPBT reads the donor's last result from it"
