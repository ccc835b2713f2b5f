"""``re_identification export``: the embedding network as ONNX, checked with onnxruntime.

Input ``input`` (N, 3, H, W) with a dynamic batch, output ``fc_pred`` (N, D) where D is the
embedding size (``model.feat_dim`` with ``model.reduce_feat_dim``, else the backbone width).
The action runs the exported file with onnxruntime on batches of 1 and several images and
refuses the export (exit 1) if any output differs from torch by 1e-4 or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reid_core.actions.devices import start_action
from reid_core.actions.restore import restore_model
from reid_core.config import ExperimentConfig
from reid_core.deployment import export_onnx
from reid_core.modeling.baseline import EmbeddingNetwork
from reid_core.status import SUCCESS, failures_recorded

TOLERANCE = 1e-4


class ExportMismatchError(RuntimeError):
    """The exported graph does not compute what the torch model computes."""


@dataclass(frozen=True)
class ExportReport:
    onnx_file: Path
    max_abs_diff: float
    embedding_dim: int


def verify_onnx(path: Path, network: torch.nn.Module, shape: tuple[int, int, int], batches=(1, 5)) -> float:
    """Largest |onnxruntime - torch| over random batches of the given sizes."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for size in batches:
        images = torch.randn(size, *shape, generator=generator)
        with torch.no_grad():
            expected = network(images).numpy()
        got = session.run(["fc_pred"], {"input": images.numpy()})[0]
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def run_export(spec: ExperimentConfig) -> ExportReport:
    cfg = spec.export
    restored = restore_model(spec, cfg.checkpoint, "export.checkpoint", torch.device("cpu"))
    network = EmbeddingNetwork(restored.model).eval()
    model_cfg = restored.spec.model
    shape = (model_cfg.input_channels, model_cfg.input_height, model_cfg.input_width)
    out, status = start_action(spec, "export")
    onnx_file = Path(cfg.onnx_file).expanduser() if cfg.onnx_file else out / "reid.onnx"
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    with failures_recorded(status):
        export_onnx(network, shape, onnx_file)
        diff = verify_onnx(onnx_file, network, shape)
        if diff >= TOLERANCE:
            raise ExportMismatchError(f"onnxruntime output differs from torch by {diff:.2e} (>= {TOLERANCE:g})")
        status.write(SUCCESS, f"Exported {onnx_file}; onnxruntime max abs difference {diff:.2e}.",
                     kpi={"max_abs_diff": diff})
    print(f"Exported {onnx_file} (input (N,{shape[0]},{shape[1]},{shape[2]}) -> fc_pred (N,{restored.model.embedding_dim})); "
          f"onnxruntime vs torch max abs difference {diff:.2e}")
    return ExportReport(onnx_file, diff, restored.model.embedding_dim)
