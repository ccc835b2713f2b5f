"""The experiment spec: dataclasses with field metadata, loading and validation."""

from reid_core.config.experiment import (
    ACTIONS,
    BACKBONES,
    DatasetConfig,
    EvaluateConfig,
    ExperimentConfig,
    ExportConfig,
    InferenceConfig,
    ModelConfig,
    OptimConfig,
    ReRankingConfig,
    TrainConfig,
)
from schemas.fields import FieldMeta, field_meta
from reid_core.config.loading import build_spec, dump_spec, load_spec, spec_from_dict, spec_to_dict

__all__ = [
    "ACTIONS",
    "BACKBONES",
    "DatasetConfig",
    "EvaluateConfig",
    "ExperimentConfig",
    "ExportConfig",
    "FieldMeta",
    "InferenceConfig",
    "ModelConfig",
    "OptimConfig",
    "ReRankingConfig",
    "TrainConfig",
    "build_spec",
    "dump_spec",
    "field_meta",
    "load_spec",
    "spec_from_dict",
    "spec_to_dict",
]
