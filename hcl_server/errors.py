"""Domain errors, raised below the API; ``api/errors.py`` maps each class to its HTTP status.

Services and repositories raise these with the message a client reads; they know nothing of HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the service cannot carry out, with a message for the client and optional details."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.message, self.details = message, details


class NotFound(DomainError):
    """No such row in the caller's organization (other organizations' ids are not revealed)."""


class Conflict(DomainError):
    """The row exists but is not in a state that allows this (not ready yet, already finished)."""


class Invalid(DomainError):
    """The request is malformed: a missing or empty file, a field that does not parse."""


class UnsupportedFile(DomainError):
    """An upload whose file type cannot be read."""


class Unprocessable(DomainError):
    """Well-formed input that cannot be processed (transactions that do not score, too many rows)."""


class OutputFailed(DomainError):
    """A file the service should have produced could not be written."""


class Unavailable(DomainError):
    """A service the request needs (the task queue) cannot be reached; the request can be sent
    again as it is, later."""


class TooManyJobs(DomainError):
    """The organization already has as many queued and running jobs as it may; the request can
    be sent again once one of them has finished."""


class StorageUnavailable(Unavailable):
    """The file storage did not answer within its retry budget (STORAGE_RETRY_S); what was being
    done can be done again, later. A job fails with its message, a request answers 503."""
