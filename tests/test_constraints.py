"""Constraints on KPIs: every trial records the KPIs of its best epoch's model (its deployment cost too);
``automl best --constraint`` / ``handoff --constraint`` / ``launch --constraint`` pick the best trial
that meets them, against an obvious oracle; bad input is one line and exit 2."""

from __future__ import annotations

import json

import pytest

from automl.cli import main
from studies.constraints import Constraint, best_meeting
from studies.errors import RecordError
from studies.record import StudyRecord
from studies.trial_record import TrialRecord
from test_automl import fake_skill, fake_study  # noqa: F401  (fixture)

SEARCH = "train.optim.base_lr,model.backbone"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return fake_study(tmp_path_factory.mktemp("constraints"), "--max-epochs", "2", "--algorithm", "random",
                      "--max-trials", "10", "--parallel", "2", "--seed", "3", "--hyperparameters", SEARCH,
                      "--no-handoff")


def _oracle(trials: list[TrialRecord], bound: float) -> TrialRecord:
    ok = [t for t in trials if t.state == "COMPLETE" and t.kpis.get("latency_ms", 1e9) <= bound]
    return sorted(ok, key=lambda t: (-t.value, t.number))[0]


def test_every_trial_records_its_models_kpis_and_deployment_cost(study):
    _, results = study
    trials = StudyRecord.of_results_dir(results).trials()
    assert all({"cmc_rank_1", "mAP", "train_loss", "latency_ms", "params_m", "gflops"} <= set(t.kpis) for t in trials)
    assert all(t.kpis["cmc_rank_1"] == t.value for t in trials)  # the best epoch's model, not the last line's
    assert len({t.config["model.backbone"] for t in trials}) > 1


def test_a_constraint_picks_the_best_trial_that_meets_it(study, capsys):
    _, results = study
    record = StudyRecord.of_results_dir(results)
    assert main(["best", "--results-dir", str(results), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    bound = sorted(t.kpis["latency_ms"] for t in record.trials())[2]
    assert main(["best", "--results-dir", str(results), "--json", "--constraint", f"latency_ms<={bound}"]) == 0
    constrained = json.loads(capsys.readouterr().out)
    assert constrained["trial"] == _oracle(record.trials(), bound).number != plain["trial"]
    assert constrained["kpis"]["latency_ms"] <= bound and constrained["constraints"] == [f"latency_ms<={bound:g}"]
    both = ["--constraint", f"latency_ms<={bound}", "--constraint", "cmc_rank_1>=0"]
    assert main(["best", "--results-dir", str(results), "--json", *both]) == 0
    assert json.loads(capsys.readouterr().out)["trial"] == constrained["trial"]


def test_handoff_with_a_constraint_hands_off_that_trial(study):
    _, results = study
    record = StudyRecord.of_results_dir(results)
    bound = sorted(t.kpis["latency_ms"] for t in record.trials())[2]
    assert main(["handoff", "--results-dir", str(results), "--constraint", f"latency_ms<={bound}"]) == 0
    summary = json.loads((results / "summary.json").read_text())
    assert summary["best"]["trial"] == _oracle(record.trials(), bound).number
    assert summary["constraints"] == [f"latency_ms<={bound:g}"] and summary["best"]["kpis"]["latency_ms"] <= bound


@pytest.mark.parametrize("constraint,expected", [
    ("latency_ms<=0.001", "no completed trial meets latency_ms<=0.001; the closest is trial"),
    ("latency_ms<5", "--constraint 'latency_ms<5': expected KPI<=number or KPI>=number"),
    ("speed<=5", "--constraint 'speed<=5': speed is not a KPI the trainer reports"),
])
def test_bad_constraints_are_one_line_and_exit_2(study, capsys, constraint, expected):
    _, results = study
    assert main(["best", "--results-dir", str(results), "--constraint", constraint]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_launch_refuses_a_constraint_on_a_kpi_the_skill_does_not_declare(fake_skill, tmp_path, capsys):
    results = tmp_path / "r"
    assert main(["launch", "--skill-dir", str(fake_skill), "--results-dir", str(results), "--max-trials", "1",
                 "--constraint", "fps>=30"]) == 2
    assert "fps is not a KPI the trainer reports" in capsys.readouterr().err and not results.exists()


def test_the_closest_trial_is_the_smallest_relative_excess():
    def trial(number, value, latency):
        return TrialRecord(number=number, state="COMPLETE", value=value, params={}, epochs={}, datetime_start=None,
                           datetime_complete=None, kpis={"latency_ms": latency})
    trials = [trial(0, 0.9, 12.0), trial(1, 0.5, 6.0), trial(2, 0.7, 7.0)]
    with pytest.raises(RecordError, match=r"closest is trial 1 \(latency_ms=6, cmc_rank_1=0.5\)"):
        best_meeting(trials, [Constraint.parse("latency_ms<=5")], "cmc_rank_1", "maximize")
    assert best_meeting(trials, [Constraint.parse("latency_ms<=7")], "cmc_rank_1", "maximize").number == 2
