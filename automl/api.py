"""The Python API behind the ``automl`` command: launch, resume, status, best, handoff."""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import optuna

from automl.algorithms import check_algorithm, first_configs, grid_size, optuna_parts
from automl.engines import ENGINES, engine_for
from automl.errors import AutomlError
from automl.estimate import estimate_trial_seconds
from automl.gpu_pool import GpuPool, resolve_gpus
from automl.handoff import handoff
from automl.launcher import same_process_alive, stop_group
from automl.options import StudyOptions, default_storage, read_marker, write_marker
from automl.policy import decide
from automl.progress import Progress
from automl.resolver import best_trial, checkpoint_of_epoch, epoch_values, metric_and_direction, resolve_checkpoint, \
    study_options
from automl.skill import Skill, load_skill
from automl.storage import load_study, open_storage, study_names, study_of_results_dir
from automl.study import ControllerLock, StudyRun, build_base_spec, spec_problems
from search_spaces import SearchSpaceError, compile_schema

TrialState = optuna.trial.TrialState
DRY_RUN_CONFIGS = 5


def _checked(options: StudyOptions, skill: Skill, on: bool) -> None:
    if options.engine not in ENGINES:
        raise AutomlError(f"--engine {options.engine}: expected one of {', '.join(ENGINES)}")
    if on:
        check_algorithm(options.algorithm, options.engine)
    if options.direction not in ("maximize", "minimize"):
        raise AutomlError(f"--direction {options.direction}: expected maximize or minimize")
    if skill.kpis and options.metric not in skill.kpis:
        raise AutomlError(f"--metric {options.metric}: the trainer reports {', '.join(skill.kpis)}; "
                          "a study on another name would score every trial 0")
    if options.max_trials < 1:
        raise AutomlError(f"--max-trials {options.max_trials}: must be at least 1")
    if options.max_epochs is not None and options.max_epochs < 1:
        raise AutomlError(f"--max-epochs {options.max_epochs}: must be at least 1")


def _base_spec(skill: Skill, options: StudyOptions) -> dict:
    if skill.template is None and not options.spec:
        raise AutomlError(f"{skill.root}: no train spec template; pass --spec")
    spec = build_base_spec(skill, options)
    probe = json.loads(json.dumps(spec))
    probe["results_dir"] = str(Path(options.results_dir).resolve() / "trials" / "0")
    problems = spec_problems(skill, probe)
    if problems:
        raise AutomlError(f"the train spec (template + --spec + overrides) is invalid, so every trial would be: "
                          f"{problems[0]}")
    return spec


def _space(skill: Skill, options: StudyOptions, base_spec: dict):
    try:
        return compile_schema(skill.schema, automl_hyperparameters=options.hyperparameters, base_spec=base_spec)
    except SearchSpaceError as err:
        raise AutomlError(f"search space: {err}") from None


