"""studies: trial tables of automl and plain Optuna studies, CSV/Parquet, the dashboard page, its
live refresh and server, bad input, and the page drawn by real headless Chromium."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from PIL import Image

from automl.cli import main
from automl.trial_files import cmc_at
from studies import dashboard as dashboard_module
from studies import figures, list_studies, render_dashboard, run_figures, trials_frame
from studies.dashboard import write_atomically
from studies.live import RENDER_SHARE, refresh_dashboard, wait_for_refresh
from studies.record import StudyRecord
from studies.results_dir import marker_of
from studies.server import DashboardPages, DashboardServer
from studies.trials import export_trials, frame_of, portable
from study_builder import synthetic_study

from headless_chromium import Chromium, install_chromium
from test_automl import make_fake_skill

ROOT = Path(__file__).resolve().parents[1]
TrialState = optuna.trial.TrialState
READY = "window.dashboardReady === true"
CHECKS = """JSON.stringify({
  expected: Number(document.body.dataset.plots),
  drawn: Number(document.body.dataset.plotsDrawn || -1),
  plots: Array.from(document.querySelectorAll('.plot')).map(p => ({
    id: p.id, svg: p.querySelectorAll('.main-svg').length, traces: (p._fullData || []).length,
    height: p.getBoundingClientRect().height,
    marks: p.querySelectorAll('.scatterlayer .trace path, .barlayer .point path, .parcoords .axis, '
                               + '.gl-container canvas').length})),
  rows: document.querySelectorAll('#trials tbody tr').length,
  text: document.body.innerText.slice(0, 3000)})"""


@pytest.fixture(autouse=True)
def quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def automl_study(tmp_path_factory):
    """A study launched through ``automl launch`` with the fake trainer: 5 trials, 2 at a time on
    GPU ids 0 and 1, trial 2 crashing."""
    base = tmp_path_factory.mktemp("automl_study")
    skill = make_fake_skill(base / "skill")
    behaviours = base / "behaviours.json"
    behaviours.write_text(json.dumps({"2": "crash"}))
    previous = os.environ.get("FAKE_BEHAVIOURS")
    os.environ["FAKE_BEHAVIOURS"] = str(behaviours)
    try:
        results = base / "results"
        assert main(["launch", "--skill-dir", str(skill), "--results-dir", str(results), "--max-epochs", "4",
                     "--hyperparameters", "train.optim.base_lr,dataset.re_prob,model.label_smooth",
                     "--algorithm", "random", "--no-handoff", "--max-trials", "5", "--parallel", "2",
                     "--gpus", "0,1"]) == 0
    finally:
        if previous is None:
            os.environ.pop("FAKE_BEHAVIOURS")
        else:
            os.environ["FAKE_BEHAVIOURS"] = previous
    return results


def _record(study: optuna.Study, url: str, results_dir: Path | None = None) -> StudyRecord:
    """The record of a plain Optuna study in ``url``."""
    return StudyRecord.open(url, study.study_name, results_dir)


def _sqlite(tmp_path: Path, name: str = "study") -> str:
    return f"sqlite:///{tmp_path / (name + '.db')}"


def _plain_study(url: str, name: str = "plain") -> optuna.Study:
    """A plain Optuna study: log-scale and categorical params, epochs reported, one pruned, one failed."""
    study = optuna.create_study(storage=url, study_name=name, direction="minimize")

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 1e-4, 1.0, log=True)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        if trial.number == 3:
            raise ValueError("boom")
        for step in range(3):
            trial.report(x * (3 - step), step)
            if trial.number == 4 and step == 1:
                raise optuna.TrialPruned()
        return x + (kind == "b")

    study.optimize(objective, n_trials=6, catch=(ValueError,))
    return study


# --- the trial table ----------------------------------------------------------------------------------

def test_trials_frame_of_an_automl_study_has_a_row_per_trial_with_everything_recorded(automl_study):
    storage, name = marker_of(automl_study)
    frame = trials_frame(storage, name)
    record = StudyRecord.of_results_dir(automl_study)
    trials = record.trials()
    assert list(frame["number"]) == [t.number for t in trials] and len(frame) == 5
    for trial, row in zip(trials, frame.to_dict("records")):
        assert row["state"] == trial.state
        assert (row["value"] == trial.value) or (trial.value is None and np.isnan(row["value"]))
        for key, value in trial.config.items():
            assert row[f"params_{key}"] == value
        for epoch, value in trial.epochs.items():
            assert row[f"cmc_rank_1_epoch_{epoch}"] == value
        assert row["devices"] == ",".join(trial.devices) and row["devices"] in ("0", "1")
        assert row["duration_s"] == pytest.approx((trial.datetime_complete - trial.datetime_start).total_seconds())
        assert row["host"] == trial.host
        assert Path(row["results_dir"]) == automl_study.resolve() / "trials" / str(trial.number)
    crashed = frame.set_index("number").loc[2]
    assert crashed["state"] == "FAIL" and "simulated crash" in crashed["failure"]
    best = record.best_trial().number
    checkpoints = frame.set_index("number")["checkpoint"]
    assert Path(checkpoints[best]).is_file() and Path(checkpoints[best]).name.startswith("model_epoch_")
    deleted = [n for n in frame["number"] if n not in (best, 0)]  # retention kept the best and the baseline
    assert all(pd.isna(checkpoints[n]) for n in deleted)
    assert frame.columns[:3].tolist() == ["number", "state", "value"]


def test_trials_frame_of_a_plain_optuna_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    study = _plain_study(url)
    frame = trials_frame(url, "plain")
    assert list(frame["state"]) == [t.state.name for t in study.trials]
    assert frame["params_x"].tolist() == [t.params["x"] for t in study.trials]
    assert set(frame["params_kind"]) <= {"a", "b"}
    assert frame.loc[4, "state"] == "PRUNED" and frame.loc[4, "value_epoch_1"] == study.trials[4].intermediate_values[1]
    assert pd.isna(frame.loc[4, "value_epoch_2"]) and frame.loc[3, "state"] == "FAIL"
    assert frame["devices"].isna().all() and frame["checkpoint"].isna().all()
    (info,) = list_studies(url)
    assert (info.name, info.n_trials, info.direction, info.made_by) == ("plain", 6, "minimize", "optuna")
    assert info.best_value == study.best_value


def test_csv_and_parquet_round_trip(automl_study, tmp_path):
    frame = trials_frame(*marker_of(automl_study))
    csv, parquet = tmp_path / "t.csv", tmp_path / "t.parquet"
    assert main(["trials", "--results-dir", str(automl_study), "--csv", str(csv), "--parquet", str(parquet)]) == 0
    expected = portable(frame)
    assert expected["params_model.label_smooth"].tolist() == frame["params_model.label_smooth"].tolist()
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), expected, check_dtype=False)
    back = pd.read_csv(csv)
    assert back.columns.tolist() == frame.columns.tolist()
    for column in ("number", "value", "duration_s", "params_train.optim.base_lr", "cmc_rank_1_epoch_3"):
        np.testing.assert_allclose(back[column].to_numpy(float), frame[column].to_numpy(float), equal_nan=True)
    assert back["failure"].fillna("").tolist() == frame["failure"].fillna("").tolist()


def test_lists_and_mixed_values_become_text_for_export(tmp_path):
    frame = pd.DataFrame({"params_steps": [[3, 6], None, [4]], "params_mixed": ["a", 1.5, None],
                          "value": [0.1, 0.2, np.nan]})
    export_trials(frame, csv=tmp_path / "m.csv", parquet=tmp_path / "m.parquet")
    for back in (pd.read_parquet(tmp_path / "m.parquet"), pd.read_csv(tmp_path / "m.csv")):
        assert back["params_steps"].fillna("").tolist() == ["[3, 6]", "", "[4]"]
        assert back["params_mixed"].fillna("").tolist() == ["a", "1.5", ""]


# --- the page -----------------------------------------------------------------------------------------

def test_the_live_hook_wrote_a_finished_page_with_every_panel(automl_study):
    page = (automl_study / "dashboard.html").read_text()
    assert page.endswith("</html>\n") and 'data-live="false"' in page  # the last refresh stops the reloading
    for panel in ("plot-history", "plot-curves", "plot-parallel", "plot-slices", "plot-timeline", "plot-failures",
                  'id="trials"'):
        assert panel in page, panel
    assert "simulated crash" in page and "needs 8 completed trials" in page
    assert page.count("<tr>") == 5 + 1  # the header and one row per trial
    for tag in ("<script src", "<link", "<img", "<iframe"):  # nothing to fetch: plotly.js is inline
        assert tag not in page
    assert "Content-Security-Policy\" content=\"default-src 'none'" in page  # and the browser may fetch nothing


def test_empty_study_is_a_page_saying_so(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(storage=url, study_name="empty")
    out = tmp_path / "empty.html"
    assert main(["dashboard", "--storage", url, "--study", "empty", "--out", str(out)]) == 0
    page = out.read_text()
    assert "No trials yet" in page and 'data-plots="0"' in page


def test_a_plain_optuna_study_gets_a_page(tmp_path):
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    _plain_study(url)
    out = tmp_path / "plain.html"
    assert main(["dashboard", "--storage", url, "--study", "plain", "--out", str(out)]) == 0
    page = out.read_text()
    assert "Optuna study, minimize value" in page and "plot-history" in page and "plot-curves" in page
    assert "log10 x" in page  # a log-scale parameter on a log axis


@pytest.mark.parametrize("args, expected", [
    (["--storage", "{url}", "--study", "nope"], "--study nope: no such study in {url} (studies there: first, second)"),
    (["--storage", "{url}"], "--study: required with --storage (studies there: first, second)"),
    (["--storage", "sqlite:///{tmp}/missing.db", "--study", "x"], "no such database file"),
    (["--storage", "{tmp}/not-a-url", "--study", "x"], "cannot open the study record"),
    (["--storage", "sqlite:///{tmp}/garbage.db", "--study", "x"], "cannot open the study record"),
    (["--results-dir", "{tmp}"], "holds no study (no study.json)"),
    ([], "which study? give --results-dir R, or --storage URL --study NAME"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, expected):
    url = f"sqlite:///{tmp_path / 'two.db'}"
    for name in ("first", "second"):
        optuna.create_study(storage=url, study_name=name)
    (tmp_path / "garbage.db").write_text("not a database")
    fill = {"url": url, "tmp": str(tmp_path)}
    code = main(["dashboard", *[a.format(**fill) for a in args], "--out", str(tmp_path / "x.html")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("automl: error: "), err
    assert expected.format(**fill) in err[0]
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "missing.db").exists()


def test_a_port_in_use_is_one_line_and_exit_2(automl_study, tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["dashboard", "--results-dir", str(automl_study), "--out", str(tmp_path / "d.html"), "--serve",
                     "--port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"automl: error: --port {port}: already in use on 127.0.0.1; choose another --port"]


def test_the_page_is_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "page.html"
    pages = [f"<html>{'x' * 3_000_000}{i}</html>\n" for i in range(2)]
    write_atomically(target, pages[0])
    seen, stop = set(), threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(len(target.read_text()))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(20):
        write_atomically(target, pages[i % 2])
    stop.set()
    reader.join()
    assert seen == {len(pages[0])}  # never a half-written file
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(OSError):
        write_atomically(target, "<html>new</html>")
    assert target.read_text() == pages[1] and [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_the_live_hook_never_raises_and_warns_once(tmp_path, monkeypatch, caplog):
    url = _sqlite(tmp_path)
    study = optuna.create_study(storage=url)
    study.add_trial(optuna.trial.create_trial(value=1.0))
    record = _record(study, url, tmp_path)
    monkeypatch.setattr(dashboard_module, "render_dashboard", lambda *a, **k: 1 / 0)
    with caplog.at_level(logging.WARNING, logger="studies.live"):
        refresh_dashboard(record)
        assert wait_for_refresh(tmp_path, 30)
        refresh_dashboard(record, live=False)
    warnings = [r for r in caplog.records if r.name == "studies.live"]
    assert len(warnings) == 1 and "ZeroDivisionError" in warnings[0].getMessage()
    assert not (tmp_path / "dashboard.html").exists()


def test_the_live_hook_renders_in_the_background_spaced_out_and_the_last_page_at_once(tmp_path, monkeypatch):
    url = _sqlite(tmp_path)
    study = optuna.create_study(storage=url)
    study.add_trial(optuna.trial.create_trial(value=1.0))
    record = _record(study, url, tmp_path)
    written = []

    def slow_write(record, out, live=False):  # a render that costs 0.3 s
        time.sleep(0.3)
        write_atomically(Path(out), f"<html>{len(record.study.trials)} {live}</html>\n")
        written.append((time.monotonic(), live))

    monkeypatch.setattr(dashboard_module, "write_dashboard", slow_write)
    started = time.monotonic()
    refresh_dashboard(record)
    assert time.monotonic() - started < 0.1  # the controller is not held up
    assert wait_for_refresh(tmp_path, 30) and len(written) == 1
    for value in (0.5, 0.25, 0.125):  # three trials finish while the page may not be rendered again yet
        study.add_trial(optuna.trial.create_trial(value=value))
        refresh_dashboard(record)
    assert wait_for_refresh(tmp_path, 30) and len(written) == 2  # one render for the three requests
    assert written[1][0] - written[0][0] >= 0.3 * (1 / RENDER_SHARE - 1)  # rendering stays under 10% of the time
    assert (tmp_path / "dashboard.html").read_text() == "<html>4 True</html>\n"
    study.add_trial(optuna.trial.create_trial(value=0.1))
    refresh_dashboard(record, live=False)  # the study's last trial: written before the call returns
    assert (tmp_path / "dashboard.html").read_text() == "<html>5 False</html>\n"


def test_the_server_serves_the_dashboard_and_nothing_else(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = _plain_study(url)
    (tmp_path / "secret.txt").write_text("secret")
    server = DashboardServer(DashboardPages(lambda: _record(study, url, tmp_path)), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        def request(path: str, method: str = "GET") -> tuple[int, dict, bytes]:
            try:
                with urllib.request.urlopen(urllib.request.Request(server.url + path.lstrip("/"), method=method)) as r:
                    return r.status, dict(r.headers), r.read()
            except urllib.error.HTTPError as err:
                return err.code, dict(err.headers), err.read()

        assert server.server_address[0] == "127.0.0.1"
        code, headers, body = request("/")
        assert code == 200 and headers["Content-Type"].startswith("text/html") and b"plot-history" in body
        assert request("/dashboard.html")[2] == body
        code, head_headers, head_body = request("/", "HEAD")
        assert code == 200 and head_body == b"" and head_headers["ETag"] == headers["ETag"]
        for path in ("/secret.txt", "/s.db", "/../s.db", "/dashboard.html/x", "/%2e%2e/secret.txt"):
            code, _, body = request(path)
            assert code == 404 and b"secret" not in body, path
        for method in ("POST", "PUT", "DELETE"):
            assert request("/", method)[0] == 405
        study.add_trial(optuna.trial.create_trial(value=0.5, params={"x": 0.5, "kind": "a"},
                                                  distributions=study.trials[0].distributions))
        assert request("/", "HEAD")[1]["ETag"] != headers["ETag"]  # what the page polls to reload itself
    finally:
        server.shutdown()
        server.server_close()


def test_dashboard_cli_serves_on_localhost_by_default():
    from automl.cli import _parser

    args = _parser().parse_args(["dashboard", "--results-dir", "r", "--serve"])
    assert (args.host, args.port, args.serve) == ("127.0.0.1", 8050, True)


# --- figures ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_curves_past_the_point_budget_are_sampled_with_every_trial_in_the_band(direction):
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(direction=direction, storage=storage)
    rng = np.random.default_rng(0)
    study.add_trials([optuna.trial.create_trial(
        value=float(q), intermediate_values={e: float(q * (e + 1) / 30) for e in range(30)})
        for q in rng.random(1000)])
    frame = frame_of(StudyRecord(study, storage, None, None))
    fig = figures.curves(frame, "value", direction)
    lines = [t for t in fig.data if t.mode == "lines" and t.customdata is not None]
    points = sum(int(np.isfinite(np.asarray(t.y, dtype=float)).sum()) for t in lines)
    assert 1000 * 30 > figures.MAX_CURVE_POINTS and points <= figures.MAX_CURVE_POINTS
    drawn = {int(n) for t in lines for n in t.customdata}
    best = frame.sort_values("value", ascending=direction == "minimize")["number"].head(figures.TOP_CURVES)
    assert set(best) <= drawn
    assert any(t.name == "median of all trials" for t in fig.data) and "of 1000 trials drawn" in fig.layout.title.text


def test_overlapping_trials_on_one_device_get_lanes_of_their_own():
    t = pd.Timestamp("2026-01-01 00:00")
    minutes = pd.Timedelta(minutes=1)
    spans = [("cpu", t, t + 10 * minutes, 0), ("cpu", t + minutes, t + 5 * minutes, 1),
             ("cpu", t + 6 * minutes, t + 9 * minutes, 2), ("GPU 0", t, t + minutes, 3),
             ("GPU 0", t + minutes, t + 2 * minutes, 4)]
    assert run_figures._lanes(spans) == ["cpu #1", "cpu #2", "cpu #2", "GPU 0", "GPU 0"]


def test_cmc_curves_use_the_full_curve_and_fall_back_to_rank_1_5_10():
    curve = [0.5 + i * 0.02 for i in range(20)]
    full = [{"epoch": 3, "kpi": {"cmc_rank_1": 0.5}, "cmc": curve}]
    partial = [{"epoch": 0, "kpi": {"cmc_rank_1": "0.4", "cmc_rank_5": "0.6", "cmc_rank_10": "0.7", "mAP": 0.3}},
               {"epoch": 1, "kpi": {"cmc_rank_1": 0.45, "cmc_rank_5": 0.65, "cmc_rank_10": 0.75}}]
    assert cmc_at(full, 3) == dict(zip(range(1, 21), curve))
    assert cmc_at(partial, 1) == {1: 0.45, 5: 0.65, 10: 0.75}
    assert cmc_at(partial, 0) == {1: 0.4, 5: 0.6, 10: 0.7}
    assert cmc_at(partial, 2) is None and cmc_at([{"epoch": 0, "kpi": {"cmc_rank_1": 0.4}}], 0) is None
    frame = pd.DataFrame({"number": [0, 1], "state": ["COMPLETE"] * 2, "value": [0.5, 0.45]})
    fig = run_figures.cmc_curves(frame, "maximize", {0: dict(zip(range(1, 21), curve)), 1: cmc_at(partial, 1)})
    assert [list(t.x) for t in fig.data] == [list(range(1, 21)), [1, 5, 10]]
    assert "rank-1/5/10 only" in fig.layout.title.text


# --- in a real browser --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    binary = install_chromium()
    if binary is None:
        pytest.skip("chromium is not installed and could not be installed (needs root and apt-get)")
    with Chromium(binary) as opened:
        yield opened


def _assert_drawn(visit, plots: int | None = None) -> None:
    checks = visit.checks
    assert visit.errors == [], visit.errors
    assert checks["drawn"] == checks["expected"] == len(checks["plots"]), checks
    if plots is not None:
        assert checks["expected"] == plots
    for plot in checks["plots"]:
        assert plot["svg"] >= 1 and plot["traces"] >= 1 and plot["marks"] >= 1 and plot["height"] > 100, plot
    pixels = np.asarray(Image.open(io.BytesIO(visit.screenshot)).convert("L"), dtype=float)
    assert pixels.std() > 20 and len(np.unique(pixels)) > 50  # not a blank page


def test_dashboard_of_an_automl_study_draws_in_headless_chromium(browser, automl_study, tmp_path):
    out = tmp_path / "study.html"
    assert main(["dashboard", "--results-dir", str(automl_study), "--out", str(out)]) == 0
    visit = browser.visit(out.as_uri(), READY, CHECKS)
    _assert_drawn(visit)
    ids = {p["id"] for p in visit.checks["plots"]}
    assert {"plot-history", "plot-curves", "plot-parallel", "plot-slices", "plot-timeline", "plot-failures"} <= ids
    assert visit.checks["rows"] == 5 and "simulated crash" in visit.checks["text"]


def test_dashboard_of_a_1000_trial_study_renders_fast_and_draws_in_headless_chromium(browser, tmp_path):
    record = synthetic_study(1000, results_dir=tmp_path / "big")
    started = time.perf_counter()
    page = render_dashboard(record)
    seconds = time.perf_counter() - started
    assert seconds < 3.0, seconds
    out = tmp_path / "big.html"
    write_atomically(out, page)
    visit = browser.visit(out.as_uri(), READY, CHECKS, timeout=120)
    _assert_drawn(visit, plots=9)  # every panel, the baseline and CMC ones included
    assert visit.checks["rows"] == 1000
    assert "NaN loss: training diverged" in visit.checks["text"]


def test_empty_study_page_opens_without_errors(browser, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(storage=url, study_name="empty")
    out = tmp_path / "empty.html"
    assert main(["dashboard", "--storage", url, "--study", "empty", "--out", str(out)]) == 0
    visit = browser.visit(out.as_uri(), READY, CHECKS)
    assert visit.errors == [] and visit.checks["expected"] == visit.checks["drawn"] == 0
    assert "No trials yet" in visit.checks["text"]


def test_a_served_page_reloads_itself_when_the_study_changes(browser, tmp_path, monkeypatch):
    monkeypatch.setattr(dashboard_module, "POLL_S", 0.5)
    url = f"sqlite:///{tmp_path / 'live.db'}"
    study = _plain_study(url)
    server = DashboardServer(DashboardPages(lambda: _record(study, url, tmp_path)), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.open(server.url, READY)
        first = browser.evaluate(page, "document.body.dataset.stamp")
        assert browser.evaluate(page, "document.querySelectorAll('#trials tbody tr').length") == 6
        study.add_trial(optuna.trial.create_trial(value=0.5, params={"x": 0.5, "kind": "a"},
                                                  distributions=study.trials[0].distributions))
        assert browser.wait_until(page, f"document.body.dataset.stamp !== '{first}' && window.dashboardReady", 30)
        visit = browser.leave(page, CHECKS)
    finally:
        server.shutdown()
        server.server_close()
    _assert_drawn(visit)
    assert visit.checks["rows"] == 7


@pytest.mark.slow
def test_dashboard_of_a_real_trainer_study_shows_full_cmc_curves(browser, tmp_path, tiny_dataset):
    from reid_core.actions.make_dataset import training_spec
    from reid_core.config import build_spec, dump_spec

    spec = tmp_path / "spec_train.yaml"
    dump_spec(build_spec([training_spec(tiny_dataset)], "train"), spec, "train")
    results = tmp_path / "study"
    assert main(["launch", "--skill-dir", str(ROOT), "--results-dir", str(results), "--spec", str(spec),
                 "--max-trials", "3", "--parallel", "2", "--gpus", "none", "--algorithm", "tpe",
                 "--hyperparameters", "train.optim.base_lr,dataset.re_prob"]) == 0
    record = StudyRecord.of_results_dir(results)
    assert record.summary is not None  # the handoff ran; the page written now shows its baseline panel
    assert main(["dashboard", "--results-dir", str(results)]) == 0
    curves = {t.number: t.cmc for t in record.trials() if t.cmc}
    cmc = run_figures.cmc_curves(frame_of(record), "maximize", curves)
    assert cmc is not None  # the trainer's full curve (up to 20 ranks; fewer on a tiny gallery), not rank-1/5/10
    assert all(list(trace.x) == list(range(1, len(trace.x) + 1)) and len(trace.x) > 3 for trace in cmc.data)
    visit = browser.visit((results / "dashboard.html").as_uri(), READY, CHECKS)
    _assert_drawn(visit)
    assert {"plot-baseline", "plot-cmc"} <= {p["id"] for p in visit.checks["plots"]}
