"""Errors a user can cause. Each carries one line that names the key, file or value.

The CLI catches ``ReidError`` once and exits with code 2; any other exception is our bug.
"""

from __future__ import annotations


class ReidError(Exception):
    """Base class for user-caused errors; ``str(err)`` is the whole one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = _original_message(message)

    def __str__(self) -> str:  # DataLoader workers re-raise with the worker traceback glued on
        return self.message


class SpecError(ReidError):
    """A spec file or override is missing, malformed, or holds an invalid value."""


class DatasetError(ReidError):
    """A dataset folder or archive is missing, empty, unreadable or hostile."""


class CheckpointError(ReidError):
    """A checkpoint is missing, corrupt, not ours, or refused by ``weights_only`` loading."""


class EvaluationError(ReidError):
    """Query and gallery cannot be evaluated together (e.g. no query has a valid match)."""


def _original_message(message: str) -> str:
    """The error's own text when a DataLoader worker re-raised it with its traceback glued on."""
    if "Original Traceback" not in message:
        return message
    last = [line for line in message.strip().splitlines() if line.strip()][-1]
    head, sep, tail = last.partition(": ")
    return tail if sep and head.split(".")[-1].endswith("Error") else last
