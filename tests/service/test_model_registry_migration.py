"""The model registry's migration back-fills aliases and lineage on SQLite (PostgreSQL:
tests/integration/test_model_registry_pg.py)."""

from __future__ import annotations

from registry_migration import check_back_fill


def test_the_migration_back_fills_production_aliases_and_lineage(tmp_path):
    check_back_fill(f"sqlite:///{tmp_path / 'before.sqlite3'}")
