"""``Engine``: what every engine of a study does, whoever proposes configs and stops weak trials.

Given a ``StudyRun`` (``automl.study``), an engine's ``run()``

1. proposes configurations from ``run.space`` (its sampler or searcher); each trial's number comes
   from the study record (``run.record.study.ask()``): a queued replay or re-run comes first, and a
   trial created past the budget by a racing worker is discarded (``run.surplus``);
2. builds the trial's spec with ``run.trial_spec`` and checks it (``automl.specs.spec_problems``):
   an invalid spec is recorded (``run.refuse``), never launched;
3. leases devices from ``run.pool``, records the start (``run.begin``) and runs the trial with
   ``automl.launcher.run_with_retries`` (the one retry policy), reporting each validated epoch
   through ``run.report``; its pruner or scheduler stops weak trials, at equal epochs only;
4. closes each trial with ``run.end`` (outcome in the record, an interrupted trial re-queued,
   retention, the dashboard) and calls ``run.check_early_failures()``;
5. keeps going until ``run.done()`` (the budget of every worker spent, or the study stopped); when
   ``run.stop`` is set it stops at once, its running trials ending as interrupted.

Engines differ only in who decides: Optuna's samplers and pruners (``OptunaEngine``), or Ray Tune's
search algorithms and schedulers on a Ray cluster (``RayEngine``).
"""

from __future__ import annotations

import abc
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from automl.gpu_pool import GpuPool
from automl.options import StudyOptions
from automl.study import StudyRun


class Engine(abc.ABC):
    name: str = ""

    def __init__(self, run: StudyRun) -> None:
        self.study_run = run
        self.command = run.skill.train_command(Path("{config_path}"))

    @classmethod
    @contextmanager
    def session(cls, options: StudyOptions, pool: GpuPool) -> Iterator[None]:
        """What the engine needs around a study (Ray: the cluster), entered before anything is created:
        a cluster it cannot reach is one line, and no study is left behind."""
        yield

    @abc.abstractmethod
    def run(self) -> None:
        """Run the study's trials as the module docstring says; raise ``StudyStopped`` when the study
        stopped itself, ``KeyboardInterrupt`` when interrupted."""
