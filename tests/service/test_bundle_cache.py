"""The worker's and the API's model-bundle cache leaves no downloaded folder behind."""

from __future__ import annotations

import tempfile
from datetime import date
from types import SimpleNamespace

from hcl_server.services import scoring


def test_cached_bundles_leave_no_folder_behind(app, org, trained, tmp_path, monkeypatch):
    """A bundle is loaded whole and its download removed at once; an entry that leaves the LRU
    (one entry here) leaves nothing on disk, and a cached bundle still scores."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp would put the downloads
    monkeypatch.setattr(scoring, "_CACHE_SIZE", 1)
    monkeypatch.setattr(scoring, "_CACHE", type(scoring._CACHE)())
    with app.app_context():
        mv = scoring.production_model(org["organization_id"])
        first = scoring.bundle_for(mv)
        assert list(tmp_path.iterdir()) == []
        # The same stored bundle under a second id: loading it evicts the first.
        other = SimpleNamespace(id=f"{mv.id}-copy", version=mv.version, storage_prefix=mv.storage_prefix)
        second = scoring.bundle_for(other)
        assert list(scoring._CACHE) == [other.id] and second is not first
        assert list(tmp_path.iterdir()) == []
        assert scoring.bundle_for(other) is second  # served from the cache, nothing downloaded
        predictions = scoring.predict_inline(
            org["organization_id"],
            [
                {
                    "customer_id": "c1",
                    "as_of": date(2024, 12, 1),
                    "transactions": [{"event_date": date(2024, 6, 1), "amount": 5.0}],
                }
            ],
        )
    assert predictions[0]["customer_id"] == "c1"
    assert list(tmp_path.iterdir()) == []
