"""A study spread over machines, as a user runs one, on real servers: every algorithm through
``automl launch --engine ray --ray-address`` on a 2-node Ray cluster started with ``ray start``,
and several ``automl`` workers on one study in a real PostgreSQL server, with the real trainer on
the ``tiny`` dataset. Bad addresses and passwords: one line, fast, nothing created, no password shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servers import ServerUnavailable, postgres_server, ray_cluster
from studies.record import StudyRecord

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[1]
AUTOML = [sys.executable, "-m", "automl"]
PASSWORD = "pw-3x!ample"
ALGORITHMS = ("bayesian", "tpe", "random", "grid", "hyperband", "asha", "bohb", "pbt")
STUDY_S = 600


@pytest.fixture(scope="module")
def spec(tmp_path_factory, tiny_dataset) -> Path:
    from reid_core.actions.make_dataset import training_spec
    from reid_core.config import build_spec, dump_spec

    path = tmp_path_factory.mktemp("spec") / "spec_train.yaml"
    dump_spec(build_spec([training_spec(tiny_dataset)], "train"), path, "train")
    return path


@pytest.fixture(scope="module")
def cluster():
    try:
        with ray_cluster(num_nodes=2, cpus_per_node=1) as started:
            yield started
    except ServerUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def postgres():
    try:
        with postgres_server(password=PASSWORD) as server:
            yield server
    except ServerUnavailable as err:
        pytest.skip(str(err))


def _automl(*args: str, env: dict[str, str] | None = None, timeout: float = STUDY_S, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([*AUTOML, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          **popen)


def _launch_args(results: Path, spec: Path, *extra: str) -> list[str]:
    return ["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(spec),
            "--max-trials", "4", "--max-epochs", "4", "--parallel", "2", "--gpus", "none", "--no-handoff",
            *extra]  # the whole search set: the space is narrowed to what tiny can fill, no trial fails for data


# --- Ray: every algorithm on a 2-node cluster ------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_runs_on_a_two_node_ray_cluster(algorithm, cluster, spec, tmp_path):
    results = tmp_path / algorithm
    done = _automl(*_launch_args(results, spec, "--engine", "ray", "--ray-address", cluster.address,
                                 "--algorithm", algorithm), env=cluster.client_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = StudyRecord.of_results_dir(results).trials()
    assert len([t for t in trials if t.finished]) == 4 and not [t for t in trials if t.state == "FAIL"], trials
    assert {t.engine for t in trials} == {"ray"}
    assert len({t.ray_node for t in trials}) == 2, "the trials ran on one node only"
    assert {t.ray_node for t in trials} <= set(cluster.node_ids)
    assert all(t.pid and t.checkpoints and t.host for t in trials)  # process, node and checkpoints recorded
    best = _automl("best", "--results-dir", str(results), "--json", timeout=60)
    assert best.returncode == 0 and Path(json.loads(best.stdout)["checkpoint"]).is_file()
    if algorithm in ("asha", "hyperband", "bohb"):  # the schedulers stop trials at equal epochs
        pruned = [t for t in trials if t.state == "PRUNED"]
        assert pruned and all(len(t.epochs) < 4 for t in pruned), trials
    if algorithm == "pbt":  # exploits are recorded as lineage, from another trial
        cloned = [t for t in trials if t.lineage]
        assert cloned and all(step["from_trial"] != t.number for t in cloned for step in t.lineage), trials


def test_a_ray_study_can_keep_its_record_in_postgres(cluster, postgres, spec, tmp_path):
    results = tmp_path / "pg"
    env = cluster.client_env({**os.environ, "AUTOML_STORAGE": postgres.url})
    done = _automl(*_launch_args(results, spec, "--engine", "ray", "--ray-address", cluster.address,
                                 "--algorithm", "asha", "--study", "ray-on-pg"), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert PASSWORD not in done.stdout + done.stderr
    record = StudyRecord.open(postgres.url, "ray-on-pg", results)
    assert len(record.counted()) == 4 and len({t.ray_node for t in record.trials()}) == 2
    assert PASSWORD not in (results / "study.json").read_text()


def test_a_cluster_that_is_not_there_or_wants_a_token_is_one_line_fast_and_nothing_is_created(cluster, spec,
                                                                                             tmp_path):
    tokenless = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"HOME": str(tmp_path)}
    for address, env, expected in (("127.0.0.1:1", None, "nothing answers there"),
                                   (cluster.address, tokenless, "token authentication")):
        results = tmp_path / "never"
        started = time.monotonic()
        done = _automl(*_launch_args(results, spec, "--engine", "ray", "--ray-address", address), env=env, timeout=60)
        assert time.monotonic() - started <= 30
        err = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(err) == 1 and expected in err[0], err
        assert not results.exists()


# --- many Optuna workers, one PostgreSQL study ---------------------------------------------------------------

def _wait_for(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} never said {text!r}")


def test_workers_share_one_postgres_study_and_one_killed_mid_trial_is_rerun(postgres, spec, tmp_path):
    """The launcher and two workers, each in its own results dir; one worker is SIGKILLed in the middle of a
    trial: another fails it as stale (its heartbeats stopped) and re-runs it; nothing is lost or duplicated."""
    env = {**os.environ, "AUTOML_STORAGE": postgres.url}
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("A", "B", "C")}
    launch = subprocess.Popen([*AUTOML, *_launch_args(tmp_path / "A", spec, "--study", "shared", "--algorithm", "tpe",
                                                      "--max-trials", "8", "--parallel", "1", "--heartbeat", "1")],
                              cwd=ROOT, env=env, stdout=logs["A"], stderr=subprocess.STDOUT)
    _wait_for(tmp_path / "A.log", "started", 120)
    workers = {name: subprocess.Popen([*AUTOML, "worker", "--study", "shared", "--results-dir", str(tmp_path / name),
                                       "--gpus", "none", "--parallel", "1"], cwd=ROOT, env=env, stdout=logs[name],
                                      stderr=subprocess.STDOUT) for name in ("B", "C")}
    _wait_for(tmp_path / "C.log", "started on", 120)
    time.sleep(2)
    workers["C"].kill()
    assert launch.wait(timeout=STUDY_S) == 0 and workers["B"].wait(timeout=STUDY_S) == 0
    for handle in logs.values():
        handle.close()
    record = StudyRecord.open(postgres.url, "shared", tmp_path / "A")
    trials = record.trials()
    numbers = [t.number for t in trials]
    assert numbers == sorted(set(numbers))  # unique trial numbers across workers
    assert len(record.counted()) == 8 and all(t.state == "COMPLETE" for t in record.counted())
    by_worker = {t.worker.split(":")[1] for t in trials if t.worker}
    assert {str(launch.pid), str(workers["B"].pid), str(workers["C"].pid)} <= by_worker  # each ran trials
    lost = [t for t in trials if t.worker and t.worker.split(":")[1] == str(workers["C"].pid) and t.state == "FAIL"]
    assert lost and all(t.failure.startswith("lost") for t in lost)
    reruns = {t.rerun_of: t for t in trials if t.rerun_of is not None}
    assert set(reruns) == {t.number for t in lost} and all(r.state == "COMPLETE" for r in reruns.values())
    overlapping = [(a, b) for a in trials for b in trials if a.worker != b.worker and a.datetime_start and
                   b.datetime_complete and a.datetime_complete and b.datetime_start and
                   a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete]
    assert overlapping  # the workers really ran trials at the same time
    for name in ("A", "B", "C"):
        assert PASSWORD not in (tmp_path / f"{name}.log").read_text()
        marker = tmp_path / name / "study.json"
        assert not marker.exists() or PASSWORD not in marker.read_text()
    status = _automl("status", "--results-dir", str(tmp_path / "B"), "--json", env=env, timeout=60)
    assert status.returncode == 0 and len(json.loads(status.stdout)["trials"]) == len(trials)
    finished = _automl("worker", "--study", "shared", "--results-dir", str(tmp_path / "D"), env=env, timeout=60)
    assert finished.returncode == 0 and "finished" in finished.stdout and not (tmp_path / "D").exists()


def test_two_launches_of_one_study_at_once_one_wins(postgres, spec, tmp_path):
    env = {**os.environ, "AUTOML_STORAGE": postgres.url}
    runs = [subprocess.Popen([*AUTOML, *_launch_args(tmp_path / name, spec, "--study", "race", "--max-trials", "1",
                                                     "--hyperparameters", "train.optim.base_lr")],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("X", "Y")]
    outcomes = [(run.wait(timeout=STUDY_S), run.stderr.read().strip().splitlines()) for run in runs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    (lost_err,) = [err for code, err in outcomes if code == 2]
    assert len(lost_err) == 1 and "--study race: already exists" in lost_err[0] and "automl worker" in lost_err[0]
    assert PASSWORD not in lost_err[0]


def _query_password_url(server, password: str, database: str | None = None) -> str:
    return (f"postgresql://{server.user}@{server.host}:{server.port}/{database or server.database}"
            f"?password={password}")


def test_bad_database_input_is_one_line_fast_and_nothing_is_created(postgres, spec, tmp_path):
    for url, expected in ((postgres.url_with(password="wrong-pw"), "password authentication failed"),
                          (postgres.url_with(database="nope"), 'database "nope" does not exist'),
                          (f"postgresql://reid:{PASSWORD}@no-such-host.invalid:5432/reid", "cannot open"),
                          # a password given in the URL's query is as secret as one in its credentials
                          (_query_password_url(postgres, "wrong-pw"), "password authentication failed"),
                          (_query_password_url(postgres, PASSWORD, "nope"), 'database "nope" does not exist')):
        results = tmp_path / "never"
        started = time.monotonic()
        done = _automl(*_launch_args(results, spec, "--storage", url), timeout=60)
        assert time.monotonic() - started <= 30
        err = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(err) == 1 and expected in err[0], err
        assert PASSWORD not in done.stdout + done.stderr and "wrong-pw" not in done.stdout + done.stderr
        assert not results.exists()
    missing = _automl("worker", "--storage", postgres.url, "--study", "nope", "--results-dir", str(tmp_path / "w"),
                      timeout=60)
    err = missing.stderr.strip().splitlines()
    assert missing.returncode == 2 and len(err) == 1 and "--study nope: no such study" in err[0]
    assert PASSWORD not in missing.stderr and not (tmp_path / "w").exists()


# --- beyond one study: a warm start from PostgreSQL, a budget on the Ray cluster ----------------------------

def test_a_ray_study_warm_started_from_a_postgres_study_keeps_its_timeout(cluster, postgres, spec, tmp_path):
    """Study A (Optuna engine, its record in PostgreSQL); study B on the 2-node Ray cluster, warm-started from
    ``URL#A`` with a wall-clock budget: A's best config runs first, A's trials reach B's sampler, the budget
    ends B early with its trials COMPLETE; no password is shown or recorded."""
    env = {**os.environ, "AUTOML_STORAGE": postgres.url}
    first = _automl(*_launch_args(tmp_path / "A", spec, "--study", "warm-a", "--algorithm", "tpe",
                                  "--max-trials", "3"), env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    earlier = StudyRecord.open(postgres.url, "warm-a").trials()
    best = max((t for t in earlier if t.state == "COMPLETE"), key=lambda t: (t.value, -t.number))
    started = time.monotonic()
    done = _automl(*_launch_args(tmp_path / "B", spec, "--engine", "ray", "--ray-address", cluster.address,
                                 "--algorithm", "tpe", "--max-trials", "40", "--timeout", "30",
                                 "--warm-start", f"{postgres.url}#warm-a"),
                   env=cluster.client_env(dict(os.environ)))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert PASSWORD not in done.stdout + done.stderr
    assert "warm start from" in done.stdout and "earlier trials given to the sampler" in done.stdout
    record = StudyRecord.of_results_dir(tmp_path / "B")
    trials = record.trials()
    assert trials[0].config == best.config and trials[0].origin.startswith("warm start: trial")
    assert PASSWORD not in trials[0].origin and "***" in trials[0].origin
    assert len(record.frozen(priors=True)) - len(trials) == len([t for t in earlier if t.state == "COMPLETE"])
    assert record.spent().startswith("--timeout 30") and len(record.counted()) < 40
    assert all(t.state == "COMPLETE" and t.engine == "ray" for t in trials if t.finished), trials
    assert time.monotonic() - started < 30 + 60  # the budget, one epoch of the slowest trial, Ray's start and stop
