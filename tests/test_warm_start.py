"""Warm start through the CLI (fake trainer): ``automl launch --warm-start R_OLD`` (or ``URL#study``)
runs the earlier study's best configs first and gives its finished trials to the sampler as
observations that are never this study's trials; bad sources are one line and exit 2."""

from __future__ import annotations

import json

import optuna
import pytest

from automl import warm_start
from automl.cli import main
from search_spaces import compile_schema
from studies.record import StudyRecord
from studies.trial_record import PRIOR_KEY
from test_automl import ROOT, fake_study, make_fake_skill

SEARCH = "train.optim.base_lr,model.backbone"


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """An earlier study of 8 random trials (the source), and its skill."""
    return fake_study(tmp_path_factory.mktemp("earlier"), "--max-epochs", "2", "--algorithm", "random",
                      "--max-trials", "8", "--seed", "5", "--hyperparameters", SEARCH, "--no-handoff")


def _launch(skill, results, *extra):
    return main(["launch", "--skill-dir", str(skill), "--results-dir", str(results), "--max-epochs", "2",
                 "--hyperparameters", SEARCH, "--gpus", "none", "--no-handoff", *extra])


def _best_first(record: StudyRecord) -> list:
    return sorted((t for t in record.trials() if t.state == "COMPLETE"), key=lambda t: (-t.value, t.number))


def test_a_warm_start_runs_the_best_configs_first_and_feeds_the_sampler(earlier, tmp_path, monkeypatch, capsys):
    skill, old = earlier
    monkeypatch.setenv("FAKE_EPOCH_S", "0.02")
    results = tmp_path / "warm"
    assert _launch(skill, results, "--algorithm", "tpe", "--max-trials", "5", "--warm-start", str(old)) == 0
    source, record = StudyRecord.of_results_dir(old), StudyRecord.of_results_dir(results)
    complete = _best_first(source)
    priors = [t for t in record.frozen(priors=True) if PRIOR_KEY in t.user_attrs]
    assert sorted(p.user_attrs[PRIOR_KEY]["trial"] for p in priors) == sorted(t.number for t in complete)
    assert all(p.user_attrs[PRIOR_KEY]["source"] == str(old.resolve()) for p in priors)
    by_number = {t.number: t for t in complete}
    for prior in priors:  # the earlier value, the earlier parameters, as Optuna's sampler sees them
        was = by_number[prior.user_attrs[PRIOR_KEY]["trial"]]
        assert prior.value == was.value and prior.params == was.params
    trials = record.trials()  # the observations are not trials of this study
    assert len(trials) == 5 and all(t.state == "COMPLETE" for t in trials)
    replayed = [t for t in trials if (t.origin or "").startswith("warm start")]
    assert [t.origin for t in replayed] == [f"warm start: trial {t.number} of {old.resolve()}" for t in complete[:3]]
    for trial, was in zip(replayed, complete):  # the same config trains to the same value
        assert trial.config == was.config and trial.value == pytest.approx(was.value)
    assert [t.origin for t in trials].count("base spec") == 1
    assert record.best_trial().number in {t.number for t in trials}
    out = capsys.readouterr().out
    assert f"warm start from {old.resolve()}: {len(complete)} earlier trials given to the sampler" in out
    assert "3 of its best configs run first" in out and "trial after the replayed configs runs the base spec" in out
    assert main(["studies", "--storage", f"sqlite:///{results / 'study.db'}"]) == 0
    listed = capsys.readouterr().out.split("\t")  # the storage's listing counts this study's own trials
    assert listed[1] == "5 trials" and listed[3] == f"best {max(t.value for t in trials):.4f}"
    assert main(["handoff", "--results-dir", str(results)]) == 0
    summary = json.loads((results / "summary.json").read_text())
    assert summary["warm_start"] == {"source": str(old.resolve()), "observations": len(complete),
                                     "replayed": [t.number for t in complete[:3]]}
    assert {row["number"] for row in summary["trials"]} == {t.number for t in trials}
    assert "Warm-started from" in " ".join(capsys.readouterr().out.split())


def test_a_sampler_that_does_not_learn_gets_the_replays_and_no_observations(earlier, tmp_path, monkeypatch, capsys):
    skill, old = earlier
    monkeypatch.setenv("FAKE_EPOCH_S", "0.02")
    assert _launch(skill, tmp_path / "grid", "--algorithm", "grid", "--max-trials", "2", "--warm-start", str(old)) == 0
    record = StudyRecord.of_results_dir(tmp_path / "grid")
    assert len(record.frozen(priors=True)) == len(record.trials()) == 2
    assert record.trials()[0].origin.startswith("warm start: trial")
    assert "does not learn from results, so no observations are given to it" in capsys.readouterr().out


