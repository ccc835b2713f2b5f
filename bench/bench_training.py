"""Training throughput: our Lightning trainer vs a bare PyTorch loop, and the input pipeline.

Both loops train the same ReidBaseline with the same loss, optimizer, learning-rate rule and
the very same batches (one DataLoader built by ReidDataModule), for the same number of steps;
runs alternate (Lightning, bare, Lightning, ...) so machine noise hits both alike, and the
ratio is taken per pair. The input pipeline figure is decode + augment per loader worker
(in-process), which must exceed the training rate for loading not to be the bottleneck.

``--device cuda`` runs both on the GPU the trainer would pick, with its precision (bf16
autocast when ``train.amp``); ``--set`` takes spec overrides, e.g. ResNet-50 at 256x128:

    .venv/bin/python bench/bench_training.py [--preset demo] [--steps 60] [--pairs 3]
    python bench/bench_training.py --device cuda --workers 12 --set model.backbone=resnet_50 \
        model.input_height=256 model.input_width=128 dataset.batch_size=64 [--json figures.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from reid_core.actions.devices import Placement, training_placement
from reid_core.actions.make_dataset import training_spec
from reid_core.config import build_spec
from reid_core.config.loading import parse_overrides
from reid_core.data.datamodule import ReidDataModule, ReidImageDataset, train_transform
from reid_core.data.training_data import load_training_data
from reid_core.engine.module import NAN_CHECK_EVERY_GPU_STEPS, ReidModule
from reid_core.optim import apply_lr_factor, lr_factor
from reid_core.synthetic import make_dataset

WARMUP_STEPS = 5
CPU_PLACEMENT = Placement("cpu", 1, "auto", "32-true")


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _StepTimer(pl.Callback):
    def __init__(self) -> None:
        self.start = self.end = 0.0
        self.steps = 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == WARMUP_STEPS:
            _synchronize(module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= trainer.max_steps:
            _synchronize(module.device)  # the GPU work still queued belongs to the timed steps
        self.end = time.perf_counter()
        self.steps = trainer.global_step


def bench_placement(spec, device: str) -> Placement:
    """``cpu``: the CPU at full precision; ``cuda``: what ``re_identification train`` picks for the spec."""
    if device == "cpu":
        return CPU_PLACEMENT
    placement = training_placement(spec)
    if placement.accelerator != "gpu":
        raise SystemExit("bench_training: --device cuda, but torch sees no CUDA GPU")
    if placement.precision == "16-mixed":
        raise SystemExit("bench_training: this GPU has no bf16; the bare loop has no fp16 loss scaling to compare")
    return placement


def lightning_rate(spec, data, steps: int, placement: Placement = CPU_PLACEMENT) -> float:
    pl.seed_everything(0, verbose=False)
    module = ReidModule(spec, data.num_classes, len(data.query))
    timer = _StepTimer()
    trainer = pl.Trainer(accelerator=placement.accelerator, devices=placement.devices, strategy=placement.strategy,
                         precision=placement.precision, max_steps=steps, limit_val_batches=0, num_sanity_val_steps=0,
                         enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=False,
                         logger=False, use_distributed_sampler=False, callbacks=[timer])
    trainer.fit(module, datamodule=ReidDataModule(spec, data))
    return (timer.steps - WARMUP_STEPS) * spec.dataset.batch_size / (timer.end - timer.start)


def bare_rate(spec, data, steps: int, placement: Placement = CPU_PLACEMENT) -> float:
    pl.seed_everything(0, verbose=False)
    device = torch.device("cuda", placement.devices[0]) if placement.accelerator == "gpu" else torch.device("cpu")
    bf16 = placement.precision == "bf16-mixed"  # Lightning's bf16-mixed is this autocast, nothing more
    module = ReidModule(spec, data.num_classes, len(data.query)).to(device)  # same model, loss and optimizer
    model, criterion = module.model.train(), module.criterion.train()
    optimizers = module.configure_optimizers()
    loader = ReidDataModule(spec, data).train_dataloader()
    batches = len(loader)
    step, start = 0, 0.0
    while step < steps:
        for batch_idx, (images, labels, *_rest) in enumerate(loader):
            if step == WARMUP_STEPS:
                _synchronize(device)
                start = time.perf_counter()
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            apply_lr_factor(optimizers[0], lr_factor(spec, step // batches + batch_idx / batches))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits, features = model(images, labels)
                loss, _ = criterion(logits, features, labels)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizers[0].step()
            if device.type == "cpu" or batch_idx % NAN_CHECK_EVERY_GPU_STEPS == 0:  # as often as the trainer checks
                torch.isfinite(loss.detach()).item()
            step += 1
            if step >= steps:
                break
    _synchronize(device)
    return (steps - WARMUP_STEPS) * spec.dataset.batch_size / (time.perf_counter() - start)


def pipeline_rate(spec, data, limit: int = 600) -> float:
    dataset = ReidImageDataset(data.train[:limit], train_transform(spec))
    start = time.perf_counter()
    for index in range(len(dataset)):
        dataset[(index, index)]
    return len(dataset) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="spec overrides")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(2)
    root = Path(tempfile.mkdtemp(prefix="bench-training-")) / "data"
    dataset = make_dataset(root, preset=args.preset, seed=0)
    layer = training_spec(dataset)
    layer["dataset"]["num_workers"] = args.workers
    spec = build_spec([layer, parse_overrides(args.set)], "train")
    torch.backends.cudnn.benchmark = spec.train.cudnn.benchmark  # as the trainer sets them
    torch.backends.cudnn.deterministic = spec.train.cudnn.deterministic
    placement = bench_placement(spec, args.device)
    data = load_training_data(spec)
    ratios, lightning, bare = [], [], []
    for _ in range(args.pairs):
        lightning.append(lightning_rate(spec, data, args.steps, placement))
        gc.collect()  # the last run's loader workers and GPU tensors are gone before the next run starts
        bare.append(bare_rate(spec, data, args.steps, placement))
        gc.collect()
        ratios.append(lightning[-1] / bare[-1])
    pipeline = pipeline_rate(spec, data)
    model = spec.model
    where = placement.accelerator if placement.accelerator == "cpu" else torch.cuda.get_device_name(placement.devices[0])
    print(f"preset {args.preset}: {model.backbone} {model.input_height}x{model.input_width}, batch "
          f"{spec.dataset.batch_size}, {args.steps} steps x {args.pairs} pairs, loader workers {args.workers}, "
          f"{where}, precision {placement.precision}")
    print(f"{'bare PyTorch loop':<34} {statistics.median(bare):8.1f} img/s  (runs: {', '.join(f'{r:.1f}' for r in bare)})")
    print(f"{'Lightning trainer':<34} {statistics.median(lightning):8.1f} img/s  (runs: {', '.join(f'{r:.1f}' for r in lightning)})")
    print(f"{'Lightning / bare (median of pairs)':<34} {statistics.median(ratios):8.3f}     (pairs: {', '.join(f'{r:.3f}' for r in ratios)})")
    print(f"{'input pipeline, one worker':<34} {pipeline:8.1f} img/s  (decode + augment)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "backbone": model.backbone, "input": [model.input_height, model.input_width],
            "batch_size": spec.dataset.batch_size, "steps": args.steps, "pairs": args.pairs, "workers": args.workers,
            "device": where, "precision": placement.precision,
            "bare": bare, "lightning": lightning, "ratios": ratios, "pipeline_one_worker": pipeline,
            "bare_median": statistics.median(bare), "lightning_median": statistics.median(lightning),
            "ratio_median": statistics.median(ratios),
        }, indent=1))


if __name__ == "__main__":
    main()
