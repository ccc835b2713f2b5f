"""The deployed model and what it costs: the ONNX file ``re_identification export`` writes, the
latency of one image through it, its parameters and its FLOPs.

All three depend on the architecture and the input size only, never on the weights: the cost of
a training's final model is the cost of any of its epochs' models.

- Latency: the median of ``RUNS`` timed batch-1 forwards, after ``WARMUP_RUNS`` untimed ones, of
  the exported ONNX graph in onnxruntime on the device class the model trained on (the CPU
  provider with ``threads`` intra-op threads that do not spin-wait; on a GPU, the CUDA provider
  when onnxruntime has it, else the torch model on that GPU, synchronised). Float32, as exported;
  the image starts and the embedding ends in host memory, as in a deployment.
- Parameters: those the inference forward uses (the classifier, for one, is not exported).
- FLOPs: of one batch-1 forward as ``torch.utils.flop_counter.FlopCounterMode`` counts them:
  2 per multiply-add of convolutions and matrix products; normalisation, pooling and activations
  are not counted.
"""

from __future__ import annotations

import copy
import logging
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

OPSET = 18
RUNS = 50
WARMUP_RUNS = 10
CPU_PROVIDER, CUDA_PROVIDER = "CPUExecutionProvider", "CUDAExecutionProvider"


def export_onnx(network: nn.Module, shape: tuple[int, int, int], path: Path) -> None:
    """Write ``network`` (on the CPU) as ONNX for images of ``shape``: input ``input`` with a dynamic
    batch, output ``fc_pred``."""
    example = torch.zeros(2, *shape)  # a batch of 2, so that the traced batch size is not specialised to 1
    batch = torch.export.Dim("batch", min=1, max=65536)
    logging.disable(logging.WARNING)  # the exporter narrates every graph pass and probes for torchvision
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(network, (example,), dynamic_shapes=({0: batch},), input_names=["input"],
                                        output_names=["fc_pred"], opset_version=OPSET, verbose=False)
            program.save(str(path), external_data=False)
    finally:
        logging.disable(logging.NOTSET)


@dataclass(frozen=True)
class ModelSize:
    parameters: int  # used by the inference forward
    flops: int  # of one batch-1 forward, 2 per multiply-add


def model_size(network: nn.Module, shape: tuple[int, int, int]) -> ModelSize:
    """Parameters and FLOPs of one batch-1 forward of ``network`` (in eval mode) on images of ``shape``."""
    used: dict[int, nn.Parameter] = {}

    def record(module: nn.Module, args: Any, output: Any) -> None:
        used.update((id(p), p) for p in module.parameters(recurse=False))

    shapes_only = copy.deepcopy(network).to("meta")  # counting needs shapes, not arithmetic
    for module in shapes_only.modules():
        module.register_forward_hook(record)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        shapes_only(torch.zeros(1, *shape, device="meta"))
    return ModelSize(sum(p.numel() for p in used.values()), int(counter.get_total_flops()))


@dataclass(frozen=True)
class Latency:
    milliseconds: float  # median over ``runs``
    runtime: str  # "onnxruntime" or "torch"
    provider: str  # onnxruntime's execution provider, or "cuda" for torch
    device: str
    threads: int  # intra-op threads
    runs: int
    warmup_runs: int


def _median_ms(forward: Callable[[], Any], runs: int, warmup_runs: int) -> float:
    for _ in range(warmup_runs):
        forward()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        forward()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000.0


def _image(shape: tuple[int, int, int]) -> torch.Tensor:
    return torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))


def onnx_latency(path: Path, shape: tuple[int, int, int], device: torch.device, threads: int,
                 runs: int = RUNS, warmup_runs: int = WARMUP_RUNS) -> Latency | None:
    """Batch-1 latency of an ONNX file in onnxruntime on ``device``'s class; None when ``device`` is a
    GPU that this onnxruntime cannot run on."""
    import onnxruntime as ort  # loaded only by the processes that measure or verify an export

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # no spin-waiting: spinning threads fight the trials training beside them (2-4x slower on busy cores)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # a missing CUDA library is handled below, not narrated
    providers: list[Any] = [CPU_PROVIDER]
    if device.type == "cuda":
        if CUDA_PROVIDER not in ort.get_available_providers():
            return None
        providers.insert(0, (CUDA_PROVIDER, {"device_id": device.index or 0}))
    session = ort.InferenceSession(str(path), options, providers=providers)
    provider = session.get_providers()[0]
    if device.type == "cuda" and provider != CUDA_PROVIDER:  # the provider is listed but failed to load
        return None
    image = {"input": _image(shape).numpy()}
    milliseconds = _median_ms(lambda: session.run(["fc_pred"], image), runs, warmup_runs)
    return Latency(milliseconds, "onnxruntime", provider, str(device), threads, runs, warmup_runs)


def torch_cuda_latency(network: nn.Module, shape: tuple[int, int, int], device: torch.device,
                       runs: int = RUNS, warmup_runs: int = WARMUP_RUNS) -> Latency:
    """Batch-1 latency of the torch model on a GPU (moved there), synchronised after every forward."""
    network = network.to(device)
    image = _image(shape)

    def forward() -> None:
        embedding = network(image.to(device)).cpu()
        torch.cuda.synchronize(device)
        del embedding

    with torch.inference_mode():
        milliseconds = _median_ms(forward, runs, warmup_runs)
    return Latency(milliseconds, "torch", "cuda", str(device), torch.get_num_threads(), runs, warmup_runs)


@dataclass(frozen=True)
class DeploymentCost:
    latency: Latency
    size: ModelSize
    shape: tuple[int, int, int]
    seconds: float  # the whole measurement: counting, export, warm-up and timed runs

    def kpis(self) -> dict[str, float]:
        return {"latency_ms": self.latency.milliseconds, "params_m": self.size.parameters / 1e6,
                "gflops": self.size.flops / 1e9}

    def measurement(self) -> dict[str, Any]:
        """How the KPIs were measured (the ``deployment`` field of their status line)."""
        latency = self.latency
        return {"runtime": latency.runtime, "provider": latency.provider, "device": latency.device,
                "threads": latency.threads, "runs": latency.runs, "warmup_runs": latency.warmup_runs,
                "input": [1, *self.shape], "parameters": self.size.parameters, "flops": self.size.flops,
                "seconds": round(self.seconds, 3)}

    def describe(self) -> str:
        latency, kpis = self.latency, self.kpis()
        return (f"{kpis['latency_ms']:.2f} ms per image ({latency.runtime} {latency.provider}, {latency.threads} "
                f"threads, median of {latency.runs} runs), {kpis['params_m']:.2f} M parameters, "
                f"{kpis['gflops']:.3f} GFLOPs at 1x{'x'.join(map(str, self.shape))}")


def deployment_cost(network: nn.Module, shape: tuple[int, int, int], device: torch.device,
                    threads: int | None = None) -> DeploymentCost:
    """The cost of ``network`` (images in, embeddings out; on the CPU, in eval mode) deployed on
    ``device``'s class; ``threads`` defaults to torch's intra-op thread count."""
    start = time.perf_counter()
    threads = threads or torch.get_num_threads()
    size = model_size(network, shape)
    with tempfile.TemporaryDirectory(prefix="reid-latency-") as folder:
        path = Path(folder) / "model.onnx"
        export_onnx(network, shape, path)
        latency = onnx_latency(path, shape, device, threads)
    if latency is None:
        latency = torch_cuda_latency(network, shape, device)
    return DeploymentCost(latency, size, shape, time.perf_counter() - start)