def test_a_dry_run_says_what_the_warm_start_would_bring_and_starts_nothing(earlier, tmp_path, capsys):
    skill, old = earlier
    assert _launch(skill, tmp_path / "dry", "--max-trials", "5", "--warm-start", str(old), "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"would warm start from {old.resolve()}:" in out and "nothing was started" in out
    assert not (tmp_path / "dry").exists()


@pytest.mark.parametrize("engine", ["optuna", pytest.param("ray", marks=pytest.mark.real)])
def test_a_warm_start_from_a_storage_url_and_study_on_either_engine(engine, earlier, tmp_path, monkeypatch):
    skill, old = earlier
    monkeypatch.setenv("FAKE_EPOCH_S", "0.02")
    marker = json.loads((old / "study.json").read_text())
    source = f"sqlite:///{old / 'study.db'}#{marker['study']}"
    assert _launch(skill, tmp_path / "warm", "--algorithm", "tpe", "--max-trials", "3", "--engine", engine,
                   "--warm-start", source) == 0
    record = StudyRecord.of_results_dir(tmp_path / "warm")
    trials, earlier_trials = record.trials(), _best_first(StudyRecord.of_results_dir(old))
    assert [t.origin for t in trials[:2]] == [f"warm start: trial {t.number} of {source}" for t in earlier_trials[:2]]
    assert [t.config for t in trials[:2]] == [t.config for t in earlier_trials[:2]]
    assert all(t.engine == engine for t in trials) and trials[2].origin == "base spec"
    assert len(record.frozen(priors=True)) == len(trials) + len(earlier_trials)


def test_an_earlier_trial_asked_with_other_distributions_is_not_an_observation(earlier):
    _, old = earlier
    record = StudyRecord.of_results_dir(old)
    space = compile_schema(json.loads((ROOT / "schemas" / "train.schema.json").read_text()),
                           automl_hyperparameters=tuple(SEARCH.split(",")), base_spec=record.meta.base_spec)
    frozen = [t for t in record.frozen() if t.state == optuna.trial.TrialState.COMPLETE][0]
    trial = record.trials([frozen])[0]
    params = space.trial_params(trial.config)
    assert isinstance(warm_start._prior(space, frozen, trial, params), warm_start.Prior)
    name = next(n for n, d in frozen.distributions.items() if isinstance(d, optuna.distributions.FloatDistribution))
    other = frozen.distributions[name]
    frozen.distributions[name] = optuna.distributions.FloatDistribution(other.low, other.high * 2, log=other.log)
    try:
        assert warm_start._prior(space, frozen, trial, params) == \
            "asked with other distributions (ranges, steps, options)"
    finally:
        frozen.distributions[name] = other


@pytest.mark.parametrize("extra,expected", [
    (["--metric", "mAP"], "it optimised cmc_rank_1 maximize, this study mAP maximize; its values would mislead"),
    (["--hyperparameters", "train.optim.weight_decay"], "none of its 8 trials fits this search space (8 outside"),
    (["--policy", "off"], "--warm-start: there is nothing to search"),
])
def test_a_source_the_study_cannot_use_is_one_line_and_nothing_is_created(earlier, tmp_path, capsys, extra,
                                                                         expected):
    skill, old = earlier
    results = tmp_path / "refused"
    assert _launch(skill, results, "--max-trials", "3", "--warm-start", str(old), *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not results.exists()


@pytest.mark.parametrize("source,expected", [
    ("{tmp}/nowhere", "not the results dir of a study (no study.json there) nor URL#study"),
    ("sqlite:///{tmp}/none.db#s", "no such database file"),
    ("postgresql://u:secret@127.0.0.1:1/db", "expected a results dir or URL#study"),
])
def test_a_source_that_is_not_a_study_is_one_line(tmp_path, capsys, source, expected):
    skill = make_fake_skill(tmp_path / "skill")
    results = tmp_path / "refused"
    assert _launch(skill, results, "--max-trials", "3", "--warm-start", source.format(tmp=tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and "secret" not in err, err
    assert not results.exists() and not (tmp_path / "none.db").exists()
