"""What a launch checks before anything is created: its flags against the skill (engine, algorithm,
metrics and directions, constraints, budget values) and a budget against one trial's estimate."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable

from automl.algorithms import check_algorithm, check_multi_objective
from automl.errors import AutomlError
from automl.engines import ENGINES
from automl.estimate import estimate_trial_seconds
from automl.options import StudyOptions
from automl.skill import Skill
from studies.constraints import parse_constraints


def check_launch(options: StudyOptions, skill: Skill, on: bool) -> None:
    """The launch's flags against the skill: one line naming the flag when one is wrong."""
    if options.engine not in ENGINES:
        raise AutomlError(f"--engine {options.engine}: expected one of {', '.join(ENGINES)}")
    if on:
        check_algorithm(options.algorithm, options.engine)
    for metric, direction in zip(options.metrics, options.directions):
        if direction not in ("maximize", "minimize"):
            raise AutomlError(f"--direction {direction}: expected maximize or minimize")
        if skill.kpis and metric not in skill.kpis:
            raise AutomlError(f"--metric {metric}: the trainer reports {', '.join(skill.kpis)}; "
                              "a study on another name would score every trial 0")
    if len(set(options.metrics)) < len(options.metrics):
        raise AutomlError(f"--metric {','.join(options.metrics)}: names a metric twice")
    if options.more_objectives:
        check_multi_objective(options.algorithm, options.engine)
    for flag, value in (("--budget-hours", options.budget_hours), ("--timeout", options.timeout)):
        if value is not None and not value > 0:
            raise AutomlError(f"{flag} {value:g}: must be more than 0")
    parse_constraints(options.constraints, skill.kpis or None)
    if options.max_trials < 1:
        raise AutomlError(f"--max-trials {options.max_trials}: must be at least 1")
    if options.max_epochs is not None and options.max_epochs < 1:
        raise AutomlError(f"--max-epochs {options.max_epochs}: must be at least 1")
    if options.heartbeat < 1:
        raise AutomlError(f"--heartbeat {options.heartbeat}: must be at least 1 second")


def check_budget(options: StudyOptions, skill: Skill, base_spec: dict,
                    say: Callable[[str], None]) -> StudyOptions:
    """A budget smaller than one trial's estimate is refused; the estimate is kept for the budgets."""
    seconds, how = estimate_trial_seconds(skill, json.loads(json.dumps(base_spec)))
    if seconds is None:
        say(f"budget: no estimate of a trial ({how}); the first trials start, later ones are weighed on them")
        return options
    hours = seconds * options.gpus_per_trial / 3600
    if options.budget_hours and hours > options.budget_hours:
        raise AutomlError(f"--budget-hours {options.budget_hours:g}: one trial is estimated at {hours:.3g} "
                          f"device-hours ({how})")
    if options.timeout and seconds > options.timeout:
        raise AutomlError(f"--timeout {options.timeout:g}: one trial is estimated at {seconds:.0f} s ({how})")
    return replace(options, trial_estimate_s=seconds)
