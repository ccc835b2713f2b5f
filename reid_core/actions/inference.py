"""``re_identification inference``: an embedding for every query and gallery image, as JSON.

The output is one JSON array with an object per image (``img_path``, ``split``, ``pid``,
``camid``, ``embedding``) and, for queries when ``inference.top_k > 0``, its ``matches``
(gallery ``img_path`` and squared distance of L2-normalised embeddings, nearest first).
It is written batch by batch to a temporary file renamed at the end, so memory stays flat
(only the gallery embedding matrix is kept, to rank queries against) and a reader never
sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

import numpy as np
import torch

from reid_core.actions.devices import inference_device, start_action
from reid_core.actions.evaluate import batch_size_for, query_and_gallery
from reid_core.actions.restore import restore_model
from reid_core.config import ExperimentConfig
from reid_core.data.datamodule import evaluation_loader
from reid_core.data.market1501 import ImageRecord
from reid_core.metrics import compute_distance_matrix
from reid_core.modeling.baseline import ReidBaseline
from reid_core.status import SUCCESS, failures_recorded

DECIMALS = 6


class _JsonArrayWriter:
    def __init__(self, handle: IO[str]) -> None:
        self.handle, self.count = handle, 0
        handle.write("[")

    def add(self, entry: dict) -> None:
        self.handle.write(("," if self.count else "") + "\n" + json.dumps(entry))
        self.count += 1

    def close(self) -> None:
        self.handle.write("\n]\n")


def _embed_batches(model: ReidBaseline, spec: ExperimentConfig, records: list[ImageRecord], batch: int,
                   device: torch.device):
    """Yields (first_index, embeddings) per batch, without keeping them."""
    start = 0
    autocast = torch.autocast(device.type, enabled=device.type == "cuda")
    with torch.inference_mode():
        for images, *_rest in evaluation_loader(spec, records, batch):
            with autocast:
                embeddings = model.embed(images.to(device, non_blocking=True)).float().cpu()
            yield start, embeddings
            start += len(embeddings)


def _entry(record: ImageRecord, split: str, embedding: np.ndarray) -> dict:
    return {"img_path": record.path, "split": split, "pid": record.pid, "camid": record.camid + 1,
            "embedding": np.round(embedding.astype(np.float64), DECIMALS).tolist()}


def _write_embeddings(path: Path, model: ReidBaseline, spec: ExperimentConfig, query: list[ImageRecord],
                      gallery: list[ImageRecord], batch: int, top_k: int, device: torch.device) -> int:
    """Write the JSON array to ``path``; returns the number of entries."""
    with path.open("w") as handle:
        writer = _JsonArrayWriter(handle)
        gallery_features = []
        for start, embeddings in _embed_batches(model, spec, gallery, batch, device):
            if top_k:
                gallery_features.append(embeddings)
            for offset, embedding in enumerate(embeddings.numpy()):
                writer.add(_entry(gallery[start + offset], "gallery", embedding))
        gallery_matrix = torch.cat(gallery_features) if gallery_features else None
        for start, embeddings in _embed_batches(model, spec, query, batch, device):
            matches = None
            if gallery_matrix is not None:
                dist = compute_distance_matrix(embeddings, gallery_matrix, normalize=True)
                matches = torch.topk(dist, min(top_k, dist.shape[1]), dim=1, largest=False)
            for offset, embedding in enumerate(embeddings.numpy()):
                entry = _entry(query[start + offset], "query", embedding)
                if matches is not None:
                    entry["matches"] = [
                        {"img_path": gallery[int(g)].path, "distance": round(float(d), DECIMALS)}
                        for d, g in zip(matches.values[offset], matches.indices[offset])
                    ]
                writer.add(entry)
        writer.close()
        handle.flush()
        os.fsync(handle.fileno())
    return writer.count


def run_inference(spec: ExperimentConfig) -> Path:
    cfg = spec.inference
    device = inference_device("inference.gpu_ids", cfg.gpu_ids[0])
    restored = restore_model(spec, cfg.checkpoint, "inference.checkpoint", device)
    query, gallery = query_and_gallery(spec, "inference")
    out, status = start_action(spec, "inference")
    output = Path(cfg.output_file).expanduser() if cfg.output_file else out / "inference.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f".{output.name}.tmp")
    with failures_recorded(status):
        try:
            count = _write_embeddings(staging, restored.model, restored.spec, query, gallery,
                                      batch_size_for(spec, "inference"), cfg.top_k, device)
            staging.replace(output)
        finally:
            staging.unlink(missing_ok=True)  # a failed run leaves no half file behind
        status.write(SUCCESS, f"Inference finished: {count} images written to {output}.")
    print(f"Wrote embeddings of {len(query)} query and {len(gallery)} gallery images to {output}")
    return output
