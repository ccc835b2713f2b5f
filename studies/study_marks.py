"""Study-level marks of the study record (``studies.record.StudyRecord`` is one): written after the
study's creation, each by one worker, as study user attributes: the trials whose checkpoints retention
deleted (``checkpoints_deleted.<number>``), why the study was stopped early (``stopped``), and why its
budget is spent (``budget_spent``)."""

from __future__ import annotations

import optuna

DELETED_PREFIX = "checkpoints_deleted."
STOPPED_KEY = "stopped"
SPENT_KEY = "budget_spent"


class StudyMarks:
    study: optuna.Study

    def deleted(self) -> set[int]:
        """Trials whose checkpoints retention deleted."""
        return {int(k[len(DELETED_PREFIX):]) for k in self.study.user_attrs if k.startswith(DELETED_PREFIX)}

    def mark_deleted(self, number: int) -> None:
        self.study.set_user_attr(f"{DELETED_PREFIX}{number}", True)

    def stopped(self) -> str | None:
        """Why the study was stopped early (e.g. its first trials all failed), if it was."""
        return self.study.user_attrs.get(STOPPED_KEY)

    def stop(self, reason: str) -> None:
        self.study.set_user_attr(STOPPED_KEY, reason)

    def spent(self) -> str | None:
        """Why the study's budget is spent (no trial starts any more), if it is."""
        return self.study.user_attrs.get(SPENT_KEY)

    def spend(self, reason: str) -> None:
        if not self.spent():
            self.study.set_user_attr(SPENT_KEY, reason)
