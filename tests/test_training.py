"""Training runs on the tiny synthetic dataset: outputs, exact resume, centres, divergence, workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from reid_core.actions.make_dataset import training_spec
from reid_core.actions.train import run_train
from reid_core.checkpoints import LATEST_NAME, checkpoint_name, read_checkpoint
from reid_core.cli import main
from reid_core.config import build_spec
from reid_core.engine.module import NonFiniteLossError
from reid_core.status import read_status


def tiny_spec(tiny_dataset, results: Path, **overrides):
    """A validated spec for the tiny dataset; overrides are dotted keys, e.g. {"train.num_epochs": 3}."""
    layer = training_spec(tiny_dataset)
    layer["results_dir"] = str(results)
    extra: dict = {}
    for dotted, value in overrides.items():
        node = extra
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return build_spec([layer, extra], "train")


def _final_weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / LATEST_NAME, weights_only=True)["state_dict"]


def test_training_writes_tao_layout_status_and_loadable_checkpoints(tiny_dataset, tmp_path):
    out = run_train(tiny_spec(tiny_dataset, tmp_path / "run"))
    assert out == tmp_path / "run" / "train"
    lines = read_status(out / "status.json")
    assert [l["status"] for l in lines] == ["STARTED", "RUNNING", "RUNNING", "RUNNING", "SUCCESS"]
    assert [l["epoch"] for l in lines if "kpi" in l] == [0, 1, 1]  # two epochs, then the deployment cost
    kpi_lines = [l for l in lines if "cmc_rank_1" in l.get("kpi", {})]
    assert [l["epoch"] for l in kpi_lines] == [0, 1]
    for line in kpi_lines:
        assert {"cmc_rank_1", "cmc_rank_5", "cmc_rank_10", "mAP", "mINP", "train_loss"} <= set(line["kpi"])
        assert all(isinstance(v, float) for v in line["kpi"].values())
    steps = [read_checkpoint(out / checkpoint_name(e, s), "k")["global_step"] for e, s in _checkpoints(out)]
    assert len(steps) == 2
    assert (out / LATEST_NAME).is_symlink() and (out / LATEST_NAME).resolve() == (out / checkpoint_name(*_checkpoints(out)[-1]))
    checkpoint = torch.load(out / LATEST_NAME, weights_only=True)
    assert checkpoint["reid_spec"]["model"]["backbone"] == "resnet_lite"
    assert checkpoint["reid_metrics"]["cmc_rank_1"] == kpi_lines[-1]["kpi"]["cmc_rank_1"]


def _checkpoints(folder: Path) -> list[tuple[int, int]]:
    from reid_core.checkpoints import parse_checkpoint_name

    return sorted(p for p in (parse_checkpoint_name(f.name) for f in folder.iterdir()) if p)


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(tiny_dataset, tmp_path):
    straight = run_train(tiny_spec(tiny_dataset, tmp_path / "straight", **{"train.num_epochs": 3}))
    first = run_train(tiny_spec(tiny_dataset, tmp_path / "first", **{"train.num_epochs": 2}))
    resumed = run_train(tiny_spec(tiny_dataset, tmp_path / "resumed", **{
        "train.num_epochs": 3, "train.resume_training_checkpoint_path": str(first / LATEST_NAME)}))
    a, b = _final_weights(straight), _final_weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [l["epoch"] for l in read_status(resumed / "status.json") if "cmc_rank_1" in l.get("kpi", {})] == [2]


def test_loader_workers_do_not_change_the_result(tiny_dataset, tmp_path):
    zero = run_train(tiny_spec(tiny_dataset, tmp_path / "w0", **{"train.num_epochs": 1, "dataset.num_workers": 0}))
    two = run_train(tiny_spec(tiny_dataset, tmp_path / "w2", **{"train.num_epochs": 1, "dataset.num_workers": 2}))
    a, b = _final_weights(zero), _final_weights(two)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_center_loss_centres_are_really_optimised(tiny_dataset, tmp_path):
    out = run_train(tiny_spec(tiny_dataset, tmp_path / "c", **{"train.num_epochs": 2, "model.with_center_loss": True}))
    (e0, s0), (e1, s1) = _checkpoints(out)
    before = read_checkpoint(out / checkpoint_name(e0, s0), "k")
    after = read_checkpoint(out / checkpoint_name(e1, s1), "k")
    moved = (after["state_dict"]["criterion.center.centers"] - before["state_dict"]["criterion.center.centers"])
    assert moved.abs().max().item() > 1e-3
    assert len(after["optimizer_states"]) == 2  # the centres have their own optimizer


def test_diverging_training_ends_with_a_failure_line_and_exit_code_1(tiny_dataset, tmp_path, monkeypatch, capsys):
    import reid_core.losses as losses

    monkeypatch.setattr(losses, "label_smoothed_cross_entropy", lambda logits, labels, eps: logits.sum() * float("nan"))
    spec_path = tmp_path / "spec.yaml"
    from reid_core.config import dump_spec

    dump_spec(tiny_spec(tiny_dataset, tmp_path / "nan", **{"train.num_epochs": 1}), spec_path, "train")
    with pytest.raises(NonFiniteLossError):
        run_train(tiny_spec(tiny_dataset, tmp_path / "nan", **{"train.num_epochs": 1}))
    last = read_status(tmp_path / "nan" / "train" / "status.json")[-1]
    assert last["status"] == "FAILURE" and "NaN loss" in last["message"]
    assert main(["train", "-e", str(spec_path)]) == 1
    err = capsys.readouterr().err
    assert "NaN loss" in err.strip().splitlines()[-1] and "Traceback" not in err


def test_pretrained_model_path_is_loaded(tiny_dataset, tmp_path):
    first = run_train(tiny_spec(tiny_dataset, tmp_path / "a", **{"train.num_epochs": 1}))
    out = run_train(tiny_spec(tiny_dataset, tmp_path / "b", **{
        "train.num_epochs": 1, "model.pretrained_model_path": str(first / LATEST_NAME),
        "model.pretrain_choice": "self"}))
    assert json.loads((out / "status.json").read_text().splitlines()[-1])["status"] == "SUCCESS"


def test_resume_with_another_dataset_is_refused_before_anything_is_written(tiny_dataset, tmp_path, capsys):
    first = run_train(tiny_spec(tiny_dataset, tmp_path / "a", **{"train.num_epochs": 1}))
    spec_path = tmp_path / "spec.yaml"
    from reid_core.config import dump_spec

    dump_spec(tiny_spec(tiny_dataset, tmp_path / "b"), spec_path, "train")
    code = main(["train", "-e", str(spec_path), "dataset.val_split=0.25",
                 f"train.resume_training_checkpoint_path={first / LATEST_NAME}"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err
    assert "train.resume_training_checkpoint_path" in last and "identities" in last
    assert not (tmp_path / "b").exists()


def test_non_default_options_train_together(tiny_dataset, tmp_path):
    out = run_train(tiny_spec(tiny_dataset, tmp_path / "opts", **{
        "train.num_epochs": 2, "dataset.sampler": "softmax", "dataset.batch_size": 12, "train.optim.name": "SGD",
        "train.optim.base_lr": 0.01, "train.optim.lr_scheduler": "cosine", "train.optim.warmup_epochs": 1,
        "train.grad_clip": 1.0, "model.gem_pooling": True, "model.cos_layer": True, "model.reduce_feat_dim": True,
        "model.feat_dim": 64, "dataset.val_split": 0.25, "train.checkpoint_interval_unit": "step",
        "train.checkpoint_interval": 5, "model.neck_feat": "before", "train.optim.large_fc_lr": True,
    }))
    lines = read_status(out / "status.json")
    assert lines[-1]["status"] == "SUCCESS"
    saved = _checkpoints(out)
    assert len(saved) >= 2 and all(step % 5 == 0 or epoch == 1 for epoch, step in saved)
    checkpoint = read_checkpoint(out / checkpoint_name(*saved[-1]), "k")
    assert checkpoint["reid_num_classes"] == 12  # 16 training identities minus the carved quarter
    assert checkpoint["reid_embedding_dim"] == 64


def test_every_epoch_is_validated_with_a_carved_split(tiny_dataset, tmp_path):
    out = run_train(tiny_spec(tiny_dataset, tmp_path / "val", **{"train.num_epochs": 4, "dataset.val_split": 0.25}))
    kpi_epochs = [l["epoch"] for l in read_status(out / "status.json") if "cmc_rank_1" in l.get("kpi", {})]
    assert kpi_epochs == [0, 1, 2, 3]
