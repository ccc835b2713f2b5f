"""Multi-objective studies (accuracy against deployment cost) through the CLI: Optuna's multi-objective
samplers, the architecture searched when a cost is an objective, the Pareto front in the summary,
``automl best --pareto`` and the dashboard (Optuna's own ``best_trials`` is the oracle); bad input is
one line and exit 2 with nothing created."""

from __future__ import annotations

import json

import optuna
import pytest

from automl.cli import main
from studies.pareto import dominates, pareto_front
from studies.record import StudyRecord
from studies.trial_record import TrialRecord
from test_automl import fake_skill, fake_study  # noqa: F401  (fixture)

OBJECTIVES = ["--metric", "cmc_rank_1,latency_ms", "--direction", "maximize,minimize"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return fake_study(tmp_path_factory.mktemp("mo"), "--max-epochs", "3", "--algorithm", "tpe", "--max-trials", "12",
                      "--parallel", "2", "--seed", "1", *OBJECTIVES)


def test_the_front_is_optunas_own_and_in_the_summary_best_and_dashboard(study, capsys):
    _, results = study
    record = StudyRecord.of_results_dir(results)
    optuna_study = optuna.load_study(study_name=record.name, storage=record.url)
    assert [d.name for d in optuna_study.directions] == ["MAXIMIZE", "MINIMIZE"]
    oracle = {t.number for t in optuna_study.best_trials}
    summary = json.loads((results / "summary.json").read_text())
    assert {row["trial"] for row in summary["pareto_front"]} == oracle
    assert summary["best"]["trial"] in oracle  # the handoff picks on the front: its best cmc_rank_1
    assert main(["best", "--results-dir", str(results), "--pareto", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["trial"] for row in listed["front"]} == oracle and listed["handed_off"] == summary["best"]["trial"]
    assert "Pareto front" in (results / "dashboard.html").read_text()
    bound = sorted(row["latency_ms"] for row in listed["front"])[1]
    assert main(["best", "--results-dir", str(results), "--pareto", "--json", "--constraint", f"latency_ms<={bound}"]) == 0
    fast = json.loads(capsys.readouterr().out)["front"]
    assert fast and all(row["latency_ms"] <= bound for row in fast) and len(fast) < len(listed["front"])


def test_a_cost_objective_searches_the_architecture_and_trials_differ_in_cost(study):
    _, results = study
    trials = StudyRecord.of_results_dir(results).trials()
    assert all("model.backbone" in t.config for t in trials if t.origin == "sampler")
    assert len({t.kpis["latency_ms"] for t in trials if t.state == "COMPLETE"}) > 2


def test_single_objective_dashboards_have_no_front(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.02")
    results = tmp_path / "single"
    assert main(["launch", "--skill-dir", str(fake_skill), "--results-dir", str(results), "--max-epochs", "2",
                 "--algorithm", "random", "--max-trials", "2", "--hyperparameters", "train.optim.base_lr",
                 "--no-handoff"]) == 0
    assert "Pareto front" not in (results / "dashboard.html").read_text()


@pytest.mark.parametrize("extra,expected", [
    (["--metric", "cmc_rank_1,latency_ms", "--direction", "maximize"], "2 metrics need 2 directions"),
    (["--metric", "cmc_rank_1,fps", "--direction", "maximize,maximize"], "--metric fps: the trainer reports"),
    (["--metric", "cmc_rank_1,latency_ms", "--direction", "maximize,smaller"], "--direction smaller: expected"),
    ([*OBJECTIVES, "--algorithm", "hyperband"], "--algorithm hyperband: prunes on one metric"),
    ([*OBJECTIVES, "--engine", "ray"], "--engine ray: multi-objective studies run on the optuna engine"),
    (["--metric", "cmc_rank_1,cmc_rank_1", "--direction", "maximize,maximize"], "names a metric twice"),
])
def test_bad_objectives_are_one_line_and_exit_2_with_nothing_created(fake_skill, tmp_path, capsys, extra, expected):
    results = tmp_path / "r"
    assert main(["launch", "--skill-dir", str(fake_skill), "--results-dir", str(results), *extra]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and not results.exists()


def test_pareto_front_against_brute_force():
    import random

    rng = random.Random(0)
    for _ in range(50):
        trials = [TrialRecord(number=i, state=rng.choice(["COMPLETE"] * 4 + ["FAIL"]), value=rng.choice([0.5, 0.6, 0.7]),
                              params={}, epochs={}, datetime_start=None, datetime_complete=None,
                              kpis={"latency_ms": rng.choice([1.0, 2.0, 3.0])}) for i in range(8)]
        got = {t.number for t in pareto_front(trials, [("cmc_rank_1", "maximize"), ("latency_ms", "minimize")],
                                              "cmc_rank_1")}
        done = [t for t in trials if t.state == "COMPLETE"]
        expected = {a.number for a in done if not any(
            b.value >= a.value and b.kpis["latency_ms"] <= a.kpis["latency_ms"]
            and (b.value > a.value or b.kpis["latency_ms"] < a.kpis["latency_ms"]) for b in done)}
        assert got == expected
    assert dominates((1, 1), (1, 0)) and not dominates((1, 1), (1, 1))
