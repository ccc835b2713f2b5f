"""tune_reranking: the grid search over re-ranking values and the action around it.

The oracle for the search is evaluation itself: every candidate must score exactly what
``retrieval_metrics`` (one full ``re_ranking`` per candidate) gives with its values, and
``re_identification evaluate`` on the same images must report exactly the tuned KPIs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from reid_core.actions.make_dataset import training_spec
from reid_core.actions.tune_reranking import write_tuning
from reid_core.checkpoints import LATEST_NAME, read_checkpoint
from reid_core.cli import main
from reid_core.config import ReRankingConfig, build_spec, dump_spec, load_spec
from reid_core.data.training_data import load_training_data
from reid_core.errors import EvaluationError
from reid_core.evaluation import KPI_NAMES, Embeddings, retrieval_metrics
from reid_core.reranking_search import search_re_ranking
from reid_core.status import read_status
from schemas import spec as specs


def identity_embeddings(seed: int, n_ids: int = 8, per_query: int = 2, per_gallery: int = 5, noise: float = 1.3,
                        dim: int = 32) -> tuple[Embeddings, Embeddings]:
    """Identity centre + noise; queries on camera 0, gallery on camera 1 (every query has matches)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids + 1, dim))
    q_pids, g_pids = np.repeat(np.arange(1, n_ids + 1), per_query), np.repeat(np.arange(1, n_ids + 1), per_gallery)

    def features(pids: np.ndarray) -> torch.Tensor:
        return torch.tensor(centres[pids] + noise * rng.standard_normal((pids.size, dim)), dtype=torch.float32)

    return (Embeddings(features(q_pids), q_pids, np.zeros(q_pids.size, dtype=np.int64)),
            Embeddings(features(g_pids), g_pids, np.ones(g_pids.size, dtype=np.int64)))


# --- the search ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_every_candidate_scores_exactly_what_evaluation_with_its_values_gives(seed):
    query, gallery = identity_embeddings(seed)
    # 60 > N - 1 and 45 > N are clamped; k2 = 9 > k1 + 1 = 4 needs more neighbours than k1
    search = search_re_ranking(query, gallery, [3, 60], [1, 9, 45], [0.0, 0.3])
    without = search.candidates[0]
    assert not without.re_ranking and without.kpis == retrieval_metrics(query, gallery).kpis()
    for candidate in search.candidates[1:]:
        values = ReRankingConfig(re_ranking=True, k1=candidate.k1, k2=candidate.k2, lambda_value=candidate.lambda_value)
        assert candidate.kpis == retrieval_metrics(query, gallery, values).kpis(), candidate
    assert len(search.candidates) == 1 + 2 * 3 * 2


def test_values_equal_once_clamped_are_one_candidate():
    query, gallery = identity_embeddings(0, n_ids=3, per_gallery=3)  # N = 15 images
    search = search_re_ranking(query, gallery, [14, 20, 99], [15, 50], [0.2])
    assert [(c.k1, c.k2) for c in search.candidates[1:]] == [(14, 15)]


@pytest.mark.parametrize("metric", KPI_NAMES)
def test_the_choice_is_the_best_candidate_with_ties_to_no_re_ranking(metric):
    query, gallery = identity_embeddings(2, noise=1.6)
    threads = torch.get_num_threads()
    search = search_re_ranking(query, gallery, [3, 6, 10], [1, 3], [0.0, 0.5], metric)
    assert torch.get_num_threads() == threads
    best = max(c.kpis[metric] for c in search.candidates)
    assert search.chosen.kpis[metric] == best
    assert search.chosen.re_ranking == (search.without.kpis[metric] < best)
    assert search.chosen == next(c for c in search.candidates if c.kpis[metric] == best)  # the first of equals


def test_re_ranking_is_chosen_when_matches_are_mutual_neighbours():
    query, gallery = identity_embeddings(3, n_ids=12, per_gallery=8, noise=1.4)
    search = search_re_ranking(query, gallery, [10, 20], [3, 6], [0.3])
    assert search.chosen.re_ranking and search.chosen.kpis["mAP"] > search.without.kpis["mAP"]
    assert search.chosen.section() == {"re_ranking": True, "k1": search.chosen.k1, "k2": search.chosen.k2,
                                       "lambda_value": 0.3}


