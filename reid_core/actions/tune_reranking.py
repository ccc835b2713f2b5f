"""``re_identification tune_reranking``: choose the ``re_ranking`` section on the validation split.

The validation query/gallery is carved from the training identities exactly as training
carved it (``dataset.val_split`` and ``train.seed``, which must be the checkpoint's own); the
test query/gallery is never read. Features are extracted once, as ``evaluate`` extracts them,
then no re-ranking and every ``tune_reranking.k1_values`` x ``k2_values`` x ``lambda_values``
candidate is scored by ``tune_reranking.metric`` (``reid_core.reranking_search``).

Writes into ``<results_dir>/tune_reranking/`` (or ``tune_reranking.results_dir``):

- ``re_ranking.yaml``: ``{re_ranking: {re_ranking: true, k1, k2, lambda_value}}``, or
  ``{re_ranking: {re_ranking: false}}`` when no candidate beats no re-ranking; merged into an
  evaluate spec, ``evaluate`` on the same images reports exactly the KPIs chosen here;
- ``search.json``: every candidate with its validation KPIs, the choice and the timings;
- ``status.json``: STARTED, RUNNING once the features are extracted, then SUCCESS with the
  validation ``kpi`` of the choice and ``kpi_without_re_ranking`` (both in [0, 1]), the
  chosen ``re_ranking`` section, ``metric``, ``candidates`` and ``seconds``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reid_core.actions.devices import inference_device, start_action
from reid_core.actions.evaluate import batch_size_for, format_kpis
from reid_core.actions.restore import restore_model
from reid_core.config import ExperimentConfig
from reid_core.data.datamodule import evaluation_loader
from reid_core.data.training_data import load_training_data
from reid_core.errors import DatasetError, SpecError
from reid_core.evaluation import extract_embeddings
from reid_core.reranking_search import RerankingCandidate, RerankingSearch, search_re_ranking
from reid_core.status import RUNNING, SUCCESS, failures_recorded
from schemas import spec as specs

SECTION_FILE = "re_ranking.yaml"
SEARCH_FILE = "search.json"


@dataclass(frozen=True)
class TuningReport:
    search: RerankingSearch
    section: dict[str, Any]  # the chosen ``re_ranking`` keys
    num_query: int
    num_gallery: int
    seconds: float  # the whole action: loading, features and search
    folder: Path


def check_tuning_spec(spec: ExperimentConfig) -> None:
    """What tune_reranking needs that the schema cannot say; one SpecError naming the key."""
    cfg = spec.tune_reranking
    if not cfg.checkpoint:
        raise SpecError("tune_reranking.checkpoint: required to run 'tune_reranking'")
    if not spec.dataset.train_dataset_dir:
        raise SpecError("dataset.train_dataset_dir: required to carve the validation split to tune on")
    if spec.dataset.val_split == 0:
        raise SpecError("dataset.val_split: 0 carves no validation split from the training identities, so there "
                        "is nothing to tune re-ranking on; set the value the checkpoint was trained with")
    for key in ("k1_values", "k2_values", "lambda_values"):
        if not getattr(cfg, key):
            raise SpecError(f"tune_reranking.{key}: empty; give at least one value")


def check_same_split(spec: ExperimentConfig, trained: dict[str, Any], path: str) -> None:
    """The split must be the checkpoint's: another one would validate on identities it trained on."""
    given, used = spec.dataset.val_split, trained["dataset"]["val_split"]
    if given != used:
        raise SpecError(f"dataset.val_split: {path} was trained with {used}, the spec says {given}; another "
                        "split would score re-ranking on identities the model trained on")
    given_seed, used_seed = max(spec.train.seed, 0), max(int(trained["train"]["seed"]), 0)
    if given_seed != used_seed:
        raise SpecError(f"train.seed: {path} carved its validation split with seed {used_seed}, the spec says "
                        f"{spec.train.seed}; another split would score re-ranking on identities the model trained on")


