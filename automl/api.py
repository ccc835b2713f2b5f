"""The Python API behind the ``automl`` command: launch, resume, worker and handoff.

``launch`` creates the study record and is its first worker; ``worker`` joins it from any machine;
``resume`` continues it in a results dir after a crash or a stop. A worker runs trials on its own
devices until the study's budget is spent across every worker of the study; the launching worker
then hands the best checkpoint off. Read-only commands (status, best) live in ``automl.inspect``.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import optuna

from automl.algorithms import LEARNING, first_configs, grid_size, optuna_parts
from automl.checks import check_budget, check_launch
from automl.engines import engine_for
from automl.errors import AutomlError
from automl.estimate import estimate_trial_seconds
from automl.gpu_pool import GpuPool, resolve_gpus
from automl.handoff import handoff
from automl.lock import ControllerLock
from automl.options import StudyOptions, default_storage
from automl.policy import decide
from automl.progress import Progress
from automl.skill import Skill, load_skill
from automl.data_fit import fit_to_data, hold_unsearchable
from automl.specs import build_base_spec, is_our_trainer, max_epochs, spec_problems
from automl.study import StudyRun, worker_id
from automl.trial_process import same_process_alive, stop_group
from automl import warm_start as warm_starts
from reid_core.errors import ReidError
from reid_core.training_set import TrainingSet, describe_training_set
from search_spaces import SearchSpace, SearchSpaceError, compile_schema
from studies.errors import RecordError
from studies.constraints import parse_constraints
from studies.record import StudyRecord
from schemas.spec import flatten
from studies.results_dir import read_marker, write_marker
from studies.trial_record import HOST, StudyMeta, TrialRecord

DRY_RUN_CONFIGS = 5
COST_KPIS = ("latency_ms", "params_m", "gflops")  # deployment-cost objectives: the architecture is searched
WAIT_POLL_S = 0.2


def _probe_spec(options: StudyOptions, base_spec: dict) -> dict:
    """The base spec as a trial would run it (its own results dir)."""
    probe = json.loads(json.dumps(base_spec))
    probe["results_dir"] = str(options.trials_dir.resolve() / "0")
    return probe


def _base_spec(skill: Skill, options: StudyOptions) -> dict:
    spec = build_base_spec(skill, options)
    problems = spec_problems(skill, _probe_spec(options, spec))
    if problems:
        raise AutomlError(f"the train spec (template + --spec + overrides) is invalid, so every trial would be: "
                          f"{problems[0]}")
    return spec


def _space(skill: Skill, options: StudyOptions, base_spec: dict) -> SearchSpace:
    """The study's space as recorded: its searched keys and the ranges its data can fill."""
    try:
        return compile_schema(skill.schema, automl_hyperparameters=options.hyperparameters,
                              custom_param_ranges=options.narrowed or None, base_spec=base_spec)
    except SearchSpaceError as err:
        raise AutomlError(f"search space: {err}") from None


def _fitted_space(skill: Skill, options: StudyOptions, base_spec: dict,
                  say: Callable[[str], None]) -> tuple[SearchSpace, StudyOptions, TrainingSet | None]:
    """At launch: the space less what the spec leaves no room for, narrowed to what the training set
    can fill (automl.data_fit); the options that make it again, and the training set scanned."""
    searched = options.hyperparameters or tuple(skill.schema.get("automl_default_parameters") or ())
    cost = [m for m in options.metrics[1:] if m in COST_KPIS]
    if cost and not options.hyperparameters:
        architecture = tuple(k for k in skill.schema.get("x_automl_cost_parameters") or () if k not in searched)
        searched += architecture
        if architecture:
            say(f"{', '.join(cost)} is an objective: the architecture is searched too ({', '.join(architecture)})")
    def compiled(keys: tuple[str, ...]) -> SearchSpace:
        return compile_schema(skill.schema, automl_hyperparameters=keys, base_spec=base_spec)

    try:
        space, keys = hold_unsearchable(compiled, searched, say)
    except SearchSpaceError as err:
        raise AutomlError(f"search space: {err}") from None
    options = replace(options, hyperparameters=keys)
    if not is_our_trainer(skill):
        return space, options, None
    try:
        data = describe_training_set(_probe_spec(options, base_spec))
    except ReidError as err:
        raise AutomlError(str(err)) from None
    fit = fit_to_data(space, base_spec, data)
    for note in fit.notes:
        say(note)
    if not fit.ranges:
        return space, options, data
    options = replace(options, narrowed=fit.ranges)
    return _space(skill, options, base_spec), options, data


