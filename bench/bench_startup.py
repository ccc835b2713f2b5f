"""Start-up of the commands that only read a study, against the trainer's own start-up.

Each command runs as a new process (imports included) on a 20-trial fake study in SQLite; the
trainer's start-up is the import of its train action (torch and Lightning), which every trial
process pays before its first step unless it is forked from a process that already paid it.

    .venv/bin/python bench/bench_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake-study builder of the tests
from study_builder import synthetic_study  # noqa: E402


def _seconds(command: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats + 1):  # the first run warms the file cache and is not counted
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-startup-")) / "study"
    synthetic_study(20, f"sqlite:///{folder / 'study.db'}", folder)
    python = sys.executable
    commands = {
        "automl status": [python, "-m", "automl", "status", "--results-dir", str(folder)],
        "automl best": [python, "-m", "automl", "best", "--results-dir", str(folder)],
        "automl trials": [python, "-m", "automl", "trials", "--results-dir", str(folder), "--csv",
                          str(folder / "t.csv")],
        "automl studies": [python, "-m", "automl", "studies", "--storage", f"sqlite:///{folder / 'study.db'}"],
        "automl dashboard": [python, "-m", "automl", "dashboard", "--results-dir", str(folder)],
        "trainer start-up (import of its train action)": [python, "-c", "import reid_core.actions.train"],
        "python alone": [python, "-c", "pass"],
    }
    print(f"| command | median (s) | min (s) | max (s) |  ({args.repeats} runs each, new processes)")
    print("|---|---|---|---|")
    for name, command in commands.items():
        times = _seconds(command, args.repeats)
        print(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} | {max(times):.2f} |")


if __name__ == "__main__":
    main()
