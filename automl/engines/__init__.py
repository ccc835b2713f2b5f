"""Engines run a study's trials and record every one of them in the study's Optuna storage.

Every engine has the same contract: ``Engine(run).run()`` starts trials (each through
``automl.launcher.run_trial``, on devices leased from ``run.pool``) until ``run.options.max_trials``
trials count as finished (``run.counted()``), records each trial's config, devices, outcome
and failure cause through ``run``, and stops early when ``run.stop`` is set or
``run.check_early_failures()`` raises. What differs is who proposes configs and who stops
weak trials: Optuna's samplers and pruners, or Ray Tune's search algorithms and schedulers.
"""

from __future__ import annotations

from automl.engines.optuna_engine import OptunaEngine

ENGINES = ("optuna", "ray")


def engine_for(name: str):
    if name == "ray":
        from automl.engines.ray_engine import RayEngine

        return RayEngine
    return OptunaEngine
