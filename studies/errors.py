"""Errors a user can cause when opening or reading a study record; the message is one line."""

from __future__ import annotations


class RecordError(Exception):
    """A storage URL, study name, results dir or record that cannot be opened or read."""
