"""Errors a user can act on: each carries a one-line message naming what is wrong and where."""


class PipelineError(Exception):
    """A problem with the input or the settings, explained in one line."""


class EventLogError(PipelineError):
    """The event log cannot be used as given (unreadable, missing columns, bad values)."""
