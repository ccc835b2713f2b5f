"""Errors a user can cause when launching or inspecting a study; the CLI prints one line, exit 2."""

from __future__ import annotations


class AutomlError(Exception):
    """A bad option, skill dir, storage, results dir or spec; the message is one line."""


class StudyStopped(Exception):
    """The study stopped on its own (e.g. its first trials all failed); the message says why."""