def _parts(options: StudyOptions, space: SearchSpace | None, base_spec: dict, seed: int):
    """The record's sampler (it proposes for either engine) and pruner (Ray's schedulers prune there)."""
    if space is None:
        return None
    name = "random" if options.algorithm == "pbt" else options.algorithm  # PBT starts from random draws
    parts = optuna_parts(name, space, seed, max_epochs(base_spec), options.max_trials)
    return parts if options.engine == "optuna" else replace(parts, pruner=optuna.pruners.NopPruner())


def _work(options: StudyOptions, skill: Skill, space: SearchSpace | None, record: StudyRecord, pool: GpuPool,
          say: Callable[[str], None]) -> None:
    """Run trials as one worker of the study until its budget is spent (SIGTERM stops it cleanly)."""
    with Progress(options.max_trials, options.metric, options.direction, options.parallel) as progress:
        run = StudyRun(options, skill, record.meta.base_spec, space, record, pool, progress)
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


def _handoff(options: StudyOptions, skill: Skill, record: StudyRecord) -> dict[str, Any] | None:
    if not options.handoff or not record.is_finished():
        return None
    return handoff(options, skill, record, devices=tuple(options.gpus or ()))


def launch(options: StudyOptions, policy: str | None = None, request: str | None = None, dry_run: bool = False,
           say: Callable[[str], None] = print, warm_start: str | None = None) -> dict[str, Any] | None:
    """Launch a study (or, with the policy off, one plain training), be its first worker, and hand off
    its best checkpoint once the study is finished; ``warm_start``: an earlier study to seed it
    (``automl.warm_start``)."""
    skill = load_skill(options.skill_dir)
    decision = decide(skill, policy, request)
    say(f"automl_policy {'on' if decision.on else 'off'}: {decision.reason}")
    metric, direction = skill.default_metric
    options = replace(options, skill_dir=str(skill.root), skill_files=skill.digests(), metric=options.metric or metric,
                      direction=options.direction or direction,
                      storage=options.storage or default_storage(options.results_dir))
    if not decision.on:
        options = replace(options, max_trials=1, algorithm="random", hyperparameters=None)
    check_launch(options, skill, decision.on)
    marker = read_marker(options.results_dir)
    if marker is not None:
        raise AutomlError(f"--results-dir {options.results_dir}: already holds study '{marker[1]}'; "
                          "continue it with `automl resume` or choose another folder")
    base_spec = _base_spec(skill, options)
    space, data = None, None
    if decision.on:
        space, options, data = _fitted_space(skill, options, base_spec, say)
    if space is not None and options.algorithm == "grid":
        say(f"grid: {grid_size(space)} grid points; --max-trials {options.max_trials} of them are run")
    pool = GpuPool(resolve_gpus(None if options.gpus is None else ",".join(options.gpus) or "none"),
                   options.gpus_per_trial, options.parallel)
    warm, base_config = None, None
    if space is not None:
        base_config = StudyRun(options, skill, base_spec, space, None, pool, None).base_config()
    if warm_start:
        if space is None:
            raise AutomlError("--warm-start: there is nothing to search (automl_policy is off)")
        warm = warm_starts.plan(warm_start, space, options.metrics, options.directions,
                                max(0, options.max_trials - (base_config is not None)), base_config,
                                max_epochs(base_spec), learns=options.algorithm in LEARNING)
    if dry_run:
        if warm is not None:
            say(f"would {warm.line()}")
        _dry_run(options, skill, base_spec, space, pool, say)
        return None
    options = replace(options, gpus=pool.gpus)
    if options.budget_hours or options.timeout:
        options = check_budget(options, skill, base_spec, say)
    parts = _parts(options, space, base_spec, options.seed)
    meta = StudyMeta(metrics=options.metrics, directions=options.directions, max_trials=options.max_trials,
                     max_epochs=max_epochs(base_spec), policy="on" if decision.on else "off", engine=options.engine,
                     algorithm=options.algorithm, search_space=space.describe() if space is not None else "",
                     base_spec=base_spec, launch=options.study_wide(), heartbeat_s=options.heartbeat,
                     grace_s=options.grace, validation_queries=data.validation_queries if data else None,
                     started_at=time.time(), warm_start=warm.as_meta() if warm is not None else None)
    with engine_for(options.engine).session(options, pool):  # a cluster it cannot join: nothing is created
        record = StudyRecord.create(options.storage, options.study, meta, options.results_dir,
                                    sampler=parts.sampler if parts else None, pruner=parts.pruner if parts else None)
        if warm is not None:
            warm_starts.seed_record(warm, record, say)
        if space is not None:
            if base_config is not None:
                record.enqueue(space.trial_params(base_config), "base spec", base_config)
                say(f"trial {'after the replayed configs' if warm and warm.replayed else '0'} runs the base spec's "
                    "own values (the baseline the search has to beat)")
            else:
                say("the base spec's values lie outside the search space; it is not run as a trial")
        else:
            record.enqueue({}, "plain training", {})
        with ControllerLock(options.results_dir):
            _work(options, skill, space, record, pool, say)
    return _handoff(options, skill, record)


