"""A partition's predictions stored with COPY are the rows the ORM insert stored (PostgreSQL),
in the session's transaction: a rollback takes them back."""

from __future__ import annotations

import pytest
from prediction_store import SPEND, assert_same_rows, hostile_frame

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_app(new_schema):
    from flask_migrate import upgrade

    from hcl_server import create_app

    with new_schema("hcl_store") as url:
        app = create_app({"TESTING": True, "DATABASE_URL": url, "REDIS_URL": ""})
        with app.app_context():
            upgrade()
            org = app.test_cli_runner().invoke(args=["orgs", "create", "Store"]).output.splitlines()[-1]
        yield app, org
        with app.app_context():
            from hcl_server.extensions import db

            db.engine.dispose()


def org_id(org_line: str) -> str:
    import json

    return json.loads(org_line)["organization_id"]


def test_copy_keeps_every_field_of_the_orm_insert(pg_app):
    from hcl_server.extensions import db

    app, org = pg_app
    with app.app_context():
        # NUL is refused by PostgreSQL text either way; the other hostile values all go through.
        assert_same_rows(db, org_id(org), hostile_frame())
        assert_same_rows(db, org_id(org), hostile_frame().iloc[:0])


def test_copy_runs_in_the_sessions_transaction(pg_app):
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from hcl_server.db import Job, Prediction
    from hcl_server.db.models import new_id
    from hcl_server.extensions import db
    from hcl_server.repositories import predictions
    from hcl_server.services.bulk_results import rows_of

    app, org = pg_app
    with app.app_context():
        job = new_id()
        db.session.add(Job(id=job, organization_id=org_id(org), kind="bulk"))
        db.session.commit()
        rows = rows_of(hostile_frame(50), SPEND, org_id(org), job, 0, datetime.now(UTC))
        predictions.replace_partition(job, 0, rows)
        db.session.rollback()
        count = sa.select(sa.func.count()).select_from(Prediction).where(Prediction.job_id == job)
        assert db.session.scalar(count) == 0
        predictions.replace_partition(job, 0, rows)
        db.session.commit()
        assert db.session.scalar(count) == 50
