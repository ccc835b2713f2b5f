"""studies.record: the study record's contract: what is written when, frozen trials, relative paths,
formats, and the commands that only read it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from automl.cli import main
from studies.errors import RecordError
from studies.record import StudyRecord
from studies.trial_record import (RECORD_FORMAT, StudyMeta, TrialEnd, TrialRecord, TrialStart, best_epoch, best_of,
                                  budget_trials)
from study_builder import synthetic_study

ROOT = Path(__file__).resolve().parents[1]


def _meta(**extra) -> StudyMeta:
    return StudyMeta(metrics=("cmc_rank_1",), directions=("maximize",), max_trials=3, max_epochs=4, **extra)


def _record(tmp_path: Path, **extra) -> StudyRecord:
    return StudyRecord.create(f"sqlite:///{tmp_path / 'study.db'}", "s", _meta(**extra), tmp_path)


def test_a_trial_is_written_in_three_moments_and_read_back_whole(tmp_path):
    record = _record(tmp_path)
    record.enqueue({"x": 0.5}, "base spec", {"a.x": 0.5})
    trial = record.study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    record.start(trial.number, TrialStart(folder="trials/0", engine="optuna", devices=("0",), threads=4,
                                          worker="h:1:2"))
    record.process(trial.number, 4242, 77)
    record.epoch(trial.number, 0, 0.4, {0: "trials/0/train/model_epoch_000_step_00010.pth"}, trial)
    record.epoch(trial.number, 1, 0.6, None, trial)
    end = TrialEnd(state="COMPLETE", value=0.6, best_epoch=1, checkpoints={0: "a.pth", 1: "b.pth"},
                   cmc={1: 0.6, 5: 0.8}, attempts=("killed by SIGKILL",), wall_seconds=3.0, device_seconds=3.0,
                   exit_code=0)
    assert record.finish(trial.number, end)
    (read,) = record.trials()
    assert (read.state, read.value, read.origin, read.config, read.params) == ("COMPLETE", 0.6, "base spec",
                                                                             {"a.x": 0.5}, {"x": 0.5})
    assert read.devices == ("0",) and read.pid == 4242 and read.folder == "trials/0" and read.worker == "h:1:2"
    assert read.epochs == {0: 0.4, 1: 0.6} and read.checkpoints == {0: "a.pth", 1: "b.pth"}
    assert read.cmc == {1: 0.6, 5: 0.8} and read.attempts == ("killed by SIGKILL",) and read.best_epoch == 1
    assert read.root == str(tmp_path.resolve())
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):  # a finished trial is frozen
        record.process(trial.number, 1, 1)
    assert not record.finish(trial.number, end)  # and a second outcome is refused


def test_the_best_epoch_rule_prefers_the_later_epoch_on_ties_and_never_a_nan():
    assert best_epoch({0: 0.5, 1: 0.7, 2: 0.7, 3: 0.6}, "maximize") == 2
    assert best_epoch({0: 0.5, 1: 0.3, 2: 0.3}, "minimize") == 2
    assert best_epoch({0: float("nan"), 1: 0.1}, "maximize") == 1
    assert best_epoch({}, "maximize") is None


def test_the_best_trial_rule_prefers_the_earlier_trial_on_ties():
    trials = [TrialRecord(number=n, state=s, value=v, params={}, epochs={}, datetime_start=None,
                          datetime_complete=None) for n, s, v in ((0, "COMPLETE", 0.5), (1, "COMPLETE", 0.9),
                                                                 (2, "COMPLETE", 0.9), (3, "FAIL", None))]
    assert best_of(trials, "maximize").number == 1 and best_of(trials, "minimize").number == 0


def test_re_runs_replace_their_trial_in_the_budget():
    def trial(number, state="COMPLETE", **extra):
        return TrialRecord(number=number, state=state, value=None, params={}, epochs={}, datetime_start=None,
                           datetime_complete=None, **extra)

    trials = [trial(0), trial(1, "FAIL"), trial(2, "FAIL", interrupted=True), trial(3, "RUNNING", rerun_of=1),
              trial(4, "WAITING", rerun_of=2), trial(5, "FAIL", surplus=True)]
    assert [t.number for t in budget_trials(trials)] == [0, 3, 4]


def test_paths_are_recorded_relative_so_a_moved_results_dir_still_resolves(tmp_path):
    record = synthetic_study(12, f"sqlite:///{tmp_path / 'here' / 'study.db'}", tmp_path / "here")
    best = record.best_trial()
    assert best.folder == f"trials/{best.number}" and not Path(best.checkpoints[best.best_epoch]).is_absolute()
    (tmp_path / "here").rename(tmp_path / "there")
    marker = json.loads((tmp_path / "there" / "study.json").read_text())
    assert marker == {"study": "synthetic-reid", "sqlite": "study.db"}  # no absolute path in the marker either
    moved = StudyRecord.of_results_dir(tmp_path / "there")
    assert moved.path(best.checkpoints[best.best_epoch]).is_file()


def test_a_record_of_an_older_format_is_refused_with_one_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    old = optuna.create_study(storage=url, study_name="old")
    old.set_user_attr("options", json.dumps({"metric": "cmc_rank_1"}))  # what the first release recorded
    (tmp_path / "study.json").write_text(json.dumps({"study": "old", "sqlite": "study.db"}))
    assert main(["status", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "record format 1" in err[0] and "start a new study" in err[0]
    newer = optuna.create_study(storage=url, study_name="newer")
    newer.set_user_attr("record_format", RECORD_FORMAT + 1)
    with pytest.raises(RecordError, match=f"format {RECORD_FORMAT + 1}; this reid-automl reads format"):
        StudyRecord.open(url, "newer")


def test_two_creations_of_one_study_one_wins(tmp_path):
    _record(tmp_path)
    with pytest.raises(RecordError, match="--study s: already exists .*join it with `automl worker`"):
        _record(tmp_path)


def test_read_only_commands_import_neither_torch_nor_lightning(tmp_path):
    folder = tmp_path / "study"
    synthetic_study(20, f"sqlite:///{folder / 'study.db'}", folder)
    probe = (
        "import sys\n"
        "from automl.cli import main\n"
        f"for args in (['status'], ['best', '--json'], ['trials', '--csv', {str(tmp_path / 't.csv')!r}],"
        f" ['dashboard', '--out', {str(tmp_path / 'd.html')!r}]):\n"
        f"    assert main(args[:1] + ['--results-dir', {str(folder)!r}] + args[1:]) == 0, args\n"
        f"assert main(['studies', '--storage', {'sqlite:///' + str(folder / 'study.db')!r}]) == 0\n"
        "heavy = sorted(m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "HEAVY []" in done.stdout, done.stdout[-500:]


def test_a_trial_whose_worker_died_before_starting_it_is_failed_and_rerun(tmp_path):
    """A worker killed between ``ask`` and ``start`` leaves a RUNNING trial with neither worker nor
    heartbeat; once older than the grace period, any worker's stale check fails it and queues its re-run."""
    record = _record(tmp_path, heartbeat_s=1, grace_s=1)
    claimed, unclaimed = record.study.ask(), record.study.ask()
    record.start(claimed.number, TrialStart(folder="trials/0", engine="optuna", devices=("0",), worker="h:1:2"))
    record.heartbeat([claimed.number])
    assert record.unclaimed(1.0) == []  # too young: its worker may be about to start it
    time.sleep(1.3)
    record.heartbeat([claimed.number])
    assert [t.number for t in record.unclaimed(1.0)] == [unclaimed.number]
    record.fail_stale()
    states = {t.number: t.state for t in record.trials()}
    assert states[claimed.number] == "RUNNING" and states[unclaimed.number] == "FAIL"
    rerun = record.study.ask()
    assert record.trial(rerun.number).rerun_of == unclaimed.number


def test_a_password_in_the_url_or_its_query_is_never_shown_or_written():
    from studies.storage import mask, without_password

    for url in ("postgresql://u:s3cr3t@h:5432/db", "postgresql://u@h/db?password=s3cr3t&sslmode=require",
                "postgresql+psycopg://u@h/db?sslpassword=s3cr3t"):
        assert "s3cr3t" not in mask(url) and "***" in mask(url)
        assert "s3cr3t" not in without_password(url) and "h" in without_password(url)
    assert "sslmode=require" in without_password("postgresql://u@h/db?password=s3cr3t&sslmode=require")
    assert without_password("sqlite:///x.db") == "sqlite:///x.db"