def _search_record(search: RerankingSearch, report: dict[str, Any]) -> dict[str, Any]:
    def entry(candidate: RerankingCandidate) -> dict[str, Any]:
        return {"re_ranking": candidate.re_ranking, "k1": candidate.k1, "k2": candidate.k2,
                "lambda_value": candidate.lambda_value, "kpi": candidate.kpis}

    return {**report, "metric": search.metric, "chosen": entry(search.chosen), "without": entry(search.without),
            "search_seconds": round(search.seconds, 3), "candidates": [entry(c) for c in search.candidates]}


def write_tuning(out: Path, search: RerankingSearch, report: dict[str, Any]) -> dict[str, Any]:
    """``re_ranking.yaml`` and ``search.json``; returns the chosen section."""
    section = search.chosen.section()
    specs.write_yaml({"re_ranking": section}, out / SECTION_FILE)
    (out / SEARCH_FILE).write_text(json.dumps(_search_record(search, report), indent=1) + "\n")
    return section


def _verdict(search: RerankingSearch) -> str:
    metric, without, chosen = search.metric, search.without.kpis[search.metric], search.chosen
    if not chosen.re_ranking:
        return f"no candidate beats {metric} {without:.4f} without re-ranking; re_ranking stays off"
    return (f"{metric} {without:.4f} without, {chosen.kpis[metric]:.4f} with k1={chosen.k1}, k2={chosen.k2}, "
            f"lambda_value={chosen.lambda_value}")


def run_tune_reranking(spec: ExperimentConfig) -> TuningReport:
    start = time.perf_counter()
    check_tuning_spec(spec)
    cfg = spec.tune_reranking
    device = inference_device("tune_reranking.gpu_id", cfg.gpu_id)
    restored = restore_model(spec, cfg.checkpoint, "tune_reranking.checkpoint", device)
    check_same_split(spec, restored.checkpoint["reid_spec"], cfg.checkpoint)
    data = load_training_data(spec)
    trained_classes = int(restored.checkpoint["reid_num_classes"])
    if data.num_classes != trained_classes:
        raise DatasetError(f"dataset.train_dataset_dir: the split leaves {data.num_classes} training identities but "
                           f"{cfg.checkpoint} was trained on {trained_classes}: not the data it was trained on")

    out, status = start_action(spec, "tune_reranking")
    epoch = int(restored.checkpoint.get("epoch", -1))
    with failures_recorded(status, lambda: {"epoch": epoch}):
        batch = batch_size_for(spec, "tune_reranking")
        model_spec = restored.spec
        q = extract_embeddings(restored.model, evaluation_loader(model_spec, data.query, batch), device)
        g = extract_embeddings(restored.model, evaluation_loader(model_spec, data.gallery, batch), device)
        status.write(RUNNING, f"Validation features extracted: {len(data.query)} query, {len(data.gallery)} gallery "
                              "images.", epoch=epoch)
        search = search_re_ranking(q, g, cfg.k1_values, cfg.k2_values, cfg.lambda_values, cfg.metric)
        seconds = time.perf_counter() - start
        report = {"checkpoint": cfg.checkpoint, "epoch": epoch, "num_query": len(data.query),
                  "num_gallery": len(data.gallery), "val_split": spec.dataset.val_split,
                  "seed": max(spec.train.seed, 0), "seconds": round(seconds, 3)}
        section = write_tuning(out, search, report)
        status.write(SUCCESS, f"Re-ranking tuned on the validation split: {_verdict(search)}.", epoch=epoch,
                     kpi=search.chosen.kpis, kpi_without_re_ranking=search.without.kpis, re_ranking=section,
                     metric=cfg.metric, candidates=len(search.candidates), seconds=round(seconds, 3))
    print(f"Re-ranking of {cfg.checkpoint} on the validation split ({len(data.query)} query, {len(data.gallery)} "
          f"gallery images; {len(search.candidates)} candidates in {search.seconds:.2f} s): {_verdict(search)}")
    print("without re-ranking:\n" + format_kpis(search.without.kpis))
    if search.chosen.re_ranking:
        print("with it:\n" + format_kpis(search.chosen.kpis))
    print(f"Merge {out / SECTION_FILE} into the evaluate spec.")
    return TuningReport(search, section, len(data.query), len(data.gallery), seconds, out)
