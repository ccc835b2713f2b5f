"""Slow checks, run with `make test-slow`: the trainer really learns the demo dataset."""

from __future__ import annotations

import pytest

from reid_core.actions.make_dataset import training_spec
from reid_core.actions.train import run_train
from reid_core.config import build_spec
from reid_core.status import read_status
from reid_core.synthetic import make_dataset

pytestmark = pytest.mark.slow


def test_demo_training_beats_the_pixel_and_colour_baselines(tmp_path):
    dataset = make_dataset(tmp_path / "data", preset="demo", seed=0)
    layer = training_spec(dataset)
    layer["results_dir"] = str(tmp_path / "run")
    spec = build_spec([layer, {"train": {"optim": {"base_lr": 0.003}}}], "train")
    out = run_train(spec)
    kpis = [line["kpi"] for line in read_status(out / "status.json") if "kpi" in line]
    assert kpis[-1]["cmc_rank_1"] > 0.7  # raw-pixel and colour-histogram neighbours score under 0.4
    assert kpis[-1]["cmc_rank_1"] > kpis[0]["cmc_rank_1"]


def test_nvidia_train_template_trains_with_our_trainer(tmp_path):
    """NVIDIA's spec_template_train.yaml with only the dataset paths, results_dir and one epoch set."""
    from pathlib import Path

    from reid_core.config import load_spec

    dataset = make_dataset(tmp_path / "data", preset="tiny", seed=0)
    template = Path(__file__).resolve().parent / "fixtures" / "tao_reid" / "references" / "spec_template_train.yaml"
    spec = load_spec(template, [f"dataset.train_dataset_dir={dataset.train_archive}",
                                f"dataset.query_dataset_dir={dataset.query_archive}",
                                f"dataset.test_dataset_dir={dataset.gallery_archive}",
                                f"results_dir={tmp_path / 'run'}", "train.num_epochs=1"], "train")
    assert spec.model.backbone == "resnet_50" and spec.dataset.batch_size == 64
    out = run_train(spec)
    lines = read_status(out / "status.json")
    assert lines[-1]["status"] == "SUCCESS" and "cmc_rank_1" in lines[-2]["kpi"]
