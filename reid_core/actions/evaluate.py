"""``re_identification evaluate``: rank a query set against a gallery with a trained checkpoint.

Prints a KPI table, writes the KPIs to ``<evaluate results>/status.json``, the CMC curve PNG
and the sampled-matches PNG.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from reid_core.actions.devices import inference_device, start_action
from reid_core.actions.restore import restore_model
from reid_core.config import ExperimentConfig
from reid_core.data.datamodule import evaluation_loader
from reid_core.data.training_data import open_split, warn_if_disjoint
from reid_core.evaluation import CMC_RANKS, extract_embeddings, retrieval_metrics
from reid_core.plots import write_cmc_curve, write_sampled_matches
from reid_core.status import SUCCESS, failures_recorded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationReport:
    kpis: dict[str, float]
    num_query: int
    num_gallery: int
    cmc_curve: Path
    sampled_matches: Path | None
    folder: Path


def query_and_gallery(spec: ExperimentConfig, action: str):
    section = getattr(spec, action)
    query_path = section.query_dataset or spec.dataset.query_dataset_dir
    gallery_path = section.test_dataset or spec.dataset.test_dataset_dir
    key_q = f"{action}.query_dataset" if section.query_dataset else "dataset.query_dataset_dir"
    key_g = f"{action}.test_dataset" if section.test_dataset else "dataset.test_dataset_dir"
    return open_split(query_path, key_q), open_split(gallery_path, key_g)


def batch_size_for(spec: ExperimentConfig, action: str) -> int:
    size = getattr(spec, action).batch_size
    return size if size > 0 else spec.dataset.val_batch_size


def format_kpis(kpis: dict[str, float]) -> str:
    width = max(len(k) for k in kpis)
    rows = [f"{name:<{width}}  {value * 100:6.2f}%" for name, value in kpis.items()]
    return "\n".join(rows)


def run_evaluate(spec: ExperimentConfig) -> EvaluationReport:
    cfg = spec.evaluate
    device = inference_device("evaluate.gpu_ids", cfg.gpu_ids[0])
    restored = restore_model(spec, cfg.checkpoint, "evaluate.checkpoint", device)
    query, gallery = query_and_gallery(spec, "evaluate")
    warn_if_disjoint(query, gallery, "evaluate")

    out, status = start_action(spec, "evaluate")
    with failures_recorded(status):
        batch = batch_size_for(spec, "evaluate")
        model_spec = restored.spec
        q = extract_embeddings(restored.model, evaluation_loader(model_spec, query, batch), device)
        g = extract_embeddings(restored.model, evaluation_loader(model_spec, gallery, batch), device)
        result = retrieval_metrics(q, g, spec.re_ranking)
        kpis = result.kpis()
        cmc_path = write_cmc_curve(result.cmc, cfg.output_cmc_curve_plot or out / "cmc_curve.png")
        matches_path = None
        if result.distmat is not None:
            matches_path = write_sampled_matches(
                result.distmat, query, gallery, cfg.output_sampled_matches_plot or out / "sampled_matches.png",
                num_query=spec.re_ranking.num_query, max_rank=spec.re_ranking.max_rank,
            )
        epoch = int(restored.checkpoint.get("epoch", -1))
        status.write(SUCCESS, "Evaluation finished successfully.", epoch=epoch, kpi=kpis,
                     cmc=[round(float(v), 6) for v in result.cmc[:CMC_RANKS]])
    print(f"Evaluation of {cfg.checkpoint} ({len(query)} query, {len(gallery)} gallery images"
          f"{', re-ranked' if spec.re_ranking.re_ranking else ''}):")
    print(format_kpis(kpis))
    return EvaluationReport(kpis, len(query), len(gallery), cmc_path, matches_path, out)
