"""Celery tasks: ids in, claim, call one service, record the outcome (tasks/outcome.py)."""
