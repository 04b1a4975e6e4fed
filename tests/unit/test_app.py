"""The service scaffold: the factory builds an app that answers liveness and carries Celery."""

from __future__ import annotations

from hcl_server import create_app


def test_health_answers(tmp_path):
    app = create_app({"TESTING": True, "STORAGE_DIR": str(tmp_path)})
    response = app.test_client().get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert app.extensions["celery"].conf.broker_url == "filesystem://"
