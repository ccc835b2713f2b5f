"""status.json: TAO's fields, whole lines, numeric KPIs, readers that accept TAO's strings."""

from __future__ import annotations

import json
import multiprocessing

from reid_core.status import FAILURE, RUNNING, StatusFile, read_status


def test_lines_have_tao_fields_and_numeric_kpis_with_their_epoch(tmp_path):
    status = StatusFile(tmp_path / "train" / "status.json")
    status.write(RUNNING, "Epoch 3 finished.", epoch=3, max_epoch=10, time_per_epoch=1.5, eta=10.5,
                 kpi={"cmc_rank_1": 0.5, "train_loss": float("nan")})
    (line,) = (tmp_path / "train" / "status.json").read_text().splitlines()
    entry = json.loads(line)
    assert {"date", "time", "status", "verbosity", "message", "epoch", "max_epoch", "time_per_epoch", "eta", "kpi"} <= set(entry)
    assert entry["epoch"] == 3 and entry["kpi"]["cmc_rank_1"] == 0.5
    assert entry["kpi"]["train_loss"] == "nan"  # JSON has no NaN; kept visible instead of dropped
    assert entry["time_per_epoch"] == "0:00:01.500000"


def test_reader_accepts_tao_string_kpis_and_ignores_a_partial_last_line(tmp_path):
    path = tmp_path / "status.json"
    path.write_text(
        json.dumps({"status": "RUNNING", "epoch": 0, "kpi": {"cmc_rank_1": "0.75"}}) + "\n"
        + json.dumps({"status": "RUNNING", "epoch": 1, "kpi": {"cmc_rank_1": 0.8}}) + "\n"
        + '{"status": "RUNN'
    )
    lines = read_status(path)
    assert [line["kpi"]["cmc_rank_1"] for line in lines] == [0.75, 0.8]


def _append(path: str, worker: int) -> None:
    status = StatusFile(path)
    for i in range(200):
        status.write(RUNNING, "x" * 500, epoch=i, kpi={"worker": worker})


def test_concurrent_writers_never_interleave_within_a_line(tmp_path):
    path = str(tmp_path / "status.json")
    processes = [multiprocessing.Process(target=_append, args=(path, w)) for w in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    lines = open(path).read().splitlines()
    assert len(lines) == 800
    assert all(json.loads(line)["message"] == "x" * 500 for line in lines)


def test_failure_line(tmp_path):
    status = StatusFile(tmp_path / "status.json")
    status.write(FAILURE, "NaN loss", verbosity="ERROR", epoch=2)
    assert read_status(tmp_path / "status.json")[0]["status"] == "FAILURE"
