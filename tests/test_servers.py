"""The real servers that end-to-end tests run against: each comes up, does its job for a real
client, and leaves no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from servers import (ServerUnavailable, dashboard_trials, optuna_dashboard, pids_mentioning, postgres_server,
                     ray_cluster)

pytestmark = pytest.mark.real

ADD_TRIALS = """
import os, sys, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1])
def objective(trial):
    trial.set_user_attr("pid", os.getpid())
    return trial.suggest_float("x", -1, 1) ** 2
study.optimize(objective, n_trials=int(sys.argv[3]))
"""

TASK_ON_EACH_NODE = """
import json, sys
import ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
@ray.remote(num_cpus=0)
def where():
    return ray.get_runtime_context().get_node_id()
labels = sys.argv[2:]
print(json.dumps({"alive": sum(node["Alive"] for node in ray.nodes()),
                  "ran_on": dict(zip(labels, ray.get([where.options(resources={label: 1}).remote()
                                                      for label in labels])))}))
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


@pytest.fixture
def postgres():
    try:
        with postgres_server() as server:
            yield server
    except ServerUnavailable as missing:
        pytest.skip(str(missing))


def test_postgres_study_collects_trials_from_two_processes_at_once(postgres):
    optuna.create_study(study_name="shared", storage=postgres.url)
    workers = [subprocess.Popen([sys.executable, "-c", ADD_TRIALS, postgres.url, "shared", "6"]) for _ in range(2)]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]

    storage = optuna.storages.RDBStorage(postgres.url)
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    storage.engine.dispose()
    assert sorted(trial.number for trial in trials) == list(range(12))
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    assert {trial.user_attrs["pid"] for trial in trials} == {worker.pid for worker in workers}


def test_postgres_refuses_a_wrong_password_at_once(postgres):
    engine = sqlalchemy.create_engine(postgres.url_with(password="not-the-password"))
    started = time.monotonic()
    with pytest.raises(sqlalchemy.exc.OperationalError, match="password authentication failed"):
        engine.connect()
    assert time.monotonic() - started < 5
    engine.dispose()

    right = sqlalchemy.create_engine(postgres.url)
    with right.connect() as connection:
        assert connection.execute(sqlalchemy.text("select current_user")).scalar() == postgres.user
    right.dispose()


def test_postgres_server_is_gone_after_the_block():
    try:
        with postgres_server() as server:
            pid, data_dir = server.pid, server.data_dir
            assert alive(pid)
    except ServerUnavailable as missing:
        pytest.skip(str(missing))
    assert not alive(pid)
    assert not data_dir.exists()


def test_ray_cluster_runs_a_task_on_each_of_its_two_nodes():
    with ray_cluster(num_nodes=2) as cluster:
        labels = [node.label for node in cluster.nodes]
        done = subprocess.run([sys.executable, "-c", TASK_ON_EACH_NODE, cluster.address, *labels],
                              env=cluster.client_env(), capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        temp_dir, pids = cluster.temp_dir, cluster.pids

    assert answer["alive"] == 2
    assert answer["ran_on"] == {node.label: node.node_id for node in cluster.nodes}
    assert len(set(cluster.node_ids)) == 2
    assert not any(alive(pid) for pid in pids)
    assert pids_mentioning(f"{temp_dir}/") == []
    assert not temp_dir.exists()


def test_ray_cluster_refuses_a_client_without_its_token():
    with ray_cluster(num_nodes=1) as cluster:
        tokenless = {key: value for key, value in cluster.client_env().items() if not key.startswith("RAY_AUTH")}
        tokenless["RAY_gcs_server_port_wait_time_s"] = "2"  # connection attempts, one a second (default 20)
        done = subprocess.run([sys.executable, "-c", TASK_ON_EACH_NODE, cluster.address], env=tokenless,
                              capture_output=True, text=True, timeout=180)
    assert done.returncode != 0
    assert "Failed to connect to Ray cluster" in done.stderr
    assert "Authentication token is missing or incorrect" in done.stderr


def test_dashboard_shows_a_study_and_its_trial_params(tmp_path):
    storage_url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="shown", storage=storage_url)
    study.optimize(lambda trial: trial.suggest_float("lr", 1e-4, 1e-1, log=True) * trial.suggest_int("layers", 1, 4)
                   + (trial.suggest_categorical("loss", ["triplet", "softmax"]) == "triplet"), n_trials=3)
    try:
        with optuna_dashboard(storage_url) as dashboard:
            shown = dashboard_trials(dashboard.base_url, "shown")
            pid = dashboard.pid
    except ServerUnavailable as missing:
        pytest.skip(str(missing))

    assert [trial["number"] for trial in shown] == [0, 1, 2]
    assert [trial["params"] for trial in shown] == [{name: str(value) for name, value in trial.params.items()}
                                                     for trial in study.trials]
    assert [trial["values"] for trial in shown] == [trial.values for trial in study.trials]
    assert not alive(pid)
