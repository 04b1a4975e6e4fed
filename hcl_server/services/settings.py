"""An organization's settings: its own risk thresholds, or its production model's."""

from __future__ import annotations

from hcl_server.errors import Unprocessable
from hcl_server.extensions import db
from hcl_server.repositories import model_versions, organizations
from ml_pipeline.serving.bundle import DEFAULT_RISK_THRESHOLDS

THRESHOLD_NAMES = ("medium", "high", "critical")


def threshold_problems(thresholds: dict) -> dict[str, list[str]]:
    """What is wrong with a ``{medium, high, critical}`` mapping, by field (empty when it is
    valid): each must be a number in [0, 1], and medium < high < critical strictly."""
    problems: dict[str, list[str]] = {}
    for name in THRESHOLD_NAMES:
        value = thresholds.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems[name] = ["a number from 0 to 1 is required"]
        elif not 0 <= value <= 1:
            problems[name] = [f"must be from 0 to 1, not {value}"]
    if problems:
        return problems
    for lower, upper in zip(THRESHOLD_NAMES, THRESHOLD_NAMES[1:], strict=False):
        if not thresholds[lower] < thresholds[upper]:
            problems[upper] = [
                f"must be greater than {lower} ({thresholds[lower]}): the thresholds are strictly "
                "ordered, medium < high < critical"
            ]
    return problems


def get_risk_thresholds(org_id: str) -> dict:
    """The risk thresholds the organization's next scoring uses, and where they come from:
    ``{medium, high, critical, source, model_version}``, source ``organization`` (set through the
    API), ``model`` (the production model's bundle) or ``default`` (no production model yet: the
    thresholds a newly trained model carries). ``model_version`` is the production version or None.
    """
    own = organizations.risk_thresholds(org_id)
    mv = model_versions.production(org_id)
    version = mv.version if mv else None
    if own:
        return {**_only_thresholds(own), "source": "organization", "model_version": version}
    if mv is not None:
        bundle_thresholds = (mv.bundle_metadata or {}).get("risk_thresholds") or DEFAULT_RISK_THRESHOLDS
        return {**_only_thresholds(bundle_thresholds), "source": "model", "model_version": version}
    return {**DEFAULT_RISK_THRESHOLDS, "source": "default", "model_version": None}


def set_risk_thresholds(org_id: str, thresholds: dict) -> dict:
    """Store the organization's own thresholds (``{medium, high, critical}``); every scoring from
    now on (/predict, the next bulk partition) segments with them. Answers what
    ``get_risk_thresholds`` answers. Raises Unprocessable when they are not numbers in [0, 1]
    strictly ordered medium < high < critical."""
    problems = threshold_problems(thresholds)
    if problems:
        raise Unprocessable("the risk thresholds are not valid", details={"json": problems})
    organizations.set_risk_thresholds(org_id, {name: float(thresholds[name]) for name in THRESHOLD_NAMES})
    db.session.commit()
    return get_risk_thresholds(org_id)


def reset_risk_thresholds(org_id: str) -> dict:
    """Forget the organization's own thresholds: scoring uses the production model's again.
    Answers what ``get_risk_thresholds`` answers (source ``model`` or ``default``)."""
    organizations.set_risk_thresholds(org_id, None)
    db.session.commit()
    return get_risk_thresholds(org_id)


def _only_thresholds(thresholds: dict) -> dict:
    return {name: thresholds[name] for name in THRESHOLD_NAMES}
