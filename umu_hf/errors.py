"""User-facing errors.

Every problem caused by the user's input (a file, a field, an argument) is raised as :class:`UmuError` with a
message that names the culprit and says what to do. The CLI prints it as one line and exits non-zero; library
users catch it like any exception. ``ValueError`` subclassing keeps ``except ValueError`` working.
"""

from __future__ import annotations


class UmuError(ValueError):
    """An input problem the user can fix; the message names the file/field/argument and the remedy."""


class DataError(UmuError):
    """A dataset file or field is missing or malformed."""


class ModelError(UmuError):
    """A model path or checkpoint cannot be used."""


class ResultsConflictError(UmuError):
    """An output folder holds results of a different run that would be overwritten."""
