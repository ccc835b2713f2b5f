"""Studies that run: policy, engines, trial launcher, GPU pool, checkpoint resolver, handoff.

Public API: ``launch``, ``resume``, ``status``, ``best``, ``run_handoff``, ``resolve_checkpoint``,
``StudyOptions``. See docs/AUTOML.md.
"""

from automl.errors import AutomlError, StudyStopped
from automl.options import StudyOptions
from automl.resolver import ResolvedCheckpoint, resolve_checkpoint


def __getattr__(name: str):
    if name in ("launch", "resume", "run_handoff"):
        from automl import api  # importing the package must not import its modules (they import it)

        return getattr(api, name)
    if name in ("status", "best"):
        from automl import inspect  # as above

        return getattr(inspect, name)
    raise AttributeError(name)


__all__ = ["AutomlError", "ResolvedCheckpoint", "StudyOptions", "StudyStopped", "best", "launch", "resolve_checkpoint",
           "resume", "run_handoff", "status"]
