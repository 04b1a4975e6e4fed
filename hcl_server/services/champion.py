"""Champion and challenger: an organization's automatic promotion of its candidate model.

Once a shadow outcome is written (services.outcomes), the candidate's realized metrics sit next to
production's on the same customers. With automatic promotion on, the candidate is promoted when

- the ``candidate`` alias still names the version that was scored in shadow, and it is not
  production already;
- at least ``min_customers`` customers were compared;
- it beats production on model selection's churn metric (ml_pipeline.training.metrics.SELECTION:
  log loss, lower is better) by at least ``margin`` (log-loss units) on those customers;
- it is no worse on calibration: its Brier score is not higher than production's.

A promotion goes through services.registry (alias log actor ``rule:auto-promotion``, the reason
with the numbers and p-values). Every decision, promoted or not, is kept with its reason in the
shadow outcome's ``comparison["decision"]``: the alias log holds alias changes only.
"""

from __future__ import annotations

from hcl_server.db import ModelVersion
from hcl_server.errors import NotFound, Unprocessable
from hcl_server.extensions import db
from hcl_server.repositories import model_aliases, organizations
from hcl_server.services import registry
from ml_pipeline.training.metrics import SELECTION

ACTOR = "rule:auto-promotion"
SELECTION_METRIC, LOWER_IS_BETTER = SELECTION["churn"]
DEFAULTS = {"enabled": False, "margin": 0.01, "min_customers": 500}


def auto_promotion_problems(value: dict) -> dict[str, list[str]]:
    """What is wrong with ``{enabled, margin, min_customers}``, by field (empty when valid)."""
    problems: dict[str, list[str]] = {}
    if not isinstance(value.get("enabled"), bool):
        problems["enabled"] = ["true or false is required"]
    margin = value.get("margin")
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin <= 1:
        problems["margin"] = [f"a number from 0 to 1 ({SELECTION_METRIC} units) is required"]
    count = value.get("min_customers")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10**9:
        problems["min_customers"] = ["a whole number from 1 to 1000000000 is required"]
    return problems


def get_auto_promotion(org_id: str) -> dict:
    """The organization's automatic promotion settings ({enabled, margin, min_customers}, the
    defaults where not set), with the metric the margin is on."""
    org = organizations.get(org_id)
    if org is None:
        raise NotFound(f"organization {org_id} not found")
    return {**DEFAULTS, **(org.auto_promotion or {}), "metric": SELECTION_METRIC}


def set_auto_promotion(org_id: str, value: dict) -> dict:
    """Store the settings (fields not given keep their value); commits. Unprocessable naming the
    field for a bad value. Answers what ``get_auto_promotion`` answers."""
    merged = {k: v for k, v in get_auto_promotion(org_id).items() if k in DEFAULTS}
    merged.update({k: v for k, v in value.items() if k in DEFAULTS})
    problems = auto_promotion_problems(merged)
    if problems:
        raise Unprocessable("the automatic promotion settings are not valid", details={"json": problems})
    organizations.get(org_id).auto_promotion = {**merged, "margin": float(merged["margin"])}
    db.session.commit()
    return get_auto_promotion(org_id)


def decide(org_id: str, candidate: ModelVersion, comparison: dict) -> dict:
    """Apply the rule above to a paired comparison of ``candidate`` (scored in shadow) against
    production; promotes (flushed with the alias log row, not committed) when it qualifies.

    Returns the decision: {promoted, reason, at_customers, gain, margin}.
    """
    settings = get_auto_promotion(org_id)
    ll, brier = comparison["log_loss"], comparison["brier"]
    # candidate minus production: a lower log loss is a positive gain
    diff = ll.get("difference")
    gain = None if diff is None else (-diff if LOWER_IS_BETTER else diff)
    out = {
        "promoted": False,
        "gain": gain,
        "margin": settings["margin"],
        "customers": comparison["customers"],
    }

    def no(reason: str) -> dict:
        return {**out, "reason": reason}

    if not settings["enabled"]:
        return no("automatic promotion is off (PUT /api/v1/settings/auto-promotion)")
    named = model_aliases.version_of(org_id, registry.CANDIDATE)
    if named != candidate.version:
        return no(f"the candidate alias names version {named}, not {candidate.version}")
    if candidate.is_production:
        return no(f"version {candidate.version} is production already")
    if comparison["customers"] < settings["min_customers"]:
        return no(
            f"{comparison['customers']} customers compared, fewer than min_customers {settings['min_customers']}"
        )
    if gain is None:
        return no(f"{SELECTION_METRIC} could not be compared")
    if gain < settings["margin"]:
        return no(f"{SELECTION_METRIC} better by {gain:.4f}, less than the margin {settings['margin']}")
    if brier.get("difference") is None or brier["difference"] > 0:
        return no(f"calibration worse: Brier higher by {brier.get('difference')}")
    auc = comparison["roc_auc"]
    reason = (
        f"realized on {comparison['customers']} customers: {SELECTION_METRIC} lower by {gain:.4f} "
        f"(margin {settings['margin']}; paired t-test p={_p(ll)}), Brier lower by {-brier['difference']:.4f} "
        f"(p={_p(brier)}), ROC-AUC {_num(auc.get('candidate'))} against {_num(auc.get('production'))} "
        f"(DeLong p={_p(auc)})"
    )
    registry.move(org_id, registry.PRODUCTION, candidate, ACTOR, reason)
    return {**out, "promoted": True, "reason": reason}


def _p(test: dict) -> str:
    p = test.get("p_value")
    return "n/a" if p is None else f"{p:.3g}"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
