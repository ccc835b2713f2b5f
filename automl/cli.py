"""``automl``: launch, resume and inspect studies.

    automl launch --skill-dir DIR --results-dir R [--spec FILE] [--policy on|off] [--request TEXT]
                  [--algorithm NAME] [--engine optuna|ray] [--max-trials N] [--max-epochs E]
                  [--gpus 0,1,...|none] [--gpus-per-trial K] [--parallel P] [--storage URL]
                  [--study NAME] [--dry-run] [dot.key=value ...]
    automl resume --results-dir R
    automl worker --storage URL --study NAME --results-dir R [--gpus 0,1|none] [--parallel P]
                  [--skill-dir DIR] [--spec FILE] [--wait S]
    automl status --results-dir R [--json]
    automl best --results-dir R [--action evaluate|export|inference] [--latest] [--json]
    automl handoff --results-dir R
    automl dashboard (--results-dir R | --storage URL --study NAME) [--out FILE.html]
                     [--serve [--port N] [--host 127.0.0.1]]
    automl trials (--results-dir R | --storage URL --study NAME) [--csv FILE] [--parquet FILE]
    automl studies --storage URL

A user error prints one line and exits 2; a study that stops itself (its first trials all
failed) exits 1 with the diagnosis.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from typing import NoReturn, Sequence

import optuna

from automl import api, inspect
from automl.algorithms import ALGORITHMS
from automl.errors import AutomlError, StudyStopped
from automl.options import StudyOptions
from schemas import SchemaError
from schemas.spec import SpecError
from search_spaces import SearchSpaceError
from studies.errors import RecordError
from studies.storage import STORAGE_ENV

PROG = "automl"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise AutomlError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="AutoML studies for person re-identification.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    launch = commands.add_parser("launch", help="start a study (or one plain training)")
    launch.add_argument("--skill-dir", required=True)
    launch.add_argument("--results-dir", required=True)
    launch.add_argument("--spec")
    launch.add_argument("--policy", choices=("on", "off"))
    launch.add_argument("--request", help="the user's words; 'no HPO', 'plain training', ... turn AutoML off")
    launch.add_argument("--algorithm", default="bayesian", help=f"one of {', '.join(ALGORITHMS)}")
    launch.add_argument("--engine", default="optuna", help="optuna (embedded) or ray")
    launch.add_argument("--ray-address", help="an existing Ray cluster (engine ray)")
    launch.add_argument("--max-trials", type=int, default=10)
    launch.add_argument("--max-epochs", type=int)
    launch.add_argument("--gpus", help="comma-separated GPU ids, or none (default: every visible GPU)")
    launch.add_argument("--gpus-per-trial", type=int, default=1)
    launch.add_argument("--parallel", type=int, default=1)
    launch.add_argument("--storage", default=os.environ.get(STORAGE_ENV),
                        help=f"SQLAlchemy URL (default ${STORAGE_ENV}, else sqlite:///RESULTS/study.db)")
    launch.add_argument("--study", default="reid-automl")
    launch.add_argument("--metric", help="KPI to optimise (default: the skill's, cmc_rank_1); several, comma-separated "
                                         "(cmc_rank_1,latency_ms): a multi-objective study")
    launch.add_argument("--direction", help="maximize or minimize, one per --metric (comma-separated)")
    launch.add_argument("--hyperparameters", help="comma-separated keys replacing the schema's default search set")
    launch.add_argument("--retries", type=int, default=1, help="re-runs of a trial that failed for infrastructure causes")
    launch.add_argument("--trial-timeout", type=float, help="seconds before a trial is stopped and failed")
    launch.add_argument("--seed", type=int, default=0)
    launch.add_argument("--keep-checkpoints", action="store_true")
    launch.add_argument("--heartbeat", type=int, default=10,
                        help="seconds between a running trial's heartbeats in the record (stale after 6 missed)")
    launch.add_argument("--no-handoff", action="store_true", help="skip the final evaluate/export/inference")
    launch.add_argument("--dry-run", action="store_true")
    launch.add_argument("--budget-hours", type=float, help="device-hours across every trial; no trial starts past it")
    launch.add_argument("--timeout", type=float, help="wall-clock seconds for the whole study")
    launch.add_argument("--constraint", action="append", default=[], metavar="KPI<=N",
                        help="the handed-off trial must meet it, e.g. latency_ms<=5 (repeatable)")
    launch.add_argument("--warm-start", metavar="SOURCE",
                        help="an earlier study (its results dir, or URL#study): its best configs run first and "
                             "its trials inform the sampler")
    launch.add_argument("overrides", nargs="*", help="dot.key=value spec overrides kept in every trial")
    for name in ("resume", "status", "best", "handoff"):
        sub = commands.add_parser(name)
        sub.add_argument("--results-dir", required=True)
        if name in ("status", "best"):
            sub.add_argument("--json", action="store_true")
        if name == "best":
            sub.add_argument("--action", default="evaluate", choices=("evaluate", "export", "inference", "train"))
            sub.add_argument("--latest", action="store_true")
            sub.add_argument("--pareto", action="store_true", help="list the Pareto front of the study's objectives")
        if name in ("best", "handoff"):
            sub.add_argument("--constraint", action="append", default=[], metavar="KPI<=N",
                             help="only trials meeting it, e.g. latency_ms<=5 (repeatable)")
    join = commands.add_parser("worker", help="join a study from this machine: run its trials on this machine's "
                                              "devices until its budget is spent")
    join.add_argument("--storage", default=os.environ.get(STORAGE_ENV), help=f"the study's storage URL "
                                                                             f"(default ${STORAGE_ENV})")
    join.add_argument("--study", required=True)
    join.add_argument("--results-dir", required=True, help="this worker's folder for its trials")
    join.add_argument("--gpus", help="comma-separated GPU ids, or none (default: every visible GPU)")
    join.add_argument("--parallel", type=int, help="trials at a time on this machine (default: the launch's)")
    join.add_argument("--skill-dir", help="the study's skill dir on this machine (default: the launch's)")
    join.add_argument("--spec", help="checked against the study's spec (default: the study's own)")
    join.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the study to be launched "
                                                                "(workers started together with the launch)")
    dashboard = commands.add_parser("dashboard", help="write the study's HTML dashboard (and serve it)")
    trials = commands.add_parser("trials", help="one row per trial, as CSV (stdout by default) or Parquet")
    for sub in (dashboard, trials):
        sub.add_argument("--results-dir")
        sub.add_argument("--storage", help="SQLAlchemy URL of the study record")
        sub.add_argument("--study", help="study name in --storage")
    dashboard.add_argument("--out", help="the HTML file (default RESULTS/dashboard.html)")
    dashboard.add_argument("--serve", action="store_true", help="serve it over HTTP, refreshed as the study runs")
    dashboard.add_argument("--port", type=int, default=8050)
    dashboard.add_argument("--host", default="127.0.0.1")
    trials.add_argument("--csv")
    trials.add_argument("--parquet")
    commands.add_parser("studies", help="list the studies in a storage").add_argument(
        "--storage", default=os.environ.get(STORAGE_ENV), help=f"SQLAlchemy URL (default ${STORAGE_ENV})")
    return parser


def _options(args: argparse.Namespace) -> StudyOptions:
    gpus = None
    if args.gpus is not None:
        gpus = () if args.gpus.strip().lower() in ("none", "cpu", "") else tuple(p.strip() for p in args.gpus.split(","))
    hyperparameters = tuple(k.strip() for k in args.hyperparameters.split(",") if k.strip()) if args.hyperparameters else None
    metrics = [m.strip() for m in (args.metric or "").split(",")] if args.metric else []
    directions = [d.strip() for d in (args.direction or "").split(",")] if args.direction else []
    if len(metrics) > 1 and len(directions) != len(metrics):
        raise AutomlError(f"--metric {args.metric} --direction {args.direction or '(none)'}: {len(metrics)} metrics "
                          f"need {len(metrics)} directions, comma-separated")
    if len(metrics) <= 1 and len(directions) > 1:
        raise AutomlError(f"--direction {args.direction}: {len(directions)} directions for one metric")
    return StudyOptions(
        skill_dir=args.skill_dir, results_dir=args.results_dir, storage=args.storage or "", study=args.study,
        spec=args.spec, overrides=tuple(args.overrides), algorithm=args.algorithm, engine=args.engine,
        metric=metrics[0] if metrics else "", direction=directions[0] if directions else "",
        more_objectives=tuple(zip(metrics[1:], directions[1:])), max_trials=args.max_trials,
        max_epochs=args.max_epochs, gpus=gpus, gpus_per_trial=args.gpus_per_trial, parallel=args.parallel,
        retries=args.retries, seed=args.seed, keep_checkpoints=args.keep_checkpoints,
        hyperparameters=hyperparameters, trial_timeout=args.trial_timeout, ray_address=args.ray_address,
        handoff=not args.no_handoff, heartbeat=args.heartbeat, constraints=tuple(args.constraint),
        budget_hours=args.budget_hours, timeout=args.timeout,
    )


def _print_status(data: dict) -> None:
    print(f"study {data['study']} ({data['metric']}, {data['direction']})")
    for t in data["trials"]:
        value = "" if t["value"] is None else f"{t['value']:.4f}"
        print(f"  #{t['number']:<4} {t['state']:<9} {value:<8} {t['cuda_visible_devices'] or 'cpu':<6} "
              f"{t['origin'] or ''}  {t['failure'] or ''}")
    if data["best"]:
        print(f"best: #{data['best']['number']} {data['metric']}={data['best']['value']:.4f}")


def _print_front(data: dict) -> None:
    names = [name for name, _ in data["objectives"]]
    print(f"study {data['study']}: Pareto front of " + ", ".join(f"{n} ({d})" for n, d in data["objectives"]))
    for row in data["front"]:
        mark = "  <- handed off" if row["trial"] == data["handed_off"] else ""
        print(f"  #{row['trial']:<4} " + "  ".join(f"{n}={row[n]:.4g}" for n in names) + mark)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.command == "launch":
            api.launch(_options(args), policy=args.policy, request=args.request, dry_run=args.dry_run,
                       warm_start=args.warm_start)
        elif args.command == "resume":
            api.resume(args.results_dir)
        elif args.command == "worker":
            if not args.storage:
                raise AutomlError(f"--storage: required (or ${STORAGE_ENV}): the URL of the study's record")
            api.worker(args.storage, args.study, args.results_dir, args.gpus, args.parallel, args.skill_dir,
                       args.spec, args.wait)
        elif args.command == "status":
            data = inspect.status(args.results_dir)
            print(json.dumps(data, indent=2)) if args.json else _print_status(data)
        elif args.command == "best":
            if args.pareto:
                front = inspect.pareto(args.results_dir, tuple(args.constraint))
                print(json.dumps(front)) if args.json else _print_front(front)
            else:
                data = inspect.best(args.results_dir, args.action, args.latest, tuple(args.constraint))
                print(json.dumps(data)) if args.json else print(data["checkpoint"])
        elif args.command in ("dashboard", "trials", "studies"):
            from studies import commands  # pandas and plotly: paid only by the commands that draw or tabulate

            if args.command == "dashboard":
                commands.dashboard(args.results_dir, args.storage, args.study, args.out, args.serve, args.host,
                                   args.port)
            elif args.command == "trials":
                commands.export(args.results_dir, args.storage, args.study, args.csv, args.parquet)
            else:
                if not args.storage:
                    raise AutomlError(f"--storage: required (or ${STORAGE_ENV})")
                commands.print_studies(args.storage)
        else:
            api.run_handoff(args.results_dir, tuple(args.constraint) if args.constraint else None)
        return 0
    except (AutomlError, SearchSpaceError, SchemaError, RecordError, SpecError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except StudyStopped as err:
        print(f"{PROG}: study stopped: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; `automl resume` continues the study", file=sys.stderr)
        return 130
