"""Optuna's own tools read our record: ``best_params``, ``trials_dataframe()`` and the real
optuna-dashboard show every searched parameter under its dotted key with the value the trial trained
with, beside the helpers the samplers ask (``key~u``, ``key~index``); samplers never model the shown copies."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from servers import ServerUnavailable, dashboard_trials, optuna_dashboard
from test_automl import ROOT, fake_skill  # noqa: F401  (fixture)

from automl.algorithms import ShownHidingSampler
from automl.cli import main
from search_spaces import compile_schema, shown_names, shown_params
from studies.record import StudyRecord

SCHEMA = json.loads((ROOT / "schemas" / "train.schema.json").read_text())


def _study(skill, results, algorithm="tpe", trials=4):
    assert main(["launch", "--skill-dir", str(skill), "--results-dir", str(results), "--max-epochs", "2",
                 "--algorithm", algorithm, "--max-trials", str(trials), "--parallel", "2", "--no-handoff"]) == 0
    return StudyRecord.of_results_dir(results)


def _expected(config: dict) -> dict:
    """A config as Optuna's tools should show it: lists one key per element."""
    out = {}
    for key, value in config.items():
        if isinstance(value, list):
            out.update({f"{key}[{i}]": v for i, v in enumerate(value)})
        else:
            out[key] = value
    return out


def test_every_value_a_trial_trained_with_is_in_optunas_params(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.05")
    record = _study(fake_skill, tmp_path / "r")
    study = optuna.load_study(study_name=record.name, storage=record.url)
    helpers = {name for t in study.trials for name in t.params if "~" in name}
    assert helpers, "the default space asks helpers (a weighted choice's ~u, an ordinal's ~index)"
    for frozen, trial in zip(study.trials, record.trials()):
        assert trial.config and _expected(trial.config).items() <= frozen.params.items()
        assert not set(trial.params) & set(trial.shown)  # the record's params stay what was asked
    best = record.best_trial()
    assert _expected(best.config).items() <= study.best_params.items()
    columns = study.trials_dataframe().columns
    assert {f"params_{key}" for key in _expected(best.config)} <= set(columns)


def test_samplers_never_model_the_shown_copies():
    space = compile_schema(SCHEMA, automl_hyperparameters=("dataset.batch_size", "dataset.num_instances",
                                                            "train.optim.name", "train.optim.base_lr"))
    hidden = shown_names(space)
    assert {"dataset.batch_size", "train.optim.name"} <= hidden and "train.optim.base_lr" not in hidden

    def relative_spaces(wrap: bool) -> list[set[str]]:
        seen: list[set[str]] = []

        class Spy(optuna.samplers.TPESampler):
            def sample_relative(self, study, trial, search_space):
                seen.append(set(search_space))
                return super().sample_relative(study, trial, search_space)

        tpe = Spy(seed=0, multivariate=True, group=True, n_startup_trials=2)
        storage = optuna.storages.InMemoryStorage()
        study = optuna.create_study(direction="maximize", storage=storage,
                                    sampler=ShownHidingSampler(tpe, hidden) if wrap else tpe)
        study_id = storage.get_study_id_from_name(study.study_name)
        for _ in range(6):
            trial = study.ask()
            config = space.suggest(trial)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            for name, (value, distribution) in shown_params(space, config).items():
                storage.set_trial_param(trial_id, name, distribution.to_internal_repr(value), distribution)
            study.tell(trial, float(np.log(config["train.optim.base_lr"])))
        return seen

    assert relative_spaces(wrap=False)[-1] & hidden  # unwrapped, TPE would fit the copies too
    modelled = relative_spaces(wrap=True)[-1]
    assert "train.optim.base_lr" in modelled and not modelled & hidden


@pytest.mark.real
def test_the_real_optuna_dashboard_shows_our_keys_and_values(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.05")
    record = _study(fake_skill, tmp_path / "r", algorithm="bayesian", trials=3)
    try:
        with optuna_dashboard(record.url) as dashboard:
            shown = dashboard_trials(dashboard.base_url, record.name)
    except ServerUnavailable as missing:
        pytest.skip(str(missing))
    assert [t["number"] for t in shown] == [t.number for t in record.trials()]
    for row, trial in zip(shown, record.trials()):
        expected = {key: str(value) for key, value in _expected(trial.config).items()}
        assert expected.items() <= row["params"].items(), (row["params"], expected)
