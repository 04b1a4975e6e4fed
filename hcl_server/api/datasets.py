"""/api/v1/datasets: upload an event log, see its profile."""

from __future__ import annotations

from flask import g, url_for

from hcl_server.api.auth import require_api_key
from hcl_server.api.multipart import Blueprint
from hcl_server.api.schemas import LOCATION, Accepted, DatasetForm, DatasetList, DatasetOut
from hcl_server.services import datasets

blp = Blueprint("datasets", __name__, url_prefix="/api/v1/datasets", description="Event logs")
blp.before_request(require_api_key)


@blp.route("", methods=["POST"])
@blp.arguments(DatasetForm, location="multipart")
@blp.response(202, Accepted, headers=LOCATION)
@blp.errors(400, 413, 415, 429)
def upload(form):
    """Upload an event log; it is read and profiled in the background, with the reading options
    given (each left out is decided from the file)."""
    dataset = datasets.create_dataset(g.org_id, form.pop("file"), form.pop("name", None), form)
    return dataset, 202, {"Location": url_for("datasets.get_one", dataset_id=dataset.id)}


@blp.route("", methods=["GET"])
@blp.response(200, DatasetList)
def list_all():
    """The organization's datasets, newest first."""
    return {"datasets": datasets.list_datasets(g.org_id)}


@blp.route("/<dataset_id>", methods=["GET"])
@blp.response(200, DatasetOut)
@blp.errors(404)
def get_one(dataset_id: str):
    """A dataset with its profile, warnings and errors."""
    return datasets.get_dataset(g.org_id, dataset_id)
