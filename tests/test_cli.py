"""The command line end to end, and every user error as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml
from PIL import Image

from reid_core.checkpoints import LATEST_NAME
from reid_core.cli import main
from reid_core.status import read_status


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """make_dataset tiny + train 2 epochs through the CLI; returns (dataset dir, results dir)."""
    base = tmp_path_factory.mktemp("cli")
    data, results = base / "data", base / "results"
    assert main(["make_dataset", "--output", str(data), "--preset", "tiny", "--seed", "0"]) == 0
    assert main(["train", "-e", str(data / "spec_train.yaml"), f"results_dir={results}"]) == 0
    return data, results


def test_make_dataset_writes_a_spec_that_validates(trained):
    data, _ = trained
    spec = yaml.safe_load((data / "spec_train.yaml").read_text())
    assert spec["dataset"]["train_dataset_dir"] == str((data / "bounding_box_train").resolve())
    assert spec["train"]["num_epochs"] == 2


def test_evaluate_writes_kpis_and_both_plots(trained, capsys):
    data, results = trained
    code, out, _ = _run(["evaluate", "-e", str(data / "spec_train.yaml"), f"results_dir={results}",
                         f"evaluate.checkpoint={results / 'train' / LATEST_NAME}"], capsys)
    assert code == 0 and "cmc_rank_1" in out
    for name in ("cmc_curve.png", "sampled_matches.png"):
        with Image.open(results / "evaluate" / name) as image:
            assert image.size[0] > 100 and np.asarray(image).std() > 0
    kpi = read_status(results / "evaluate" / "status.json")[-1]["kpi"]
    assert 0.0 <= kpi["cmc_rank_1"] <= kpi["cmc_rank_5"] <= kpi["cmc_rank_10"] <= 1.0


def test_evaluate_reads_archives_like_folders(trained, capsys):
    data, results = trained
    code, out, err = _run(["evaluate", "-e", str(data / "spec_train.yaml"), f"results_dir={results / 'arch'}",
                           f"evaluate.checkpoint={results / 'train' / LATEST_NAME}",
                           f"evaluate.query_dataset={data / 'sample_query.tar.gz'}",
                           f"evaluate.test_dataset={data / 'sample_test.tar.gz'}"], capsys)
    assert code == 0, err
    folders = read_status(results / "evaluate" / "status.json")[-1]["kpi"]
    archives = read_status(results / "arch" / "evaluate" / "status.json")[-1]["kpi"]
    assert archives == pytest.approx(folders)


def test_inference_writes_every_query_and_gallery_image(trained, capsys):
    data, results = trained
    output = results / "inference.json"
    code, _, _ = _run(["inference", "-e", str(data / "spec_train.yaml"), f"results_dir={results}",
                       f"inference.checkpoint={results / 'train' / LATEST_NAME}", f"inference.output_file={output}",
                       "inference.top_k=3", "inference.batch_size=7"], capsys)
    assert code == 0
    entries = json.loads(output.read_text())
    expected = {str(p) for folder in ("query", "bounding_box_test") for p in (data / folder).iterdir()}
    assert {e["img_path"] for e in entries} == expected  # every image, not only the last batch
    dims = {len(e["embedding"]) for e in entries}
    assert dims == {256}
    queries = [e for e in entries if e["split"] == "query"]
    assert all(len(e["matches"]) == 3 for e in queries)
    assert all(e["matches"][0]["distance"] <= e["matches"][-1]["distance"] for e in queries)


def test_export_runs_in_onnxruntime_for_batches_of_1_and_5(trained, capsys):
    data, results = trained
    onnx_file = results / "model.onnx"
    code, out, _ = _run(["export", "-e", str(data / "spec_train.yaml"), f"results_dir={results}",
                         f"export.checkpoint={results / 'train' / LATEST_NAME}", f"export.onnx_file={onnx_file}"],
                        capsys)
    assert code == 0 and "max abs difference" in out
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["fc_pred"]
    for batch in (1, 5):
        out = session.run(None, {"input": np.random.default_rng(batch).standard_normal((batch, 3, 64, 32), dtype=np.float32)})[0]
        assert out.shape == (batch, 256)


def test_checkpoint_reloads_with_weights_only(trained):
    _, results = trained
    checkpoint = torch.load(results / "train" / LATEST_NAME, weights_only=True)
    assert checkpoint["reid_format"] == "reid-automl/1" and checkpoint["epoch"] == 1


def test_default_specs_writes_templates_that_load(tmp_path, capsys):
    code, _, _ = _run(["default_specs", f"results_dir={tmp_path}"], capsys)
    assert code == 0
    for action in ("train", "evaluate", "inference", "export"):
        assert yaml.safe_load((tmp_path / f"spec_template_{action}.yaml").read_text())["model"]["backbone"] == "resnet_50"


# --- user errors: one line, exit 2, nothing written ---------------------------------------------

def _bad(tmp_path: Path, data: Path, results: Path) -> list[tuple[list[str], str]]:
    spec = str(data / "spec_train.yaml")
    checkpoint = str(results / "train" / LATEST_NAME)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("train: [\n")
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    out = f"results_dir={tmp_path / 'out'}"
    return [
        (["fly"], "unknown action 'fly'"),
        (["train", "-e", str(tmp_path / "missing.yaml"), out], "spec file not found"),
        (["train", "-e", str(malformed), out], "malformed YAML"),
        (["train", "-e", spec, out, "train.num_epochs=zero"], "train.num_epochs: expected int"),
        (["train", "-e", spec, out, "dataset.batch_size=18"], "dataset.batch_size: expected a multiple"),
        (["train", "-e", spec, out, "model.backbone=vit"], "model.backbone: expected one of"),
        (["train", "-e", spec, out, "trian.num_epochs=1"], "trian: unknown key"),
        (["train", "-e", spec, out, f"dataset.train_dataset_dir={empty}"], "dataset.train_dataset_dir: no images"),
        (["train", "-e", spec, out, f"dataset.query_dataset_dir={tmp_path / 'nowhere'}"], "dataset.query_dataset_dir: not found"),
        (["train", "-e", spec, out, "train.num_epochs"], "expected key=value"),
        (["train", "--bogus", spec], "unrecognized arguments"),
        (["evaluate", "-e", spec, out, f"evaluate.checkpoint={junk}"], "evaluate.checkpoint: "),
        (["evaluate", "-e", spec, out, f"evaluate.checkpoint={tmp_path / 'none.pth'}"], "checkpoint not found"),
        (["export", "-e", spec, out], "export.checkpoint: required"),
        (["inference", "-e", spec, out, f"inference.checkpoint={checkpoint}", f"inference.query_dataset={empty}"],
         "inference.query_dataset: no images"),
        (["default_specs"], "results_dir: required"),
        (["make_dataset", "--output", str(tmp_path / "d"), "--preset", "huge"], "huge"),
    ]


def test_every_user_error_is_one_line_with_exit_code_2_and_writes_nothing(trained, tmp_path, capsys):
    data, results = trained
    for args, expected in _bad(tmp_path, data, results):
        code, _, err = _run(args, capsys)
        lines = err.strip().splitlines()
        assert code == 2, (args, err)
        assert "Traceback" not in err, args
        assert expected in lines[-1], (args, lines[-1])
        assert not (tmp_path / "out").exists(), args


def test_python_dash_m_and_the_console_script_agree(tmp_path):
    for command in ([sys.executable, "-m", "reid_core", "fly"], [str(Path(sys.executable).parent / "re_identification"), "fly"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.strip().endswith("expected one of train, evaluate, inference, export, tune_reranking, default_specs, make_dataset")


def test_query_and_gallery_without_a_shared_identity_warn_and_score_zero(trained, capsys, caplog):
    data, results = trained
    code, out, err = _run(["evaluate", "-e", str(data / "spec_train.yaml"), f"results_dir={results / 'disjoint'}",
                           f"evaluate.checkpoint={results / 'train' / LATEST_NAME}",
                           f"evaluate.query_dataset={data / 'bounding_box_train'}"], capsys)
    assert code == 0
    assert "share no identity; rank-1 and mAP will be 0" in caplog.text
    assert read_status(results / "disjoint" / "evaluate" / "status.json")[-1]["kpi"]["cmc_rank_1"] == 0.0
