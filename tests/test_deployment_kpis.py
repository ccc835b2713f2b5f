"""The trainer's deployment KPIs: latency_ms, params_m and gflops, once per training, and what they count."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import reid_core.engine.callbacks as callbacks
from reid_core.actions.make_dataset import training_spec
from reid_core.actions.train import run_train
from reid_core.checkpoints import LATEST_NAME
from reid_core.config import ExperimentConfig, build_spec, spec_from_dict
from reid_core.deployment import RUNS, export_onnx, model_size, onnx_latency
from reid_core.modeling.baseline import EmbeddingNetwork, ReidBaseline
from reid_core.status import read_status

DEPLOYMENT_KPIS = {"latency_ms", "params_m", "gflops"}


def _train(dataset, results) -> list[dict]:
    layer = training_spec(dataset) | {"results_dir": str(results)}
    out = run_train(build_spec([layer], "train"))
    return read_status(out / "status.json")


@pytest.fixture(scope="module")
def tiny_run(tiny_dataset, tmp_path_factory):
    results = tmp_path_factory.mktemp("deployment")
    return _train(tiny_dataset, results), results / "train"


def test_deployment_kpis_appear_once_with_the_last_epoch_before_success(tiny_run):
    lines, _ = tiny_run
    cost = [l for l in lines if DEPLOYMENT_KPIS & set(l.get("kpi", {}))]
    assert len(cost) == 1
    line = cost[0]
    assert set(line["kpi"]) == DEPLOYMENT_KPIS and all(v > 0 for v in line["kpi"].values())
    assert line["epoch"] == line["max_epoch"] - 1 == max(l["epoch"] for l in lines if "cmc_rank_1" in l.get("kpi", {}))
    assert lines.index(line) == len(lines) - 2 and lines[-1]["status"] == "SUCCESS"
    how = line["deployment"]
    assert (how["runtime"], how["provider"], how["device"]) == ("onnxruntime", "CPUExecutionProvider", "cpu")
    assert how["threads"] == torch.get_num_threads() and how["runs"] == RUNS >= 50
    assert how["input"] == [1, 3, 64, 32]


def test_params_m_counts_every_parameter_but_the_classifier(tiny_run):
    lines, folder = tiny_run
    kpi = next(l["kpi"] for l in lines if "params_m" in l.get("kpi", {}))
    checkpoint = torch.load(folder / LATEST_NAME, weights_only=True)
    model = ReidBaseline(spec_from_dict(checkpoint["reid_spec"]), checkpoint["reid_num_classes"])
    expected = sum(p.numel() for name, p in model.named_parameters() if not name.startswith("classifier."))
    assert kpi["params_m"] == expected / 1e6


def _network(**model_keys) -> nn.Module:
    spec = ExperimentConfig()
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, backbone="resnet_lite", **model_keys))
    return EmbeddingNetwork(ReidBaseline(spec, 7)).eval()


def test_parameters_are_those_the_inference_forward_uses():
    network = _network(neck_feat="before", reduce_feat_dim=True, feat_dim=64)
    model = network.model
    expected = sum(p.numel() for part in (model.base, model.fcneck) for p in part.parameters())
    assert model_size(network, (3, 64, 32)).parameters == expected  # no BNNeck before it, no classifier


class ConvLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)
        self.unused = nn.Linear(100, 100)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_flops_and_parameters_of_a_conv_and_linear_match_a_hand_count():
    size = model_size(ConvLinear().eval(), (3, 8, 8))
    conv_macs = (4 * 8 * 8) * (3 * 3 * 3)  # one multiply-add per output value and kernel tap
    linear_macs = (4 * 8 * 8) * 5
    assert size.flops == 2 * (conv_macs + linear_macs)
    assert size.parameters == (4 * 3 * 3 * 3 + 4) + (4 * 8 * 8 * 5 + 5)


def test_flops_grow_with_the_input_area():
    small, large = (model_size(_network(), shape).flops for shape in ((3, 64, 32), (3, 128, 64)))
    assert large == pytest.approx(4 * small, rel=0.02)  # conv FLOPs scale with the pixels; the neck is tiny


def test_onnx_latency_uses_the_given_threads_and_fixed_runs(tmp_path):
    path = tmp_path / "toy.onnx"
    export_onnx(ConvLinear().eval(), (3, 8, 8), path)
    latency = onnx_latency(path, (3, 8, 8), torch.device("cpu"), threads=1)
    assert (latency.threads, latency.runs, latency.provider) == (1, RUNS, "CPUExecutionProvider")
    assert latency.milliseconds > 0


def test_a_gpu_without_onnxruntime_cuda_is_left_to_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    assert onnx_latency(tmp_path / "never-read.onnx", (3, 8, 8), torch.device("cuda", 0), threads=1) is None


def test_a_broken_measurement_leaves_the_training_successful_with_a_warning(tiny_dataset, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("onnxruntime is missing")

    monkeypatch.setattr(callbacks, "deployment_cost", broken)
    lines = _train(tiny_dataset, tmp_path / "broken")
    assert lines[-1]["status"] == "SUCCESS"
    warning = lines[-2]
    assert warning["verbosity"] == "WARNING" and "RuntimeError: onnxruntime is missing" in warning["message"]
    assert warning["epoch"] == lines[-1]["epoch"] and "kpi" not in warning
    assert not any(DEPLOYMENT_KPIS & set(l.get("kpi", {})) for l in lines)