def _run(options: StudyOptions, skill: Skill, base_spec: dict, space, study: optuna.Study, pool: GpuPool,
         say: Callable[[str], None]) -> None:
    with ControllerLock(options.results_dir), Progress(options.max_trials, options.metric, options.direction,
                                                       options.parallel) as progress:
        run = StudyRun(options, skill, base_spec, space, study, pool, progress)
        previous = {}

        def stop(signum: int, frame: Any) -> None:
            say(f"signal {signum}: stopping the running trials; `automl resume --results-dir "
                f"{options.results_dir}` continues the study")
            run.stop.set()
            raise KeyboardInterrupt

        if threading.current_thread() is threading.main_thread():
            previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM,)}
        try:
            engine_for(options.engine)(run).run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def launch(options: StudyOptions, policy: str | None = None, request: str | None = None, dry_run: bool = False,
           say: Callable[[str], None] = print) -> dict[str, Any] | None:
    """Launch a study (or, with the policy off, one plain training) and hand off its best checkpoint."""
    skill = load_skill(options.skill_dir)
    decision = decide(skill, policy, request)
    say(f"automl_policy {'on' if decision.on else 'off'}: {decision.reason}")
    metric, direction = skill.default_metric
    options = replace(options, metric=options.metric or metric, direction=options.direction or direction,
                      storage=options.storage or default_storage(options.results_dir))
    if not decision.on:
        options = replace(options, max_trials=1, algorithm="random", hyperparameters=None)
    _checked(options, skill, decision.on)
    marker = read_marker(options.results_dir)
    if marker is not None:
        raise AutomlError(f"--results-dir {options.results_dir}: already holds study '{marker['study']}'; "
                          "continue it with `automl resume` or choose another folder")
    base_spec = _base_spec(skill, options)
    space = _space(skill, options, base_spec) if decision.on else None
    if space is not None and options.algorithm == "grid":
        say(f"grid: {grid_size(space)} grid points; --max-trials {options.max_trials} of them are run")
    pool = GpuPool(resolve_gpus(None if options.gpus is None else ",".join(options.gpus) or "none"),
                   options.gpus_per_trial, options.parallel)
    if dry_run:
        _dry_run(options, skill, base_spec, space, pool, say)
        return None
    storage = open_storage(options.storage)
    if options.study in study_names(storage):
        raise AutomlError(f"--study {options.study}: already exists in {options.storage}; use `automl resume` or "
                          "another --study name")
    parts = optuna_parts(options.algorithm if decision.on else "random", space, options.seed,
                         options.max_epochs or int(base_spec.get("train", {}).get("num_epochs") or 1),
                         options.max_trials) \
        if space is not None and options.engine == "optuna" and options.algorithm != "pbt" else None
    study = optuna.create_study(storage=storage, study_name=options.study, direction=options.direction,
                                sampler=parts.sampler if parts else None, pruner=parts.pruner if parts else None)
    options = replace(options, gpus=pool.gpus)
    study.set_user_attr("options", options.to_json())
    study.set_user_attr("base_spec", json.dumps(base_spec))
    study.set_user_attr("policy", "on" if decision.on else "off")
    if space is not None:
        study.set_user_attr("search_space", space.describe())
    write_marker(options.results_dir, options.storage, options.study)
    if space is not None:
        config = StudyRun(options, skill, base_spec, space, study, pool, None).base_config()
        if config is not None:
            study.enqueue_trial(space.trial_params(config), user_attrs={"origin": "base spec", "config": config})
            say("trial 0 runs the base spec's own values (the baseline the search has to beat)")
        else:
            say("the base spec's values lie outside the search space; it is not run as a trial")
    else:
        study.enqueue_trial({}, user_attrs={"origin": "plain training"})
    return _finish(options, skill, base_spec, space, study, pool, say)


def _finish(options, skill, base_spec, space, study, pool, say) -> dict[str, Any] | None:
    _run(options, skill, base_spec, space, study, pool, say)
    if not options.handoff:
        return None
    return handoff(options, skill, study, base_spec, devices=pool.gpus)