def test_when_nothing_beats_no_re_ranking_the_section_turns_it_off(tmp_path):
    query, gallery = identity_embeddings(0, noise=0.0)  # every match at distance 0: mAP 1 without re-ranking
    search = search_re_ranking(query, gallery, [3, 10], [1, 4], [0.0, 0.5])
    assert search.without.kpis["mAP"] == 1.0 and not search.chosen.re_ranking
    assert write_tuning(tmp_path, search, {}) == {"re_ranking": False}
    section = yaml.safe_load((tmp_path / "re_ranking.yaml").read_text())
    assert section == {"re_ranking": {"re_ranking": False}}
    evaluate_spec = {"results_dir": "/r", "dataset": {"query_dataset_dir": "/q", "test_dataset_dir": "/g"},
                     "evaluate": {"checkpoint": "/c.pth"}, "re_ranking": {"re_ranking": True, "k1": 7}}
    merged = build_spec([evaluate_spec, section], "evaluate")
    assert merged.re_ranking.re_ranking is False
    record = json.loads((tmp_path / "search.json").read_text())
    assert record["chosen"] == record["without"] == record["candidates"][0]


def test_a_gallery_without_matches_is_refused_in_one_line():
    query, gallery = identity_embeddings(0)
    others = Embeddings(gallery.features, gallery.pids + 100, gallery.camids)
    with pytest.raises(EvaluationError, match="nothing to score"):
        search_re_ranking(query, others, [10], [3], [0.3])


# --- the action -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory) -> tuple[Path, Path]:
    """One epoch on the tiny dataset with a carved validation split: (spec file, checkpoint)."""
    base = tmp_path_factory.mktemp("tune")
    layer = training_spec(tiny_dataset)
    layer["results_dir"] = str(base / "results")
    layer["dataset"]["val_split"] = 0.25
    layer["train"]["num_epochs"] = 1
    spec_path = base / "spec.yaml"
    dump_spec(build_spec([layer], "train"), spec_path, "train")
    assert main(["train", "-e", str(spec_path)]) == 0
    return spec_path, base / "results" / "train" / LATEST_NAME


@pytest.fixture(scope="module")
def tuned(trained) -> Path:
    spec_path, checkpoint = trained
    assert main(["tune_reranking", "-e", str(spec_path), f"tune_reranking.checkpoint={checkpoint}"]) == 0
    return spec_path.parent / "results" / "tune_reranking"


def test_tuning_writes_the_chosen_section_the_search_and_status_lines(tuned):
    lines = read_status(tuned / "status.json")
    assert [line["status"] for line in lines] == ["STARTED", "RUNNING", "SUCCESS"]
    done = lines[-1]
    record = json.loads((tuned / "search.json").read_text())
    section = yaml.safe_load((tuned / "re_ranking.yaml").read_text())["re_ranking"]
    assert done["re_ranking"] == section == {k: record["chosen"][k] for k in section}
    assert done["kpi"] == record["chosen"]["kpi"] and done["kpi_without_re_ranking"] == record["without"]["kpi"]
    assert done["metric"] == record["metric"] == "mAP" and done["epoch"] == record["epoch"] == 0
    assert done["candidates"] == len(record["candidates"]) == 1 + 6 * 6 * 10
    assert done["seconds"] >= record["search_seconds"] > 0
    best = max(c["kpi"]["mAP"] for c in record["candidates"])
    assert done["kpi"]["mAP"] == best and section["re_ranking"] == (record["without"]["kpi"]["mAP"] < best)


