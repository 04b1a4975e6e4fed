"""Celery tasks: ids in, claim the row, call ml_pipeline, record the outcome. Safe to run twice."""
