"""Studies that run: policy, engines, trial launcher, GPU pool, checkpoint resolver, handoff.

Public API: ``launch``, ``resume``, ``status``, ``best``, ``run_handoff``, ``resolve_checkpoint``,
``StudyOptions``. See docs/AUTOML.md.
"""

from automl.errors import AutomlError, StudyStopped
from automl.options import StudyOptions
from automl.resolver import ResolvedCheckpoint, resolve_checkpoint


def __getattr__(name: str):  # the engines import Optuna and torch: only when asked for
    if name in ("launch", "resume", "status", "best", "run_handoff"):
        from automl import api

        return getattr(api, name)
    raise AttributeError(name)


__all__ = ["AutomlError", "ResolvedCheckpoint", "StudyOptions", "StudyStopped", "best", "launch", "resolve_checkpoint",
           "resume", "run_handoff", "status"]