def test_tuning_scores_the_validation_split_training_selected_on(trained, tuned):
    spec_path, checkpoint = trained
    data = load_training_data(load_spec(spec_path, [], "train"))
    record = json.loads((tuned / "search.json").read_text())
    assert (record["num_query"], record["num_gallery"]) == (len(data.query), len(data.gallery))
    validated = read_checkpoint(checkpoint, "checkpoint")["reid_metrics"]  # training's own validation
    assert record["without"]["kpi"] == pytest.approx({k: validated[k] for k in KPI_NAMES}, abs=1e-9)


def test_evaluate_with_the_merged_section_reports_exactly_the_tuned_kpis(trained, tuned, tmp_path):
    spec_path, checkpoint = trained
    data = load_training_data(load_spec(spec_path, [], "train"))
    folders = {"query": tmp_path / "query", "gallery": tmp_path / "gallery"}
    for name, records in (("query", data.query), ("gallery", data.gallery)):
        folders[name].mkdir()
        for record in records:
            shutil.copy(record.path, folders[name])
    record = json.loads((tuned / "search.json").read_text())
    cases = [
        (yaml.safe_load((tuned / "re_ranking.yaml").read_text()), record["chosen"]["kpi"]),
        ({"re_ranking": {"re_ranking": False}}, record["without"]["kpi"]),
    ]
    if not record["chosen"]["re_ranking"]:  # re-ranked values are checked all the same
        best = max((c for c in record["candidates"] if c["re_ranking"]), key=lambda c: c["kpi"]["mAP"])
        cases.append(({"re_ranking": {k: best[k] for k in ("re_ranking", "k1", "k2", "lambda_value")}}, best["kpi"]))
    for number, (section, expected) in enumerate(cases):
        path = tmp_path / f"evaluate_{number}.yaml"
        specs.write_yaml(specs.merge(specs.read_yaml_mapping(spec_path), section), path)
        out = tmp_path / str(number)
        assert main(["evaluate", "-e", str(path), f"results_dir={out}", f"evaluate.checkpoint={checkpoint}",
                     f"evaluate.query_dataset={folders['query']}", f"evaluate.test_dataset={folders['gallery']}"]) == 0
        assert read_status(out / "evaluate" / "status.json")[-1]["kpi"] == expected, section


def _bad(trained, tmp_path: Path) -> list[tuple[list[str], str]]:
    spec_path, checkpoint = trained
    fewer = tmp_path / "fewer_identities"
    fewer.mkdir()
    train_dir = Path(load_spec(spec_path, [], "train").dataset.train_dataset_dir)
    first = sorted(p.name for p in train_dir.iterdir() if not p.name.startswith(("-", "0000")))[0].split("_")[0]
    for image in train_dir.iterdir():
        if not image.name.startswith(first + "_"):
            (fewer / image.name).symlink_to(image)
    given = f"tune_reranking.checkpoint={checkpoint}"
    return [
        ([], "tune_reranking.checkpoint: required"),
        ([f"tune_reranking.checkpoint={tmp_path / 'none.pth'}"], "tune_reranking.checkpoint: "),
        ([given, "dataset.val_split=0"], "dataset.val_split: 0 carves no validation split"),
        ([given, "dataset.val_split=0.5"], "was trained with 0.25, the spec says 0.5"),
        ([given, "train.seed=7"], "train.seed: "),
        ([given, "tune_reranking.k2_values=[]"], "tune_reranking.k2_values: empty"),
        ([given, "tune_reranking.metric=rank1"], "tune_reranking.metric: expected one of"),
        ([given, "tune_reranking.lambda_values=[0.3,1.5]"], "tune_reranking.lambda_values"),
        ([given, f"dataset.train_dataset_dir={fewer}"], "not the data it was trained on"),
    ]


def test_every_user_error_is_one_line_with_exit_code_2_and_writes_nothing(trained, tmp_path, capsys):
    spec_path, _ = trained
    for overrides, expected in _bad(trained, tmp_path):
        out = tmp_path / "out"
        code = main(["tune_reranking", "-e", str(spec_path), f"results_dir={out}", *overrides])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err, (overrides, err)
        assert expected in err.strip().splitlines()[-1], (overrides, err)
        assert not out.exists(), overrides
