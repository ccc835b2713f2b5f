"""automl.data_fit: a search space the training set can run, checked against a brute-force oracle, and
the study that uses it: no trial fails for data reasons, narrowing said in one line, nothing left is exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.cli import main
from automl.data_fit import fit_to_data
from automl.errors import AutomlError
from reid_core.training_set import TrainingSet
from schemas import packaged_schema
from search_spaces import compile_schema
from studies.record import StudyRecord

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = packaged_schema("train")
BASE = {"train": {"num_epochs": 8}, "dataset": {"batch_size": 64, "num_instances": 4, "sampler": "softmax_triplet"}}


def _fillable(data: TrainingSet, batch: int, k: int) -> bool:
    """The oracle: P = batch / K identities with K images each, and at least two identities."""
    return batch % k == 0 and batch // k >= 2 and sum(c >= k for c in data.identity_images) >= batch // k


@pytest.mark.parametrize("counts", [(10, 10, 9, 9, 9, 9, 8, 8, 8, 8, 8, 7, 7), (30,) * 40, (3,) * 12, (17, 16, 9, 5, 2, 2)])
def test_every_config_of_the_narrowed_space_is_one_the_data_can_fill(counts):
    data = TrainingSet(tuple(counts), validation_queries=8, validation_gallery=12, pk_batches=True)
    space = compile_schema(SCHEMA, base_spec=BASE)
    try:
        fit = fit_to_data(space, BASE, data)
    except AutomlError:
        assert not any(_fillable(data, b, k) for k in (2, 4, 8, 16) for b in range(16, 129)), counts
        return
    narrowed = compile_schema(SCHEMA, custom_param_ranges=fit.ranges or None, base_spec=BASE)
    rng = np.random.default_rng(0)
    for _ in range(300):
        config = narrowed.sample(rng)
        assert _fillable(data, config["dataset.batch_size"], config["dataset.num_instances"]), config
    kept = list(fit.ranges.get("dataset.num_instances", {}).get("valid_options", (2, 4, 8, 16)))
    cap = fit.ranges.get("dataset.batch_size", {}).get("valid_max", 128)
    for k in set((2, 4, 8, 16)) - set(kept):  # what was left out fills no batch the others allow
        assert not any(_fillable(data, b, k) for b in range(16, cap + 1)), (k, cap)
    assert all(note.split(":")[0] in fit.ranges for note in fit.notes)


def test_a_generous_training_set_narrows_nothing():
    data = TrainingSet((40,) * 100, 50, 200, pk_batches=True)
    fit = fit_to_data(compile_schema(SCHEMA, base_spec=BASE), BASE, data)
    assert fit.ranges == {} and fit.notes == []


def test_plain_batches_need_as_many_images_as_the_batch():
    data = TrainingSet((5,) * 10, 8, 12, pk_batches=False)
    fit = fit_to_data(compile_schema(SCHEMA, base_spec=BASE), BASE, data)
    assert fit.ranges == {"dataset.batch_size": {"valid_max": 50}}


@pytest.fixture
def tiny_spec(tmp_path, tiny_dataset):
    from reid_core.actions.make_dataset import training_spec
    from reid_core.config import build_spec, dump_spec

    path = tmp_path / "spec_train.yaml"
    dump_spec(build_spec([training_spec(tiny_dataset)], "train"), path, "train")
    return path


def test_a_tiny_study_of_the_whole_search_set_wastes_no_trial(tiny_spec, tmp_path, capsys):
    results = tmp_path / "study"
    assert main(["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(tiny_spec),
                 "--algorithm", "random", "--max-trials", "5", "--max-epochs", "2", "--parallel", "2", "--gpus", "none",
                 "--no-handoff", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "dataset.num_instances: 16 left out" in out and "dataset.batch_size: searched up to" in out
    trials = StudyRecord.of_results_dir(results).trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 5, [t.failure for t in trials]
    assert len({(t.config["dataset.batch_size"], t.config["dataset.num_instances"]) for t in trials[1:]}) > 1


def test_a_training_set_too_small_for_any_batch_is_one_line_and_exit_2(tiny_spec, tmp_path, capsys):
    results = tmp_path / "never"
    code = main(["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(tiny_spec),
                 "--max-trials", "2", "--gpus", "none", "--hyperparameters", "dataset.num_instances",
                 "dataset.batch_size=128"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot fill a batch of P identities x K images" in err[0], err
    assert not results.exists()


def test_a_parameter_the_spec_leaves_no_room_for_is_held_and_the_rest_searched(tiny_spec, tmp_path, capsys):
    results = tmp_path / "one_epoch"
    assert main(["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(tiny_spec),
                 "--max-trials", "2", "--max-epochs", "1", "--gpus", "none", "--algorithm", "random",
                 "--no-handoff"]) == 0
    assert "train.optim.lr_steps: held at the spec's value" in capsys.readouterr().out
    trials = StudyRecord.of_results_dir(results).trials()
    assert all(t.state == "COMPLETE" and "train.optim.lr_steps" not in t.config and "train.optim.base_lr" in t.config
               for t in trials)


def test_the_narrowed_space_is_the_studys_for_every_worker(tiny_spec, tmp_path):
    results = tmp_path / "study"
    assert main(["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(tiny_spec),
                 "--max-trials", "1", "--max-epochs", "1", "--gpus", "none", "--no-handoff"]) == 0
    record = StudyRecord.of_results_dir(results)
    launch = record.meta.launch
    assert "train.optim.lr_steps" not in launch["hyperparameters"]
    assert launch["narrowed"]["dataset.num_instances"] == {"valid_options": [2, 4, 8]}
    assert record.meta.validation_queries == 8  # what resume and workers compile with is in the record