def _dry_run(options: StudyOptions, skill: Skill, base_spec: dict, space: SearchSpace | None, pool: GpuPool,
             say: Callable[[str], None]) -> None:
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


def _joined(record: StudyRecord, results_dir: str, skill_dir: str | None = None,
            **worker: Any) -> tuple[StudyOptions, Skill, SearchSpace | None]:
    """This worker's options, skill and space of a recorded study (``skill_dir``: where this machine
    holds the study's skill, when not where the launch found it)."""
    if record.meta is None:
        raise AutomlError(f"study {record.name}: has no launch options recorded; it was not launched by automl")
    options = StudyOptions.of_record(record.meta.launch, results_dir=results_dir, storage=record.url,
                                     **{k: v for k, v in worker.items() if v is not None})
    where = skill_dir or options.skill_dir
    if not Path(where).is_dir():
        raise AutomlError(f"the study's skill dir {where} (recorded at launch) is not on this machine; pass "
                          "--skill-dir with the same skill")
    skill = load_skill(where)
    differing = [name for name, digest in skill.digests().items() if options.skill_files.get(name, digest) != digest]
    if differing:
        raise AutomlError(f"--skill-dir {skill.root}: not the study's skill ({options.skill_dir}): its "
                          f"{differing[0]} differs")
    options = replace(options, skill_dir=str(skill.root))
    space = _space(skill, options, record.meta.base_spec) if record.meta.policy == "on" else None
    return options, skill, space


def _reopen(record: StudyRecord, options: StudyOptions, space: SearchSpace | None, seed: int) -> StudyRecord:
    parts = _parts(options, space, record.meta.base_spec, seed)
    if parts is None:
        return record
    return StudyRecord.open(record.url, record.name, options.results_dir, sampler=parts.sampler, pruner=parts.pruner)


def _repair(record: StudyRecord, say: Callable[[str], None]) -> None:
    """Trials of a worker on this host that is gone: stop their orphaned processes, fail them as
    interrupted and queue their re-runs (no need to wait for their heartbeats to go stale). Trials of
    a live worker, or of another host, are left alone; another host's go stale on their own."""
    for trial in record.trials():
        if trial.state != "RUNNING" or trial.host != HOST or not trial.worker or _worker_alive(trial):
            continue
        if trial.pid and same_process_alive(int(trial.pid), trial.start_ticks):
            stop_group(int(trial.pid))
            say(f"trial {trial.number}: stopped its orphaned process {trial.pid}")
        if record.abandon(trial.number, "interrupted: its worker stopped"):
            record.rerun(record.trial(trial.number))
            say(f"trial {trial.number}: interrupted; re-run " +
                ("from its last checkpoint" if record.latest_checkpoint(trial) else "from scratch"))
    if any(t.state == "RUNNING" and not t.worker for t in record.trials()):
        time.sleep(UNCLAIMED_S)  # a live worker starts the trial it created within moments
        for trial in record.unclaimed(UNCLAIMED_S):
            if record.fail_unclaimed(trial):
                say(f"trial {trial.number}: created but never started (its worker stopped); re-run from scratch")
    record.fail_stale()


UNCLAIMED_S = 3.0  # age past which a trial no worker started is taken as abandoned at resume


def _worker_alive(trial: TrialRecord) -> bool:
    host, pid, ticks = (trial.worker.split(":") + ["", ""])[:3]
    return same_process_alive(int(pid), int(ticks) if ticks.isdigit() else None)


