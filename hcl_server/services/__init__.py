"""Use cases: they own the transaction and are the only place that enqueues tasks."""
