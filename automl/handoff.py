"""After a study: hand the best checkpoint to evaluate, export and inference, and summarise.

Trials select on the validation split carved from the training identities; only here is the
test query/gallery used: the resolved checkpoint (and the baseline's, when there is one) is
evaluated on it, exported to ONNX and run through inference, with the skill's own commands.
The baseline is the starting checkpoint of the base spec when it has one, else the trial that
ran the base spec's own values. The summary goes to ``<results>/summary.json`` and the console.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from automl.budget import Budget
from automl.errors import AutomlError
from automl.options import StudyOptions
from automl.resolver import ResolvedCheckpoint, resolve_checkpoint, trial_checkpoint
from automl.skill import Skill
from reid_core.status import read_status
from schemas import spec as specs
from studies.constraints import parse_constraints
from studies.errors import RecordError
from studies.live import refresh_dashboard
from studies.pareto import front_rows
from studies.record import StudyRecord
from studies.trial_record import TrialRecord


def executable(command: list[str]) -> list[str]:
    """The command with its program found on PATH or next to this Python (a venv's bin/)."""
    if shutil.which(command[0]) is None:
        sibling = Path(sys.executable).parent / command[0]
        if sibling.exists():
            return [str(sibling), *command[1:]]
    return command


def _action_spec(base_spec: dict, action: str, checkpoint: Path, out: Path, re_ranking: dict | None = None) -> dict:
    spec = specs.merge(base_spec)
    spec["results_dir"] = str(out)
    if re_ranking is not None:
        spec["re_ranking"] = {**(spec.get("re_ranking") or {}), **re_ranking}
    dataset = spec.get("dataset", {})
    section = {"checkpoint": str(checkpoint)}
    if action in ("evaluate", "inference"):  # the test query/gallery, never the validation split
        section.update(query_dataset=dataset.get("query_dataset_dir", ""), test_dataset=dataset.get("test_dataset_dir", ""))
    if action == "inference":
        section["top_k"] = 10
    spec[action] = section
    return spec


def run_action(skill: Skill, base_spec: dict, action: str, checkpoint: Path, out: Path, devices: tuple[str, ...],
               re_ranking: dict | None = None) -> dict:
    """Run one action of the skill on a checkpoint; returns its last status line (KPIs included).

    ``re_ranking`` (the spec's ``re_ranking`` keys) is merged into the action's spec when given.
    """
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / f"spec_{action}.yaml"
    specs.write_yaml(_action_spec(base_spec, action, checkpoint, out, re_ranking), spec_path)
    command = ((skill.info.get("actions") or {}).get(action) or {}).get("command")
    if not command:
        raise AutomlError(f"{skill.root}: the skill has no '{action}' action")
    argv = executable([part.replace("{config_path}", str(spec_path)) for part in command.split()])
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(devices[:1])}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    (out / f"{action}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise AutomlError(f"{action} of {checkpoint} failed (exit {done.returncode}): {last}")
    lines = read_status(out / action / "status.json")
    return lines[-1] if lines else {}


def starting_checkpoint(base_spec: dict) -> Path | None:
    model = base_spec.get("model", {})
    candidates = [base_spec.get("train", {}).get("resume_training_checkpoint_path")]
    if model.get("pretrain_choice") == "self":
        candidates.append(model.get("pretrained_model_path"))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def tuned_re_ranking(skill: Skill, base_spec: dict, checkpoint: Path, out: Path,
                     devices: tuple[str, ...]) -> dict[str, Any]:
    """Choose k-reciprocal re-ranking for the checkpoint on its validation features (the skill's
    ``tune_reranking``; the test set is never read); the summary's ``re_ranking`` entry.

    Holds ``chosen`` (the spec's ``re_ranking`` keys), ``metric``, ``validation_with`` and
    ``validation_without`` (KPIs), ``candidates`` and ``seconds``; or ``skipped`` and why.
    """
    if "tune_reranking" not in (skill.info.get("actions") or {}):
        return {"skipped": "the skill has no tune_reranking action"}
    if not specs.get(base_spec, "dataset.val_split"):
        return {"skipped": "dataset.val_split is 0: no validation split to choose on, and the test set is not "
                           "used for choices"}
    try:
        done = run_action(skill, base_spec, "tune_reranking", checkpoint, out, devices)
    except (AutomlError, OSError) as err:
        return {"skipped": str(err)}
    return {"chosen": done.get("re_ranking") or {"re_ranking": False}, "metric": done.get("metric"),
            "validation_with": done.get("kpi", {}), "validation_without": done.get("kpi_without_re_ranking", {}),
            "candidates": done.get("candidates"), "seconds": done.get("seconds")}


def evaluate_best(skill: Skill, spec: dict, checkpoint: Path, out: Path, devices: tuple[str, ...],
                  re_ranking: dict[str, Any], plain: dict | None) -> dict:
    """The checkpoint on the test set as ``plain`` says (no re-ranking once it was tuned); when a
    re-ranking was chosen, also with it, in the handoff's evaluate spec (``out/best``): ``re_ranking``
    gains ``test_with`` and ``evaluate_spec``, or ``test_failed`` (then the plain run takes its place)."""
    chosen = re_ranking.get("chosen") or {}
    if chosen.get("re_ranking"):
        try:
            tuned = run_action(skill, spec, "evaluate", checkpoint, out / "best", devices, chosen)
        except (AutomlError, OSError) as err:  # e.g. out of memory on the larger test set: hand off without
            re_ranking["test_failed"] = str(err)
        else:
            re_ranking.update(test_with=tuned.get("kpi", {}), evaluate_spec=str(out / "best" / "spec_evaluate.yaml"))
            return run_action(skill, spec, "evaluate", checkpoint, out / "best_without_re_ranking", devices, plain)
    return run_action(skill, spec, "evaluate", checkpoint, out / "best", devices, plain)


def _base_trial(trials: list[TrialRecord]) -> TrialRecord | None:
    """The completed trial that ran the base spec's own values (a PBT clone of it is not)."""
    found = [t for t in trials if t.state == "COMPLETE" and t.origin == "base spec" and not t.lineage]
    return found[0] if found else None


def trial_rows(trials: list[TrialRecord]) -> list[dict[str, Any]]:
    return [{"number": t.number, "state": t.state, "value": t.value, "origin": t.origin, "devices": list(t.devices),
             "host": t.host, "epochs_done": len(t.epochs), "failure": t.failure, "stopped_early": t.stopped_early,
             "params": t.config or t.params}
            for t in trials]


def handoff(options: StudyOptions, skill: Skill, record: StudyRecord, devices: tuple[str, ...] = (),
            console: Console | None = None) -> dict[str, Any]:
    """Evaluate, export and run inference with the best checkpoint; write and print the summary."""
    console = console or Console()
    base_spec = record.meta.base_spec
    out = Path(options.results_dir).resolve() / "handoff"
    constraints = parse_constraints(options.constraints)
    try:
        best: ResolvedCheckpoint = resolve_checkpoint(record, constraints=constraints)
    except RecordError as err:
        raise AutomlError(str(err)) from None
    trials = record.trials()
    best_trial = next(t for t in trials if t.number == best.trial)
    best_spec = specs.with_values(base_spec, best_trial.config)  # as it trained: its checkpoint's model keys
    summary: dict[str, Any] = {
        "study": record.name, "storage": record.masked_url, "metric": options.metric,
        "direction": options.direction, "selection": "validation split carved from the training identities"
        if specs.get(base_spec, "dataset.val_split") else "test query/gallery (TAO-compatible mode)",
        "best": {**best.as_dict(), "checkpoint": str(best.checkpoint.resolve()), "params": best_trial.config,
                 "kpis": best_trial.kpis},
    }
    if constraints:
        summary["constraints"] = [str(c) for c in constraints]
    re_ranking = tuned_re_ranking(skill, best_spec, best.checkpoint, out / "best", devices)
    plain = {"re_ranking": False} if "chosen" in re_ranking else None  # like for like with the tuned one
    evaluation = evaluate_best(skill, best_spec, best.checkpoint, out, devices, re_ranking, plain)
    summary["test_evaluation"] = evaluation.get("kpi", {})
    summary["re_ranking"] = re_ranking
    baseline_checkpoint, baseline_name = starting_checkpoint(base_spec), "starting checkpoint"
    base_trial = _base_trial(trials)
    if baseline_checkpoint is None and base_trial is not None and base_trial.number != best.trial:
        try:
            baseline_checkpoint = trial_checkpoint(record, base_trial)[1]
            baseline_name = f"base spec (trial {base_trial.number})"
        except (AutomlError, RecordError) as err:
            console.print(f"baseline not evaluated: {err}")
    if base_trial is not None:
        summary["base_spec_trial"] = {"trial": base_trial.number, "value": base_trial.value}
    if baseline_checkpoint is not None:
        baseline = run_action(skill, base_spec, "evaluate", baseline_checkpoint, out / "baseline", devices, plain)
        summary["baseline"] = {"source": baseline_name, "checkpoint": str(baseline_checkpoint),
                               "test_evaluation": baseline.get("kpi", {})}
    elif base_trial is not None and base_trial.number == best.trial:
        summary["baseline"] = {"source": f"base spec (trial {base_trial.number}) is the best trial",
                               "test_evaluation": summary["test_evaluation"]}
    exported = run_action(skill, best_spec, "export", best.checkpoint, out / "best", devices)
    summary["export"] = {"onnx_file": str(out / "best" / "export" / "reid.onnx"),
                         "max_abs_diff": (exported.get("kpi") or {}).get("max_abs_diff")}
    run_action(skill, best_spec, "inference", best.checkpoint, out / "best", devices)
    summary["inference"] = {"output_file": str(out / "best" / "inference" / "inference.json")}
    summary["trials"] = trial_rows(trials)
    failures: dict[str, list[int]] = {}
    for row in summary["trials"]:
        if row["state"] == "FAIL":
            failures.setdefault(row["failure"] or "unknown", []).append(row["number"])
    summary["failures"] = failures
    summary["device_hours"] = record.device_hours(trials)
    if record.meta.multi_objective:
        objectives = list(zip(record.meta.metrics, record.meta.directions))
        summary["objectives"] = [list(o) for o in objectives]
        summary["pareto_front"] = front_rows(trials, objectives, record.metric)
    if record.meta.warm_start:
        summary["warm_start"] = record.meta.warm_start
    if options.budget_hours or options.timeout:
        started = record.meta.started_at or time.time()
        summary["budget"] = Budget(options.budget_hours, options.timeout, started).report(trials, record.spent())
    noise = record.selection_noise(trials)
    if noise is not None:
        summary["selection_noise"] = noise.as_dict()
        summary["selection_noise"]["lines"] = noise.lines()
    record.write_summary(summary)
    refresh_dashboard(record, live=False)  # adds the baseline-vs-best panel
    print_summary(summary, console)
    return summary


def _percent(value: Any) -> str:
    return f"{value * 100:.2f}%" if isinstance(value, (int, float)) else "-"


def re_ranking_lines(entry: dict[str, Any], without: dict[str, Any]) -> list[str]:
    """What the tuned re-ranking chose on validation and what it gives on the test set."""
    if not entry:
        return []
    if "skipped" in entry:
        return [f"Re-ranking not tuned: {entry['skipped']}"]
    chosen, metric = entry["chosen"], entry.get("metric") or "mAP"
    head = (f"Re-ranking tuned on the validation split ({entry.get('candidates')} candidates by {metric}, "
            f"{entry.get('seconds') or 0:.2f} s): ")
    if not chosen.get("re_ranking"):
        return [head + f"no candidate beats none ({metric} {_percent(entry['validation_without'].get(metric))}); "
                       "left off"]
    if entry.get("test_failed"):
        return [head + f"k1={chosen['k1']}, k2={chosen['k2']}, lambda_value={chosen['lambda_value']}, but the test "
                       f"evaluation with them failed ({entry['test_failed']}); handed off without"]
    with_it = entry.get("test_with") or {}
    changes = ", ".join(f"{name} {_percent(without.get(name))} -> {_percent(with_it.get(name))}"
                        for name in ("mAP", "cmc_rank_1") if name in with_it)
    return [head + f"k1={chosen['k1']}, k2={chosen['k2']}, lambda_value={chosen['lambda_value']}",
            f"  test without -> with: {changes}",
            f"  evaluate spec with these values: {entry.get('evaluate_spec')}"]


def print_summary(summary: dict[str, Any], console: Console) -> None:
    metric = summary["metric"]
    trials = Table(title=f"Study {summary['study']}: trials ({metric} on the {summary['selection']})")
    for column in ("trial", "state", metric, "origin", "devices", "epochs", "failure"):
        trials.add_column(column)
    for row in summary["trials"]:
        trials.add_row(str(row["number"]), row["state"], _percent(row["value"]), str(row["origin"] or ""),
                       ",".join(row["devices"] or []), str(row["epochs_done"] or ""), (row["failure"] or "")[:70])
    console.print(trials)
    best = summary["best"]
    console.print(f"Best trial {best['trial']}: {metric} {_percent(best['value'])} (validation) at epoch {best['epoch']}")
    for line in (summary.get("selection_noise") or {}).get("lines", []):
        console.print(f"  {line}")
    console.print("  " + ", ".join(f"{k}={v}" for k, v in best["params"].items()))
    console.print(f"  checkpoint: {best['checkpoint']}")
    table = Table(title="Test query/gallery")
    names = list(summary["test_evaluation"])
    table.add_column("")
    for name in names:
        table.add_column(name)
    if "baseline" in summary:
        baseline = summary["baseline"]["test_evaluation"]
        table.add_row(f"baseline: {summary['baseline']['source']}", *[_percent(baseline.get(n)) for n in names])
    table.add_row(f"best: trial {best['trial']}", *[_percent(summary["test_evaluation"].get(n)) for n in names])
    console.print(table)
    for line in re_ranking_lines(summary.get("re_ranking") or {}, summary["test_evaluation"]):
        console.print(line)
    if summary.get("pareto_front"):
        names = [name for name, _ in summary["objectives"]]
        front = Table(title="Pareto front (" + ", ".join(f"{n} {d}" for n, d in summary["objectives"]) + ")")
        for column in ("trial", *names, "handed off"):
            front.add_column(column)
        for row in summary["pareto_front"]:
            front.add_row(str(row["trial"]), *[f"{row[n]:.4g}" for n in names],
                          "yes" if row["trial"] == best["trial"] else "")
        console.print(front)
    if summary.get("warm_start"):
        warm = summary["warm_start"]
        console.print(f"Warm-started from {warm['source']}: {warm['observations']} earlier trials as observations, "
                      f"its trials {', '.join(map(str, warm['replayed'])) or 'none'} replayed first")
    if summary.get("budget"):
        b = summary["budget"]
        limits = ", ".join(x for x in (f"{b['budget_hours']:g} device-hours" if b["budget_hours"] else "",
                                       f"{b['timeout_s']:g} s" if b["timeout_s"] else "") if x)
        console.print(f"Budget {limits}: used {b['used_hours']:.3g} device-hours in {b['elapsed_s']:.0f} s"
                      + (f"; {b['ended_by']}" if b["ended_by"] else ""))
    hours = summary["device_hours"]
    console.print(f"Device-hours used {hours['used']:.3f}, saved by pruning {hours['saved_by_pruning']:.3f}")
    for cause, numbers in summary["failures"].items():
        console.print(f"Failed ({len(numbers)}): {cause} — trials {', '.join(map(str, numbers))}")
    console.print(f"ONNX: {summary['export']['onnx_file']} (max abs diff {summary['export']['max_abs_diff']})")
    console.print(f"Inference: {summary['inference']['output_file']}")