def resume(results_dir: str, say: Callable[[str], None] = print) -> dict[str, Any] | None:
    """Continue a study after a crash or a stop: same record, trial numbers never repeat."""
    holder = ControllerLock.holder(results_dir)
    if holder is not None:
        raise AutomlError(f"--results-dir {results_dir}: a controller (pid {holder['pid']}) is running this study")
    record = StudyRecord.of_results_dir(results_dir)
    options, skill, space = _joined(record, results_dir)
    record = _reopen(record, options, space, options.seed + len(record.trials()))
    pool = GpuPool(tuple(options.gpus or ()), options.gpus_per_trial, options.parallel)
    with engine_for(options.engine).session(options, pool), ControllerLock(results_dir):
        _repair(record, say)
        say(f"resuming study {record.name}: {len(record.counted())} of {options.max_trials} trials done")
        _work(options, skill, space, record, pool, say)
    return _handoff(options, skill, record)


def worker(storage: str, study: str, results_dir: str, gpus: str | None = None, parallel: int | None = None,
           skill_dir: str | None = None, spec: str | None = None, wait: float = 0.0,
           say: Callable[[str], None] = print) -> None:
    """Join a study from any machine: its options from the record, trials on this machine's devices
    until the study's budget is spent across every worker. ``wait``: seconds to wait for the study to
    be launched (workers started together with the launch)."""
    record = _study_when_launched(storage, study, results_dir, wait)
    if record.meta is None:
        raise AutomlError(f"study {study}: was not launched by automl (no launch options recorded)")
    if record.meta.engine != "optuna":
        raise AutomlError(f"study {study}: runs on the {record.meta.engine} engine; give its Ray cluster more nodes "
                          "instead of adding workers")
    marker = read_marker(results_dir)
    if marker is not None and marker[1] != study:
        raise AutomlError(f"--results-dir {results_dir}: holds study '{marker[1]}'; give this worker its own folder")
    options, skill, space = _joined(record, results_dir, skill_dir, parallel=parallel)
    if spec is not None:
        _same_base_spec(skill, replace(options, spec=spec), record.meta.base_spec)
    pool = GpuPool(resolve_gpus(gpus), options.gpus_per_trial, options.parallel)
    if record.is_finished():
        say(f"study {study}: finished ({len(record.counted())} of {record.meta.max_trials} trials); nothing to do")
        return
    options = replace(options, gpus=pool.gpus)
    record = _reopen(record, options, space, _worker_seed(options.seed))
    if marker is None:
        write_marker(results_dir, record.url, study)
    say(f"joining study {study}: {len(record.counted())} of {options.max_trials} trials done; "
        f"{options.parallel} at a time here on {','.join(pool.gpus) or 'the CPU'}")
    _work(options, skill, space, record, pool, say)


def _study_when_launched(storage: str, study: str, results_dir: str, wait: float) -> StudyRecord:
    deadline = time.monotonic() + wait
    while True:
        try:
            record = StudyRecord.open(storage, study, results_dir)
        except RecordError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(WAIT_POLL_S)
            continue
        if record.meta is not None or time.monotonic() >= deadline:  # launched, or its options never came
            return record
        time.sleep(WAIT_POLL_S)


def _same_base_spec(skill: Skill, options: StudyOptions, recorded: dict) -> None:
    """A worker's ``--spec`` must make the study's base spec: name the first key that differs."""
    mine, theirs = flatten(build_base_spec(skill, options)), flatten(recorded)
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            raise AutomlError(f"--spec {options.spec}: not the study's spec: {key} is {mine.get(key)!r} here, "
                              f"{theirs.get(key)!r} in the study")


def _worker_seed(seed: int) -> int:
    """Each worker's samplers draw their own random numbers (two workers on one seed would repeat)."""
    return (seed + zlib.crc32(worker_id().encode())) % 2**31


def run_handoff(results_dir: str, constraints: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Hand off the best trial (meeting ``constraints``, by default the launch's)."""
    record = StudyRecord.of_results_dir(results_dir)
    options, skill, _ = _joined(record, results_dir)
    if constraints is not None:
        parse_constraints(constraints, skill.kpis or None)
        options = replace(options, constraints=tuple(constraints))
    return handoff(options, skill, record, devices=tuple(options.gpus or ()))
