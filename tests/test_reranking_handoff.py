"""The handoff tunes k-reciprocal re-ranking on the best checkpoint's validation features, reports the
test KPIs with and without it, and writes the chosen values into the handoff's evaluate spec (fake
trainer here; the real one in ``test_slow.py``)."""

from __future__ import annotations

import json

import yaml
from test_automl import fake_study


def test_the_handoff_tunes_re_ranking_on_validation_and_reports_test_with_and_without(tmp_path, capsys):
    _, results = fake_study(tmp_path, "--max-epochs", "2", "--max-trials", "3", "--hyperparameters",
                            "train.optim.base_lr", "dataset.val_split=0.2")  # trial 0: the base spec, a baseline
    summary = json.loads((results / "summary.json").read_text())
    entry = summary["re_ranking"]
    assert entry["chosen"] == {"re_ranking": True, "k1": 10, "k2": 2, "lambda_value": 0.1}
    assert entry["validation_without"]["mAP"] == 0.30 and entry["validation_with"]["mAP"] == 0.36
    assert summary["test_evaluation"]["mAP"] == 0.4 and entry["test_with"]["mAP"] == 0.5
    handoff = results / "handoff"
    spec = yaml.safe_load((handoff / "best" / "spec_evaluate.yaml").read_text())
    assert entry["evaluate_spec"] == str(handoff / "best" / "spec_evaluate.yaml")
    assert {k: spec["re_ranking"][k] for k in entry["chosen"]} == entry["chosen"]
    best = summary["best"]["params"]  # the spec the best trial trained with: its model keys match its checkpoint
    assert spec["train"]["optim"]["base_lr"] == best["train.optim.base_lr"]
    tuning = yaml.safe_load((handoff / "best" / "spec_tune_reranking.yaml").read_text())
    assert tuning["dataset"]["val_split"] == 0.2
    assert tuning["tune_reranking"]["checkpoint"] == summary["best"]["checkpoint"]
    plain = yaml.safe_load((handoff / "best_without_re_ranking" / "spec_evaluate.yaml").read_text())
    assert plain["re_ranking"]["re_ranking"] is False
    assert summary["best"]["trial"] != 0 and summary["baseline"]["source"] == "base spec (trial 0)"
    base = yaml.safe_load((handoff / "baseline" / "spec_evaluate.yaml").read_text())
    assert base["re_ranking"]["re_ranking"] is False  # compared like for like: without
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "k1=10, k2=2, lambda_value=0.1" in out and "mAP 40.00% -> 50.00%" in out


def test_without_a_validation_split_re_ranking_is_not_tuned_on_the_test_set(tmp_path, capsys):
    _, results = fake_study(tmp_path, "--max-epochs", "2", "--max-trials", "1", "dataset.val_split=0")
    summary = json.loads((results / "summary.json").read_text())
    assert summary["re_ranking"]["skipped"].startswith("dataset.val_split is 0")
    assert not (results / "handoff" / "best" / "tune_reranking").exists()
    assert "Re-ranking not tuned: dataset.val_split is 0" in capsys.readouterr().out


def test_the_dashboard_states_the_tuned_re_ranking(tmp_path):
    _, results = fake_study(tmp_path, "--max-epochs", "2", "--max-trials", "1", "dataset.val_split=0.2")
    page = (results / "dashboard.html").read_text()
    assert "best with tuned re-ranking (k1=10, k2=2, lambda_value=0.1, chosen on validation)" in page


def test_when_the_re_ranked_test_evaluation_fails_the_handoff_goes_on_without(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_RERANKED_EVALUATE_FAILS", "1")
    _, results = fake_study(tmp_path, "--max-epochs", "2", "--max-trials", "1", "dataset.val_split=0.2")
    summary = json.loads((results / "summary.json").read_text())
    assert "CUDA out of memory" in summary["re_ranking"]["test_failed"] and "test_with" not in summary["re_ranking"]
    assert summary["test_evaluation"]["mAP"] == 0.4 and (results / "handoff" / "best" / "export").exists()
    spec = yaml.safe_load((results / "handoff" / "best" / "spec_evaluate.yaml").read_text())
    assert spec["re_ranking"]["re_ranking"] is False  # the handoff's spec is the one that ran
    assert "handed off without" in " ".join(capsys.readouterr().out.split())
