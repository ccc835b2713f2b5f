"""Dashboard figures for a 1,000-trial study: how long the page takes to generate from the study
record (target: under 3 s), its size, and with ``--browser`` how long headless Chromium takes to
draw it and to sort the trial table.

    .venv/bin/python bench/bench_dashboard.py [--trials 1000] [--dir DIR] [--repeats 3] [--browser]

The study is the fake ReID record of ``tests/study_builder.py`` (30 epochs, 8 GPUs, ASHA-like
pruning, failures, status.json with CMC curves, summary.json) in a SQLite file under DIR, made
once and reused (making it goes through Optuna's storage API: about a minute for 1,000 trials).
Generation = open the record + read the trials + build the frame and figures + write the HTML,
the same path as ``automl dashboard``; the command itself is timed too (its Python start and
imports included).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from studies import StudyRecord, render_dashboard
from studies.dashboard import write_atomically

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fake-study builder of the tests
from study_builder import synthetic_study  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMING = """JSON.stringify((() => {
  const th = document.querySelector('#trials thead th:nth-child(3)');
  const t0 = performance.now(); th.click(); const t1 = performance.now();
  return {ready_ms: window.dashboardReadyMs, plot_ms: window.dashboardTimings, sort_ms: t1 - t0, plots: Number(document.body.dataset.plotsDrawn),
          rows: document.querySelectorAll('#trials tbody tr').length};
})())"""


def _study(folder: Path, trials: int) -> float | None:
    if (folder / "study.json").exists():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    synthetic_study(trials, f"sqlite:///{folder / 'study.db'}", folder)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "reid-automl-bench-dashboard"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time drawing in headless Chromium")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(args.dir) / f"study-{args.trials}"
    made = _study(folder, args.trials)
    print(f"study: {args.trials} trials in {folder}" + (f" (made in {made:.1f} s)" if made else " (reused)"))
    out = folder / "dashboard.html"
    rows = {"open the record": [], "read the trials": [], "frame, figures, HTML": [], "write": [], "total": []}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        record = StudyRecord.of_results_dir(folder)
        t1 = time.perf_counter()
        trials = record.frozen()
        t2 = time.perf_counter()
        page = render_dashboard(record, frozen=trials)
        t3 = time.perf_counter()
        write_atomically(out, page)
        t4 = time.perf_counter()
        for name, seconds in zip(rows, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
            rows[name].append(seconds)
    print(f"page: {len(page) / 1e6:.1f} MB, {len(trials)} trials")
    print(f"| step | median of {args.repeats} (s) | min (s) |\n|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} |")
    started = time.perf_counter()
    command = [sys.executable, "-m", "automl", "dashboard", "--results-dir", str(folder), "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    print(f"`automl dashboard --results-dir` (new process, imports included): {time.perf_counter() - started:.2f} s")
    if args.browser:
        sys.path.insert(0, str(ROOT / "tests"))
        from headless_chromium import Chromium, find_chromium

        with Chromium(find_chromium()) as browser:
            visit = browser.visit(out.as_uri(), "window.dashboardReady === true", TIMING)
        timing = visit.checks
        print(f"headless Chromium: {timing['plots']} plots drawn {timing['ready_ms'] / 1000:.2f} s after navigation "
              f"started; sorting the {timing['rows']} table rows: {timing['sort_ms']:.0f} ms; "
              f"console errors: {len(visit.errors)}")
        print("time to each plot drawn (ms, from the first plot's start): " +
              ", ".join(f"{k.removeprefix('plot-')} {v}" for k, v in timing["plot_ms"].items()))


if __name__ == "__main__":
    main()
