"""The model detail answer carries each target's feature importance (issue 15 item 2)."""

from __future__ import annotations


def test_model_detail_has_importance_for_every_target(client, org, trained):
    assert trained["job"]["status"] == "succeeded", trained["job"]
    key = {"X-API-Key": org["api_key"]}
    version = trained["job"]["model_version"]
    detail = client.get(f"/api/v1/models/{version}", headers=key).get_json()
    importance = detail["importance"]
    assert set(importance) == set(detail["details"]["selection"])
    features = set(detail["details"]["features"])
    for target, record in importance.items():
        assert record["features"], target
        assert {f["feature"] for f in record["features"]} <= features
        assert record["rows"] == record["validation_rows"] > 0
        contribution = [f["mean_abs_contribution"] for f in record["features"]]
        assert contribution == sorted(contribution, reverse=True)
        if record["gain_missing"] is None:
            assert abs(sum(f["gain"] for f in record["features"]) - 1) < 1e-6
        else:
            assert all(f["gain"] is None for f in record["features"])


def _set_metadata(app, job_id: str, metadata: dict | None = None) -> dict:
    """The version's stored bundle metadata, replaced by ``metadata`` when given. A table-level
    UPDATE: a registered version's metadata is otherwise never changed."""
    from hcl_server.db.models import ModelVersion
    from hcl_server.extensions import db

    table = ModelVersion.__table__
    with app.app_context():
        kept = db.session.execute(
            db.select(table.c.bundle_metadata).where(table.c.training_job_id == job_id)
        ).scalar_one()
        if metadata is not None:
            db.session.execute(
                db.update(table).where(table.c.training_job_id == job_id).values(bundle_metadata=metadata)
            )
            db.session.commit()
    return kept


def test_model_detail_of_a_model_trained_before_importance_is_empty(app, client, org, trained):
    key = {"X-API-Key": org["api_key"]}
    job_id = trained["job"]["id"]
    kept = _set_metadata(app, job_id)
    _set_metadata(app, job_id, {k: v for k, v in kept.items() if k != "importance"})
    try:
        detail = client.get(f"/api/v1/models/{trained['job']['model_version']}", headers=key)
        assert detail.status_code == 200 and detail.get_json()["importance"] == {}
    finally:
        _set_metadata(app, job_id, kept)
