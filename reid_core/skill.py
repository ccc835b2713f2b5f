"""This model as a TAO-style skill: what the schema generator needs beyond the config tree.

``python -m reid_core.skill [--check]`` regenerates (or checks) ``schemas/`` and ``references/`` of
the project root, which is this model's skill dir.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reid_core.config.experiment import ACTIONS, ExperimentConfig
from schemas.cli import main as generation_main
from schemas.generator import Skill

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the project root is the skill dir

_SOURCES = {"train": "sample_train.tar.gz", "test": "sample_test.tar.gz", "query": "sample_query.tar.gz"}


def _source(archive: str) -> dict[str, str]:
    return {"source": "train_datasets", "path": archive, "runtime": "extracted_folder"}


SKILL = Skill(
    name="reid-automl",
    network_arch="re_identification",
    model="re-identification",
    description="Person re-identification. Learns discriminative embeddings to match the same person across "
                "different camera views. Metric learning based.",
    config=ExperimentConfig,
    actions=ACTIONS,
    command="re_identification",
    source="reid_core.config.ExperimentConfig",
    gpu_spec_key="train.num_gpus",
    kpis=("cmc_rank_1", "cmc_rank_5", "cmc_rank_10", "mAP", "mINP", "train_loss", "latency_ms", "params_m", "gflops"),
    automl_metric="cmc_rank_1",
    automl_direction="maximize",
    data_sources={
        "train": {
            "dataset.train_dataset_dir": _source(_SOURCES["train"]),
            "dataset.test_dataset_dir": _source(_SOURCES["test"]),
            "dataset.query_dataset_dir": _source(_SOURCES["query"]),
        },
        "evaluate": {"evaluate.test_dataset": _source(_SOURCES["test"]),
                     "evaluate.query_dataset": _source(_SOURCES["query"])},
        "inference": {"inference.test_dataset": _source(_SOURCES["test"]),
                      "inference.query_dataset": _source(_SOURCES["query"])},
    },
    spec_params={
        "train": {"encryption_key": "key", "results_dir": "output_dir",
                  "model.pretrained_model_path": "ptm_if_no_resume_model",
                  "train.resume_training_checkpoint_path": "resume_model"},
        "evaluate": {"encryption_key": "key", "results_dir": "output_dir", "evaluate.checkpoint": "parent_model",
                     "evaluate.output_cmc_curve_plot": "create_evaluate_cmc_plot_reid",
                     "evaluate.output_sampled_matches_plot": "create_evaluate_matches_plot_reid"},
        "export": {"encryption_key": "key", "results_dir": "output_dir", "export.checkpoint": "parent_model",
                   "export.onnx_file": "create_onnx_file"},
        "inference": {"encryption_key": "key", "results_dir": "output_dir", "inference.checkpoint": "parent_model",
                      "inference.output_file": "create_inference_result_file_reid"},
    },
    spec_shorthand_keys={
        "num_epochs": "train.num_epochs", "batch_size": "dataset.batch_size",
        "val_batch_size": "dataset.val_batch_size", "evaluate_batch_size": "evaluate.batch_size",
        "inference_batch_size": "inference.batch_size", "learning_rate": "train.optim.base_lr",
        "num_gpus": "train.num_gpus", "num_workers": "dataset.num_workers", "num_classes": "dataset.num_classes",
        "num_instances": "dataset.num_instances", "input_width": "model.input_width",
        "input_height": "model.input_height", "resume_checkpoint": "train.resume_training_checkpoint_path",
        "pretrained_model": "model.pretrained_model_path", "export_onnx": "export.onnx_file",
        "inference_output_file": "inference.output_file", "cmc_curve_plot": "evaluate.output_cmc_curve_plot",
        "sampled_matches_plot": "evaluate.output_sampled_matches_plot",
    },
)


def main(argv: list[str] | None = None) -> int:
    return generation_main(SKILL, PROJECT_ROOT, argv, prog="python -m reid_core.skill")


if __name__ == "__main__":
    sys.exit(main())