def _dry_run(options, skill, base_spec, space, pool, say) -> None:
    if space is not None:
        say("Search space:\n" + space.describe())
        say(f"First configs the '{options.algorithm}' algorithm would try:")
        for i, config in enumerate(first_configs(space, options.algorithm, options.seed, DRY_RUN_CONFIGS)):
            say(f"  {i}: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items()))
    seconds, how = estimate_trial_seconds(skill, json.loads(json.dumps(base_spec)))
    devices = ",".join(pool.gpus) or f"cpu ({pool.threads} threads per trial)"
    say(f"Trials: {options.max_trials}, {options.parallel} at a time on {devices}, engine {options.engine}")
    if seconds is not None:
        total = seconds * options.max_trials / options.parallel
        say(f"Estimated time per trial: {seconds:.0f} s ({how}); whole study about {total / 60:.1f} min")
    else:
        say(f"Estimated time per trial: unknown ({how})")
    say("Dry run: nothing was started.")


def _repair(study: optuna.Study, say: Callable[[str], None]) -> None:
    """Stop trial processes a dead controller left behind, mark their trials interrupted, and
    enqueue their re-runs (continuing from their last checkpoint when they have one)."""
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid, ticks = trial.user_attrs.get("pid"), trial.user_attrs.get("start_ticks")
        if pid and same_process_alive(int(pid), ticks):
            stop_group(int(pid))
            say(f"trial {trial.number}: stopped its orphaned process {pid}")
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        storage.set_trial_user_attr(trial._trial_id, "failure", "interrupted: the controller stopped")
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    rerun = set(study.user_attrs.get("rerun", []))
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if not trial.user_attrs.get("interrupted") or trial.number in rerun:
            continue
        latest = Path(trial.user_attrs.get("results_dir", "")) / "train" / "reid_model_latest.pth"
        attrs = {"origin": f"resume of {trial.number}", "attempt": 1, "config": trial.user_attrs.get("config", {})}
        if latest.exists():
            attrs["resume_from"] = str(latest.resolve())
        if trial.user_attrs.get("origin") == "base spec":
            attrs["origin"] = "base spec"
        study.enqueue_trial(trial.params, user_attrs=attrs)
        rerun.add(trial.number)
        study.set_user_attr("rerun", sorted(rerun))
        say(f"trial {trial.number}: interrupted; re-run " + ("from its last checkpoint" if "resume_from" in attrs else "from scratch"))


def resume(results_dir: str, say: Callable[[str], None] = print) -> dict[str, Any] | None:
    """Continue a study after a crash or a stop: same record, trial numbers never repeat."""
    storage_url, name = study_of_results_dir(results_dir)
    holder = ControllerLock.holder(results_dir)
    if holder is not None:
        raise AutomlError(f"--results-dir {results_dir}: a controller (pid {holder['pid']}) is running this study")
    study = load_study(storage_url, name)
    options = study_options(study)
    if options is None:
        raise AutomlError(f"study {name}: has no launch options recorded; it was not launched by automl")
    skill = load_skill(options.skill_dir)
    base_spec = json.loads(study.user_attrs["base_spec"])
    space = _space(skill, options, base_spec) if study.user_attrs.get("policy") == "on" else None
    if space is not None and options.engine == "optuna" and options.algorithm != "pbt":
        parts = optuna_parts(options.algorithm, space, options.seed + len(study.trials),
                             options.max_epochs or int(base_spec.get("train", {}).get("num_epochs") or 1),
                             options.max_trials)
        study = optuna.load_study(study_name=name, storage=open_storage(storage_url), sampler=parts.sampler,
                                  pruner=parts.pruner)
    pool = GpuPool(tuple(options.gpus or ()), options.gpus_per_trial, options.parallel)
    _repair(study, say)
    counted = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()
               and not t.user_attrs.get("interrupted") and not t.user_attrs.get("superseded_by")]
    say(f"resuming study {name}: {len(counted)} of {options.max_trials} trials done")
    return _finish(options, skill, base_spec, space, study, pool, say)


def status(results_dir: str) -> dict[str, Any]:
    study = load_study(*study_of_results_dir(results_dir))
    metric, direction = metric_and_direction(study)
    trials = []
    for t in study.get_trials(deepcopy=False):
        train_dir = Path(t.user_attrs.get("results_dir", "")) / "train"
        values = epoch_values(train_dir, metric) if train_dir.is_dir() else {}
        checkpoint = None
        if values:
            from automl.resolver import best_epoch

            found = checkpoint_of_epoch(train_dir, best_epoch(values, direction))
            checkpoint = str(found) if found else None
        trials.append({
            "number": t.number, "state": t.state.name, "value": t.value,
            "params": t.user_attrs.get("config", t.params),
            "cuda_visible_devices": ",".join(d for d in t.user_attrs.get("devices", []) if d != "cpu"),
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
            "results_dir": t.user_attrs.get("results_dir"), "checkpoint": checkpoint,
            "failure": t.user_attrs.get("failure"), "origin": t.user_attrs.get("origin"),
        })
    try:
        best = best_trial(study)
        best_info: dict[str, Any] | None = {"number": best.number, "value": best.value,
                                            "params": best.user_attrs.get("config", best.params)}
    except AutomlError:
        best_info = None
    return {"study": study.study_name, "metric": metric, "direction": direction, "trials": trials, "best": best_info}


def best(results_dir: str, action: str = "evaluate", latest: bool = False) -> dict[str, Any]:
    return resolve_checkpoint(results_dir, action=action, latest=latest).as_dict()


def run_handoff(results_dir: str) -> dict[str, Any]:
    study = load_study(*study_of_results_dir(results_dir))
    options = study_options(study)
    if options is None:
        raise AutomlError(f"study {study.study_name}: has no launch options recorded")
    return handoff(options, load_skill(options.skill_dir), study, json.loads(study.user_attrs["base_spec"]),
                   devices=tuple(options.gpus or ()))
