"""The model registry's migration on a database that has versions from before it: run on SQLite
(tests/service/test_model_registry_migration.py) and PostgreSQL (tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

BEFORE = "6fedf0905973"  # the revision before the aliases
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SHA = "ab" * 32


def table(name: str, *columns: str, json: tuple[str, ...] = ()) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns), *(sa.column(c, sa.JSON) for c in json))


ORGS = table("organizations", "id", "name", "created_at", "updated_at")
DATASETS = table(
    "datasets",
    "id",
    "organization_id",
    "name",
    "filename",
    "storage_key",
    "size_bytes",
    "status",
    "attempts",
    "created_at",
    "updated_at",
    json=("warnings",),
)
JOBS = table(
    "jobs",
    "id",
    "organization_id",
    "kind",
    "status",
    "progress",
    "attempts",
    "dataset_id",
    "created_at",
    "updated_at",
    json=("warnings", "params"),
)
VERSIONS = table(
    "model_versions",
    "id",
    "organization_id",
    "version",
    "storage_prefix",
    "training_job_id",
    "is_production",
    "promoted_at",
    "created_at",
    "updated_at",
    json=("metrics", "bundle_metadata"),
)


def insert_rows(conn) -> None:
    """Two organizations: one with version 1 and version 2 (production, trained by a job on a
    dataset), one with a version that is not production."""
    stamps = {"created_at": NOW, "updated_at": NOW}
    for org in ("org-a", "org-b"):
        conn.execute(ORGS.insert().values(id=org, name=org, **stamps))
    conn.execute(
        DATASETS.insert().values(
            id="ds-1",
            organization_id="org-a",
            name="shop",
            filename="e.csv",
            storage_key="k",
            size_bytes=1,
            status="succeeded",
            attempts=1,
            warnings=[],
            **stamps,
        )
    )
    conn.execute(
        JOBS.insert().values(
            id="job-2",
            organization_id="org-a",
            kind="training",
            status="succeeded",
            progress=1.0,
            attempts=1,
            dataset_id="ds-1",
            warnings=[],
            params={"dataset_id": "ds-1", "horizon_days": 30},
            **stamps,
        )
    )
    rows = [
        ("mv-a1", "org-a", 1, None, False, None, {}),
        ("mv-a2", "org-a", 2, "job-2", True, NOW, {"training_data": {"sha256": SHA}}),
        ("mv-b1", "org-b", 1, None, False, None, {}),
    ]
    for id_, org, version, job, production, promoted, meta in rows:
        conn.execute(
            VERSIONS.insert().values(
                id=id_,
                organization_id=org,
                version=version,
                storage_prefix=f"p/{id_}",
                training_job_id=job,
                is_production=production,
                promoted_at=promoted,
                metrics={"churn": {}},
                bundle_metadata=meta,
                **stamps,
            )
        )


def check_back_fill(database_url: str) -> None:
    """Upgrade to the revision before the registry, insert versions, upgrade to head: each
    production version has a ``production`` alias and a log row by "migration"; lineage is filled
    from the training job and the bundle metadata; the app reads it all."""
    from flask_migrate import upgrade

    from hcl_server import create_app
    from hcl_server.db import ModelAlias, ModelAliasEvent, ModelVersion
    from hcl_server.extensions import db
    from hcl_server.services import registry

    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    with app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            insert_rows(conn)
        upgrade()
        aliases = db.session.execute(
            db.select(ModelAlias.organization_id, ModelAlias.alias, ModelAlias.model_version_id)
        )
        assert sorted(aliases) == [("org-a", "production", "mv-a2")]
        events = db.session.scalars(db.select(ModelAliasEvent)).all()
        assert [(e.organization_id, e.alias, e.from_version, e.to_version, e.actor) for e in events] == [
            ("org-a", "production", None, 2, "migration")
        ]
        assert events[0].at.replace(tzinfo=events[0].at.tzinfo or UTC) == NOW
        mv = db.session.get(ModelVersion, "mv-a2")
        assert mv.lineage == {
            "dataset_id": "ds-1",
            "training_job_id": "job-2",
            "training_data_sha256": SHA,
            "params": {"dataset_id": "ds-1", "horizon_days": 30},
            "metrics": {"churn": {}},
        }
        assert [a.alias for a in mv.aliases] == ["production"]
        assert db.session.get(ModelVersion, "mv-a1").dataset_id is None
        # The back-filled production has no earlier one to roll back to; a promotion then has.
        registry.promote("org-a", 1, "key-1")
        assert registry.rollback("org-a", "key-1").version == 2
    with app.app_context():
        db.engine.dispose()
