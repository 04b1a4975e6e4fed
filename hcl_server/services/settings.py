"""An organization's settings: its own risk thresholds, or its production model's; its own drift
thresholds, or the defaults."""

from __future__ import annotations

from hcl_server.errors import Unprocessable
from hcl_server.extensions import db
from hcl_server.repositories import model_versions, organizations
from ml_pipeline.monitoring.drift import DEFAULT_THRESHOLDS as DEFAULT_DRIFT_THRESHOLDS
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


# Shares are at most 1: an unseen share above 1 could never be exceeded.
SHARE_THRESHOLDS = ("unseen_share",)


def drift_threshold_problems(thresholds: dict) -> dict[str, list[str]]:
    """What is wrong with drift thresholds (empty when valid), by field: each key one of
    DEFAULT_DRIFT_THRESHOLDS, each value a number above 0 (``unseen_share`` at most 1), and at
    least one given."""
    if not thresholds:
        return {"_schema": [f"give at least one of {', '.join(DEFAULT_DRIFT_THRESHOLDS)}"]}
    problems: dict[str, list[str]] = {}
    for name, value in thresholds.items():
        if name not in DEFAULT_DRIFT_THRESHOLDS:
            problems[name] = [f"unknown drift threshold; choose from {', '.join(DEFAULT_DRIFT_THRESHOLDS)}"]
        elif isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            problems[name] = ["a number above 0 is required"]
        elif value <= 0:
            problems[name] = [f"must be above 0, not {value}"]
        elif name in SHARE_THRESHOLDS and value > 1:
            problems[name] = [f"a share: must be at most 1, not {value}"]
    return problems


def get_drift_thresholds(org_id: str) -> dict:
    """The thresholds the organization's next drift reports use: ``{feature_psi, prediction_psi,
    unseen_share, source}``, source ``organization`` when it set any (the others keep their
    defaults) or ``default``."""
    own = organizations.drift_thresholds(org_id)
    source = "organization" if own else "default"
    return {**DEFAULT_DRIFT_THRESHOLDS, **(own or {}), "source": source}


def set_drift_thresholds(org_id: str, thresholds: dict) -> dict:
    """Store the organization's own drift thresholds (any of feature_psi, prediction_psi,
    unseen_share; those left out keep their defaults; they replace what it set before); drift
    reports written from now on alert with them. Answers what ``get_drift_thresholds`` answers.
    Raises Unprocessable naming each unknown key or value not above 0."""
    problems = drift_threshold_problems(thresholds)
    if problems:
        raise Unprocessable("the drift thresholds are not valid", details={"json": problems})
    organizations.set_drift_thresholds(org_id, {k: float(v) for k, v in thresholds.items()})
    db.session.commit()
    return get_drift_thresholds(org_id)


def reset_drift_thresholds(org_id: str) -> dict:
    """Forget the organization's own drift thresholds: the defaults apply again."""
    organizations.set_drift_thresholds(org_id, None)
    db.session.commit()
    return get_drift_thresholds(org_id)
