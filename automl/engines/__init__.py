"""Engines run a study's trials and record every one of them in the study record.

The contract is ``automl.engines.base.Engine``: Optuna's samplers and pruners in this process
(``optuna``), or Ray Tune's search algorithms and schedulers on a Ray cluster (``ray``).
"""

from __future__ import annotations

from automl.engines.base import Engine

ENGINES = ("optuna", "ray")


def engine_for(name: str) -> type[Engine]:
    if name == "ray":
        from automl.engines.ray_engine import RayEngine  # Ray is imported only by studies that use it

        return RayEngine
    from automl.engines.optuna_engine import OptunaEngine  # imported as its sibling is: when chosen

    return OptunaEngine
