"""automl: policy, engine, trial isolation, pruning, failures, crash-safe resume, resolver, handoff."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from automl import api
from automl.cli import main
from automl.errors import AutomlError
from automl.policy import decide
from automl.resolver import resolve_checkpoint
from automl.skill import load_skill
from reid_core.status import read_status
from studies.errors import RecordError
from studies.record import StudyRecord
from studies.trial_record import StudyMeta, TrialRecord

ROOT = Path(__file__).resolve().parents[1]
FAKE_TRAINER = Path(__file__).resolve().parent / "fixtures" / "fake_trainer.py"
TrialState = optuna.trial.TrialState


@pytest.fixture
def fake_skill(tmp_path):
    """A skill dir whose actions run the fake trainer (our schema and template)."""
    return make_fake_skill(tmp_path / "skill")


def make_fake_skill(skill: Path) -> Path:
    shutil.copytree(ROOT / "schemas", skill / "schemas", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(ROOT / "references", skill / "references")
    info = yaml.safe_load((skill / "references" / "skill_info.yaml").read_text())
    info["network_arch"] = "fake_reid"
    for action, entry in info["actions"].items():
        entry["command"] = f"{sys.executable} {FAKE_TRAINER} {action} -e {{config_path}}"
    (skill / "references" / "skill_info.yaml").write_text(yaml.safe_dump(info))
    return skill


def fake_study(root: Path, *launch: str, epoch_s: str = "0.02") -> tuple[Path, Path]:
    """A fake skill and a study launched on it under ``root`` (for module-scoped fixtures)."""
    skill, results = make_fake_skill(root / "skill"), root / "r"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAKE_EPOCH_S", epoch_s)
        assert main(["launch", "--skill-dir", str(skill), "--results-dir", str(results), *launch]) == 0
    return skill, results


def launch_with_worker(skill: Path, tmp_path: Path, *launch: str) -> tuple[StudyRecord, str]:
    """``automl launch`` (results dir A) and an ``automl worker`` started with it (B) on one study ``s``;
    the record as B reads it, and the worker's output."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "AUTOML_STORAGE": url}
    started = subprocess.Popen([sys.executable, "-m", "automl", "launch", "--skill-dir", str(skill), "--results-dir",
                                str(tmp_path / "A"), "--study", "s", "--hyperparameters", "train.optim.base_lr",
                                "--gpus", "none", "--no-handoff", *launch], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    worker = subprocess.run([sys.executable, "-m", "automl", "worker", "--study", "s", "--results-dir",
                             str(tmp_path / "B"), "--gpus", "none", "--wait", "60"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert worker.returncode == 0 and started.wait(timeout=300) == 0, worker.stderr + started.stderr.read()
    return StudyRecord.open(url, "s", tmp_path / "B"), worker.stdout


@pytest.fixture
def behaviours(tmp_path, monkeypatch):
    """Per-trial behaviours of the fake trainer: ``behaviours({"1": "crash"})``."""
    path = tmp_path / "behaviours.json"
    path.write_text("{}")
    monkeypatch.setenv("FAKE_BEHAVIOURS", str(path))
    return lambda mapping: path.write_text(json.dumps(mapping))


def _launch(skill: Path, results: Path, *extra: str) -> int:
    return main(["launch", "--skill-dir", str(skill), "--results-dir", str(results), "--max-epochs", "4",
                 "--hyperparameters", "train.optim.base_lr", "--algorithm", "random", "--no-handoff", *extra])


def _record(results: Path) -> StudyRecord:
    return StudyRecord.of_results_dir(results)


def _trials(results: Path) -> list[TrialRecord]:
    return _record(results).trials()


def _overlap(a, b) -> bool:
    return a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete


# --- policy -----------------------------------------------------------------------------------------

def test_policy_order_flag_then_request_then_skill(fake_skill):
    skill = load_skill(fake_skill)
    assert decide(skill, "off", "please run AutoML").on is False
    assert decide(skill, "on", "no HPO").on is True
    assert decide(skill, None, "turn off AutoML for this run").on is False
    assert decide(skill, None, "train ReID on my data").on is True
    (fake_skill / "schemas" / "train.schema.json").unlink()
    decision = decide(load_skill(fake_skill), None, None)
    assert not decision.on and "enabled for this model but not runnable until schemas are generated" in decision.reason


def test_policy_off_runs_exactly_one_plain_training_in_the_same_layout(fake_skill, tmp_path, capsys):
    results = tmp_path / "off"
    assert _launch(fake_skill, results, "--request", "plain training please", "--max-trials", "5") == 0
    trials = _trials(results)
    assert len(trials) == 1 and trials[0].params == {} and trials[0].config == {}
    assert trials[0].origin == "plain training"
    assert (results / "trials" / "0" / "train" / "status.json").exists()
    assert "automl_policy off" in capsys.readouterr().out


# --- the engine -------------------------------------------------------------------------------------

def test_parallel_trials_on_two_gpu_ids_never_share_one(fake_skill, tmp_path):
    results = tmp_path / "gpus"
    assert _launch(fake_skill, results, "--max-trials", "6", "--parallel", "2", "--gpus", "0,1") == 0
    trials = _trials(results)
    assert [t.state for t in trials] == ["COMPLETE"] * 6
    seen = []
    for trial in trials:
        env = json.loads((results / "trials" / str(trial.number) / "env.json").read_text())
        assert (env["CUDA_VISIBLE_DEVICES"],) == trial.devices
        seen.append(env["CUDA_VISIBLE_DEVICES"])
    overlapping = [(a, b) for a in trials for b in trials if a.number < b.number and _overlap(a, b)]
    assert overlapping  # the two slots really ran at once
    for a, b in overlapping:
        assert a.devices != b.devices, (a.number, b.number)
    assert set(seen) == {"0", "1"}


def test_cpu_trials_split_the_cores(fake_skill, tmp_path):
    results = tmp_path / "cpu"
    assert _launch(fake_skill, results, "--max-trials", "2", "--parallel", "2", "--gpus", "none") == 0
    env = json.loads((results / "trials" / "0" / "env.json").read_text())
    cores = len(os.sched_getaffinity(0))
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["OMP_NUM_THREADS"] == str(max(1, cores // 2))


def test_base_spec_runs_first_and_the_rest_is_sampled(fake_skill, tmp_path):
    results = tmp_path / "base"
    assert _launch(fake_skill, results, "--max-trials", "3") == 0
    trials = _trials(results)
    assert trials[0].origin == "base spec"
    assert trials[0].config == {"train.optim.base_lr": 0.00035}
    assert {t.origin for t in trials[1:]} == {"sampler"}


def test_a_pruned_trial_is_stopped_and_recorded(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.4")
    results = tmp_path / "asha"
    assert main(["launch", "--skill-dir", str(fake_skill), "--results-dir", str(results), "--max-epochs", "6",
                 "--hyperparameters", "train.optim.base_lr", "--algorithm", "asha", "--max-trials", "8",
                 "--no-handoff", "--seed", "3"]) == 0
    pruned = [t for t in _trials(results) if t.state == "PRUNED"]
    assert pruned
    for trial in pruned:
        assert len(trial.epochs) < 6
        lines = (results / "trials" / str(trial.number) / "train" / "status.json").read_text().splitlines()
        assert json.loads(lines[-1])["status"] == "RUNNING"  # stopped mid-run, never reached SUCCESS
        pid = json.loads((results / "trials" / str(trial.number) / "env.json").read_text())["pid"]
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_failures_are_recorded_with_their_cause_and_infrastructure_ones_retried_in_place(fake_skill, tmp_path,
                                                                                        behaviours):
    behaviours({"1": "crash", "2": "nan", "3": "killed_once", "4": "killed"})
    results = tmp_path / "fail"
    assert _launch(fake_skill, results, "--max-trials", "5", "--retries", "1") == 0
    trials = {t.number: t for t in _trials(results)}
    assert sorted(trials) == [0, 1, 2, 3, 4]  # a retry is the same trial, not a new one
    assert trials[1].state == "FAIL" and trials[1].attempts == ()  # a crash of the trainer is not retried
    assert trials[1].failure == "exit code 1: RuntimeError: simulated crash in the data loader"
    assert trials[2].failure.startswith("NaN loss") and trials[2].attempts == ()
    assert trials[3].state == "COMPLETE" and trials[3].attempts == ("killed by SIGKILL; out of memory?",)
    assert sorted(trials[3].epochs) == [0, 1, 2, 3]
    lines = [json.loads(line) for line in (results / "trials" / "3" / "train" / "status.json").read_text().splitlines()]
    restarts = [line["epoch"] for line in lines if line["status"] == "STARTED"]
    assert restarts[0] == 0 and restarts[1] > 0  # the retry continued from the trial's latest checkpoint
    assert trials[4].state == "FAIL" and trials[4].failure == "killed by SIGKILL; out of memory?"
    assert trials[4].attempts == ("killed by SIGKILL; out of memory?",)  # --retries 1: two attempts in all
    assert len(_record(results).counted()) == 5


def test_a_study_whose_first_trials_all_fail_stops_with_a_diagnosis(fake_skill, tmp_path, behaviours, capsys):
    behaviours({str(i): "crash" for i in range(10)})
    results = tmp_path / "doomed"
    assert _launch(fake_skill, results, "--max-trials", "10") == 1
    err = capsys.readouterr().err
    assert "the first 3 trials all failed" in err and "simulated crash" in err
    assert len(_trials(results)) == 3


def test_metric_never_reported_fails_the_trial_instead_of_scoring_zero(fake_skill, tmp_path):
    info_path = fake_skill / "references" / "skill_info.yaml"
    info = yaml.safe_load(info_path.read_text())
    info["kpis"] = info["kpis"] + ["rank_1"]
    info_path.write_text(yaml.safe_dump(info))
    results = tmp_path / "metric"
    assert _launch(fake_skill, results, "--max-trials", "1", "--metric", "rank_1") == 1
    (trial,) = _trials(results)
    assert trial.state == "FAIL" and trial.failure.startswith("no rank_1 reported")


def test_checkpoints_of_finished_non_best_trials_are_deleted(fake_skill, tmp_path):
    results = tmp_path / "retention"
    assert _launch(fake_skill, results, "--max-trials", "4") == 0
    record = _record(results)
    keep = {record.best_trial().number, 0}  # the best and the base-spec baseline
    for trial in record.trials():
        files = list((results / "trials" / str(trial.number) / "train").glob("model_epoch_*.pth"))
        assert bool(files) == (trial.number in keep), trial.number
    results = tmp_path / "kept"
    assert _launch(fake_skill, results, "--max-trials", "3", "--keep-checkpoints") == 0
    assert all(list((results / "trials" / str(n) / "train").glob("model_epoch_*.pth")) for n in range(3))


# --- crash-safe resume ---------------------------------------------------------------------------------

def test_sigkilled_controller_resumes_without_losing_or_duplicating_trials(fake_skill, tmp_path):
    results = tmp_path / "crash"
    env = {**os.environ, "FAKE_EPOCH_S": "0.5"}
    command = [sys.executable, "-m", "automl", "launch", "--skill-dir", str(fake_skill), "--results-dir", str(results),
               "--max-epochs", "6", "--hyperparameters", "train.optim.base_lr", "--algorithm", "tpe",
               "--max-trials", "6", "--parallel", "2", "--gpus", "0,1", "--no-handoff"]
    controller = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until some trials finished and others are running
        if (results / "study.json").exists():
            trials = _trials(results)
            done = [t for t in trials if t.state == "COMPLETE"]
            running = [t for t in trials if t.state == "RUNNING" and t.pid]
            if len(done) >= 2 and running:
                break
        time.sleep(0.2)
    controller.send_signal(signal.SIGKILL)
    controller.wait()
    before = _trials(results)
    values = {t.number: t.value for t in before if t.state == "COMPLETE"}
    orphans = [t.pid for t in before if t.state == "RUNNING" and t.pid]
    assert orphans and all(_alive(pid) for pid in orphans)  # SIGKILL left the trial processes behind

    assert main(["resume", "--results-dir", str(results)]) == 0
    record = _record(results)
    after = record.trials()
    assert not any(_alive(pid) for pid in orphans)
    numbers = [t.number for t in after]
    assert numbers == sorted(set(numbers))  # trial numbers never repeat
    for number, value in values.items():
        assert after[number].value == value  # completed trials keep their values
    interrupted = [t for t in after if t.interrupted]
    assert interrupted and all(t.state == "FAIL" for t in interrupted)
    reruns = [t for t in after if t.rerun_of is not None]
    assert sorted(t.rerun_of for t in reruns) == sorted(t.number for t in interrupted)  # each re-run exactly once
    assert all(t.origin == ("base spec" if after[t.rerun_of].origin == "base spec" else f"resume of {t.rerun_of}")
               for t in reruns)
    counted = record.counted()
    assert len(counted) == 6 and all(t.state == "COMPLETE" for t in counted)
    assert not {t.number for t in interrupted} & {t.number for t in counted}
    continued = [t for t in after if t.resume_from]
    for trial in continued:  # a re-run with a checkpoint continued from it instead of starting over
        first = json.loads((results / trial.folder / "train" / "status.json").read_text().splitlines()[0])
        assert first["epoch"] > 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(")")[1].split()[0] == "Z")


def test_resume_refuses_while_a_controller_is_alive(fake_skill, tmp_path):
    results = tmp_path / "live"
    assert _launch(fake_skill, results, "--max-trials", "1") == 0
    (results / "controller.json").write_text(json.dumps({"pid": os.getpid(), "heartbeat": time.time()}))
    with pytest.raises(AutomlError, match=f"a controller \\(pid {os.getpid()}\\) is running this study"):
        api.resume(str(results))


# --- resolver -------------------------------------------------------------------------------------------

def _resolver_record(tmp_path: Path) -> StudyRecord:
    meta = StudyMeta(metrics=("cmc_rank_1",), directions=("maximize",), max_trials=2, max_epochs=4)
    return StudyRecord.create(f"sqlite:///{tmp_path / 'study.db'}", "resolver", meta, tmp_path)


def _fake_trial(record: StudyRecord, number: int, value: float, epochs: dict[int, float]) -> None:
    """A finished trial whose checkpoints of every epoch exist, with its latest link."""
    train = record.results_dir / "trials" / str(number) / "train"
    train.mkdir(parents=True)
    checkpoints = {e: f"trials/{number}/train/model_epoch_{e:03d}_step_{(e + 1) * 7:05d}.pth" for e in epochs}
    for relative in checkpoints.values():
        (record.results_dir / relative).write_bytes(b"x")
    (train / "reid_model_latest.pth").symlink_to(Path(checkpoints[max(epochs)]).name)
    record.add_finished(TrialRecord(number=number, state="COMPLETE", value=value, params={}, epochs=epochs,
                                    datetime_start=None, datetime_complete=None, config={},
                                    folder=f"trials/{number}", checkpoints=checkpoints), {})


def test_resolver_picks_the_best_trial_then_its_best_epoch_with_ties_to_the_later(tmp_path):
    record = _resolver_record(tmp_path)
    _fake_trial(record, 0, 0.7, {0: 0.5, 1: 0.7, 2: 0.6})
    _fake_trial(record, 1, 0.9, {0: 0.6, 1: 0.9, 2: 0.9, 3: 0.8})
    resolved = resolve_checkpoint(record)
    assert (resolved.trial, resolved.epoch) == (1, 2)
    assert resolved.checkpoint.name == "model_epoch_002_step_00021.pth"
    assert resolve_checkpoint(tmp_path).checkpoint == resolved.checkpoint  # by results dir, from any directory
    assert resolve_checkpoint(record, latest=True).checkpoint.name == "reid_model_latest.pth"
    resolved.checkpoint.unlink()
    with pytest.raises(RecordError, match="best epoch 2 .* is missing; was it deleted"):
        resolve_checkpoint(record)


def test_resolver_follows_a_moved_results_dir(tmp_path):
    record = _resolver_record(tmp_path / "here")
    _fake_trial(record, 0, 0.7, {0: 0.5, 1: 0.7})
    moved = tmp_path / "there"
    (tmp_path / "here").rename(moved)
    resolved = resolve_checkpoint(moved)
    assert resolved.checkpoint == moved / "trials" / "0" / "train" / "model_epoch_001_step_00014.pth"


def test_resolver_names_the_host_of_a_checkpoint_on_another_machine(tmp_path):
    record = _resolver_record(tmp_path)
    record.add_finished(TrialRecord(number=0, state="COMPLETE", value=0.5, params={}, epochs={0: 0.5},
                                    datetime_start=None, datetime_complete=None, config={}, folder="trials/0",
                                    host="gpu-box-7", root="/data/results",
                                    checkpoints={0: "trials/0/train/model_epoch_000_step_00007.pth"}), {})
    with pytest.raises(RecordError, match="written on host gpu-box-7 \\(/data/results\\)"):
        resolve_checkpoint(record)


def test_resolver_needs_a_completed_trial(tmp_path):
    record = _resolver_record(tmp_path)
    record.add_finished(TrialRecord(number=0, state="FAIL", value=None, params={}, epochs={}, datetime_start=None,
                                    datetime_complete=None, config={}), {})
    with pytest.raises(AutomlError, match="no completed trial"):
        resolve_checkpoint(record)


def test_status_and_best_as_json(fake_skill, tmp_path, capsys):
    results = tmp_path / "json"
    assert _launch(fake_skill, results, "--max-trials", "2") == 0
    capsys.readouterr()
    assert main(["status", "--results-dir", str(results), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["trials"][0]) >= {"number", "state", "value", "params", "cuda_visible_devices", "datetime_start",
                                      "datetime_complete", "results_dir", "checkpoint", "failure"}
    assert main(["best", "--results-dir", str(results), "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert set(best) == {"trial", "value", "epoch", "checkpoint"} and Path(best["checkpoint"]).exists()


# --- bad input -------------------------------------------------------------------------------------------

def test_every_bad_launch_is_one_line_exit_2_and_nothing_starts(fake_skill, tmp_path, capsys, monkeypatch):
    taken = tmp_path / "taken"
    assert _launch(fake_skill, taken, "--max-trials", "1") == 0
    empty_skill = tmp_path / "not_a_skill"
    empty_skill.mkdir()
    cases = [
        (["--algorithm", "simulated_annealing"], "--algorithm simulated_annealing: unknown"),
        (["--algorithm", "dehb"], "dehb is not provided"),
        (["--algorithm", "pbt"], "--algorithm pbt: runs on --engine ray only"),
        (["--engine", "spark"], "--engine spark: expected one of optuna, ray"),
        (["--metric", "accuracy"], "--metric accuracy: the trainer reports cmc_rank_1"),
        (["--parallel", "3", "--gpus", "0,1"], "--parallel 3: only 2 trial(s) fit on 2 GPU(s)"),
        (["--gpus", "zero"], "--gpus zero: expected comma-separated GPU ids"),
        (["--storage", "postgresql://nobody@127.0.0.1:1/none"], "--storage postgresql://nobody@127.0.0.1:1/none: cannot open"),
        (["--hyperparameters", "dataset.num_classes"], "dataset.num_classes: disabled for AutoML"),
        (["dataset.batch_size=30"], "every trial would be: dataset.batch_size: expected a multiple"),
        (["--max-trials", "0"], "--max-trials 0: must be at least 1"),
        (["--spec", str(tmp_path / "nope.yaml")], "--spec"),
    ]
    for extra, expected in cases:
        results = tmp_path / "bad"
        code = _launch(fake_skill, results, *extra)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (extra, err)
        assert len(err) == 1 and expected in err[0], (extra, err)
        assert not (results / "trials").exists()
    assert _launch(fake_skill, taken, "--max-trials", "1") == 2
    assert "already holds study 'reid-automl'" in capsys.readouterr().err
    assert _launch(empty_skill, tmp_path / "x") == 2
    assert "no references/skill_info.yaml" in capsys.readouterr().err
    monkeypatch.setattr("automl.gpu_pool.visible_gpu_count", lambda: 2)
    assert _launch(fake_skill, tmp_path / "y", "--gpus", "0,5") == 2
    assert "GPU 5 does not exist (2 visible" in capsys.readouterr().err


def test_dry_run_reviews_the_space_and_starts_nothing(tmp_path, tiny_dataset, capsys):
    results = tmp_path / "dry"
    spec = tiny_dataset.root / "spec_train.yaml"
    from reid_core.actions.make_dataset import training_spec
    from reid_core.config import build_spec, dump_spec

    dump_spec(build_spec([training_spec(tiny_dataset)], "train"), spec, "train")
    assert main(["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(spec),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "train.optim.base_lr" in out and "First configs" in out and "Estimated time per trial" in out
    assert "nothing was started" in out and not (results / "study.db").exists()


# --- the real trainer, end to end ---------------------------------------------------------------------

def test_real_study_on_tiny_two_parallel_trials_then_handoff(tmp_path, tiny_dataset):
    from reid_core.actions.make_dataset import training_spec
    from reid_core.config import build_spec, dump_spec

    spec = tmp_path / "spec_train.yaml"
    dump_spec(build_spec([training_spec(tiny_dataset)], "train"), spec, "train")
    results = tmp_path / "study"
    assert main(["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(spec),
                 "--max-trials", "4", "--parallel", "2", "--gpus", "0,1", "--algorithm", "tpe",
                 "--hyperparameters", "train.optim.base_lr,dataset.re_prob,model.label_smooth"]) == 0
    record = _record(results)
    trials = record.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 4
    for trial in trials:  # the real trainer's KPIs of the best epoch's model, its deployment cost too
        assert {"cmc_rank_1", "mAP", "latency_ms", "params_m", "gflops"} <= set(trial.kpis)
        assert trial.kpis["cmc_rank_1"] == trial.value and trial.cmc and trial.cmc[1] == pytest.approx(trial.value, abs=1e-6)
    for a in trials:
        for b in trials:
            if a.number < b.number and _overlap(a, b):
                assert a.devices != b.devices
    summary = json.loads((results / "summary.json").read_text())
    best = resolve_checkpoint(results)
    assert summary["best"]["trial"] == best.trial == record.best_trial().number
    assert summary["selection"].startswith("validation split")
    assert 0 <= summary["test_evaluation"]["cmc_rank_1"] <= 1 and "baseline" in summary
    noise = summary["selection_noise"]  # how many queries scored the pick, and how sure it is
    assert noise["validation_queries"] == record.meta.validation_queries > 0
    low, high = noise["interval_95"]
    assert noise["best_trial"] == best.trial and low <= noise["best_value"] <= high
    assert noise["runner_up_within_noise"] == (low <= noise["runner_up_value"] <= high)
    assert f"scored on {noise['validation_queries']} validation queries" in noise["lines"][0]
    page = (results / "dashboard.html").read_text()
    assert "95% interval of the best" in page
    handoff = results / "handoff" / "best"
    assert (handoff / "evaluate" / "cmc_curve.png").exists() and (handoff / "evaluate" / "sampled_matches.png").exists()
    assert (handoff / "export" / "reid.onnx").exists()
    tuned = summary["re_ranking"]  # chosen on the validation features, reported on test with and without
    assert tuned["metric"] == "mAP" and tuned["candidates"] > 1 and "chosen" in tuned
    assert tuned["validation_with"]["mAP"] >= tuned["validation_without"]["mAP"]
    evaluated = read_status(handoff / "evaluate" / "status.json")[-1]["kpi"]
    if tuned["chosen"]["re_ranking"]:  # the handoff's evaluate spec carries the values and gave these KPIs
        assert evaluated == tuned["test_with"] and tuned["evaluate_spec"] == str(handoff / "spec_evaluate.yaml")
        plain = read_status(results / "handoff" / "best_without_re_ranking" / "evaluate" / "status.json")[-1]["kpi"]
        assert plain == summary["test_evaluation"]
    else:
        assert evaluated == summary["test_evaluation"]
    entries = json.loads((handoff / "inference" / "inference.json").read_text())
    assert len(entries) == tiny_dataset.num_query_images + tiny_dataset.num_gallery_images


def test_every_epoch_a_trial_reports_is_scored_even_the_last_lines_before_exit(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0")  # the child finishes between two polls of the launcher
    results = tmp_path / "fast"
    assert _launch(fake_skill, results, "--max-trials", "3") == 0
    for trial in _trials(results):
        assert sorted(trial.epochs) == [0, 1, 2, 3]
        assert trial.value == max(trial.epochs.values())


def test_a_copied_results_dir_resolves_hands_off_and_resumes_from_any_directory(fake_skill, tmp_path):
    results = tmp_path / "here"
    assert _launch(fake_skill, results, "--max-trials", "2") == 0
    copy = tmp_path / "elsewhere" / "study"
    shutil.copytree(results, copy)
    shutil.rmtree(results)  # nothing of the original remains
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    for args in (["best", "--json"], ["handoff"], ["resume"]):
        done = subprocess.run([sys.executable, "-m", "automl", args[0], "--results-dir", str(copy), *args[1:]],
                              cwd=elsewhere, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        if args[0] == "best":
            assert Path(json.loads(done.stdout)["checkpoint"]).is_relative_to(copy / "trials")
    summary = json.loads((copy / "summary.json").read_text())
    assert Path(summary["best"]["checkpoint"]).is_relative_to(copy)


# --- workers -------------------------------------------------------------------------------------------

def test_a_worker_started_with_the_launch_shares_the_study(fake_skill, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_EPOCH_S", "0.3")
    record, worker_out = launch_with_worker(fake_skill, tmp_path, "--max-trials", "6", "--max-epochs", "3",
                                            "--algorithm", "tpe")
    trials = record.trials()
    assert len(record.counted()) == 6 and len(trials) == 6 and all(t.state == "COMPLETE" for t in trials)
    roots = {t.root for t in trials}
    assert roots == {str((tmp_path / "A").resolve()), str((tmp_path / "B").resolve())}  # both worked
    for trial in trials:  # from B's results dir, trials A ran resolve to A's folder on this host
        assert record.path(trial.folder, trial) == Path(trial.root) / trial.folder
    assert "joining study s" in worker_out and json.loads((tmp_path / "B" / "study.json").read_text())["study"] == "s"


def test_every_bad_worker_is_one_line_exit_2_and_creates_nothing(fake_skill, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert _launch(fake_skill, tmp_path / "A", "--max-trials", "3", "--storage", url, "--study", "s") == 0
    other = make_fake_skill(tmp_path / "other_skill")
    (other / "references" / "spec_template_train.yaml").write_text(
        (other / "references" / "spec_template_train.yaml").read_text() + "\n# changed\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("model:\n  last_stride: 2\n")
    bad = tmp_path / "bad"
    cases = [
        (["--study", "nope"], "--study nope: no such study in sqlite:///"),
        (["--study", "s", "--skill-dir", str(other)], "references/spec_template_train.yaml differs"),
        (["--study", "s", "--spec", str(spec)], "not the study's spec: model.last_stride is 2 here, 1 in the study"),
        (["--study", "s", "--gpus", "none", "--parallel", "99"], "--parallel 99: only"),
    ]
    for extra, expected in cases:
        code = main(["worker", "--storage", url, "--results-dir", str(bad), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and expected in err[0], (extra, err)
        assert not bad.exists()
    assert main(["worker", "--storage", url, "--results-dir", str(bad), "--study", "s"]) == 0  # finished: nothing to do
    assert "finished (3 of 3 trials)" in capsys.readouterr().out and not bad.exists()


def test_retention_keeps_another_trials_file_that_a_kept_trial_points_to(tmp_path):
    """A PBT clone restored at its last epoch holds the donor's file as that epoch's checkpoint: when the
    clone is the best, the donor's file stays although the donor's others go."""
    from automl.options import StudyOptions
    from automl.study import StudyRun
    from studies.trial_record import HOST

    record = StudyRecord.create(f"sqlite:///{tmp_path / 'study.db'}", "pbt",
                                StudyMeta(metrics=("cmc_rank_1",), directions=("maximize",), max_trials=2,
                                          max_epochs=2), tmp_path)
    files = {}
    for number in (0, 1):
        for epoch in (0, 1):
            path = tmp_path / "trials" / str(number) / "train" / f"model_epoch_{epoch:03d}_step_{epoch + 1:05d}.pth"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"w")
            files[number, epoch] = path.relative_to(tmp_path).as_posix()
    common = dict(params={}, datetime_start=None, datetime_complete=None, host=HOST, state="COMPLETE", best_epoch=1)
    record.add_finished(TrialRecord(number=0, value=0.5, epochs={0: 0.4, 1: 0.5}, folder="trials/0",
                                    checkpoints={0: files[0, 0], 1: files[0, 1]}, **common), {})
    record.add_finished(TrialRecord(number=1, value=0.9, epochs={0: 0.4, 1: 0.9}, folder="trials/1",  # clone of 0
                                    checkpoints={0: files[1, 0], 1: files[0, 1]}, **common), {})
    options = StudyOptions(skill_dir=str(tmp_path), results_dir=str(tmp_path), storage=record.url, study="pbt")
    StudyRun(options, None, {}, None, record, None, None).apply_retention()
    assert (tmp_path / files[0, 1]).exists() and not (tmp_path / files[0, 0]).exists()
    assert resolve_checkpoint(tmp_path).checkpoint.resolve() == (tmp_path / files[0, 1]).resolve()
