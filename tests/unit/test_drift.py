"""Drift: the training reference in a bundle, PSI per feature and prediction, unseen categories."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data.eventlog import from_frame
from ml_pipeline.data.synthetic import generate_events
from ml_pipeline.errors import PipelineError
from ml_pipeline.monitoring import (
    DEFAULT_THRESHOLDS,
    build_reference,
    category_weights,
    compare,
    counts,
    counts_of_scoring,
    drift_of_scoring,
    psi,
    report,
    scored,
    sum_counts,
)
from ml_pipeline.serving.bundle import load_bundle, save_bundle
from ml_pipeline.training.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def population():
    rng = np.random.default_rng(0)
    n = 5000
    X = pd.DataFrame(
        {
            "recency_days": rng.exponential(40.0, n),
            "frequency_all": rng.poisson(3.0, n).astype(float),
            "spend_90d": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 50.0, n)),
        }
    )
    predictions = {"churn_probability": rng.beta(2, 5, n), "spend_total": rng.gamma(2.0, 40.0, n)}
    return X, predictions


def test_a_sample_against_itself_is_stable(population):
    X, predictions = population
    ref = build_reference(X, predictions, None)
    report = compare(ref, X, predictions)
    assert set(report["features"]) == set(X.columns)
    for part in ("features", "predictions"):
        for r in report[part].values():
            assert r["psi"] == pytest.approx(0.0, abs=1e-12) and r["reading"] == "stable"
    assert report["alerts"] == [] and report["missing"] == []
    json.dumps(ref)  # JSON-able as it is


def test_a_shifted_feature_alerts_by_name(population):
    X, predictions = population
    ref = build_reference(X, predictions, None)
    shifted = X.assign(recency_days=X["recency_days"] + 60)
    report = compare(ref, shifted, predictions)
    assert report["features"]["recency_days"]["psi"] > 0.25
    assert report["features"]["frequency_all"]["psi"] == pytest.approx(0.0, abs=1e-12)
    [alert] = report["alerts"]
    assert alert["kind"] == "feature_psi" and alert["name"] == "recency_days"
    assert alert["threshold"] == 0.25 and alert["value"] > 0.25
    assert alert["message"].startswith("feature recency_days: PSI ") and "(large shift)" in alert["message"]


def test_a_shifted_prediction_alerts(population):
    X, predictions = population
    ref = build_reference(X, predictions, None)
    moved = {**predictions, "churn_probability": np.clip(predictions["churn_probability"] + 0.3, 0, 1)}
    report = compare(ref, X, moved)
    assert [(a["kind"], a["name"]) for a in report["alerts"]] == [("prediction_psi", "churn_probability")]


def test_psi_of_a_two_bin_example_by_hand():
    ref = build_reference(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}), {}, None, bins=2)
    assert ref["features"]["x"]["edges"] == [2.5]
    assert ref["features"]["x"]["shares"] == [0.5, 0.5] and ref["features"]["x"]["missing"] == 0.0
    new = pd.DataFrame({"x": [1.0] * 8 + [4.0] * 2})  # 0.8 below the edge, 0.2 above
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    # the missing slot is empty on both sides: floored to 1e-4 on both, it adds nothing
    assert compare(ref, new, {})["features"]["x"]["psi"] == pytest.approx(expected, abs=1e-6)  # rounded to 6
    assert float(psi([0.5, 0.5, 0.0], [0.8, 0.2, 0.0])) == pytest.approx(expected, abs=1e-9)


def test_empty_bins_missing_values_and_a_constant_feature():
    ref = build_reference(pd.DataFrame({"c": np.zeros(100), "x": np.arange(100.0)}), {}, None)
    assert ref["features"]["c"] == {"kind": "values", "values": [0.0], "shares": [1.0, 0.0], "missing": 0.0}
    # every new row in one bin (the others empty), half of x missing, and c takes a new value
    new = pd.DataFrame({"c": np.full(50, 7.0), "x": np.r_[np.full(25, 99.0), np.full(25, np.nan)]})
    report = compare(ref, new, {})
    values = [r["psi"] for r in report["features"].values()]
    assert all(np.isfinite(values))
    floor = 1e-4
    # c: all of the reference's share on 0, all of the new on a value it never had
    assert report["features"]["c"]["psi"] == pytest.approx(2 * (1 - floor) * math.log(1 / floor), abs=1e-5)
    # x: the same bins but half missing gives more PSI than none missing
    only_top = compare(ref, pd.DataFrame({"c": np.zeros(50), "x": np.full(50, 99.0)}), {})
    assert report["features"]["x"]["psi"] > only_top["features"]["x"]["psi"] > 0.25
    same = compare(ref, pd.DataFrame({"c": np.zeros(10), "x": np.arange(0.0, 100.0, 10)}), {})
    assert same["features"]["c"]["psi"] == 0.0


def test_decile_edges_are_deduplicated():
    z = np.r_[np.zeros(60), np.arange(1.0, 41.0)]  # 60% zeros: the first six deciles are all 0
    ref = build_reference(pd.DataFrame({"z": z}), {}, None)["features"]["z"]
    assert ref["kind"] == "quantile" and ref["edges"] == sorted(set(ref["edges"]))
    assert ref["edges"][0] == 0.0 and len(ref["shares"]) == len(ref["edges"]) + 1
    assert ref["shares"][0] == 0.0 and ref["shares"][1] == pytest.approx(0.6)  # 0 <= z < next edge


def test_missing_shares_are_compared(population):
    X, predictions = population
    ref = build_reference(X, predictions, None)
    assert ref["features"]["spend_90d"]["missing"] == pytest.approx(X["spend_90d"].isna().mean())
    more_missing = X.assign(spend_90d=np.where(np.arange(len(X)) % 2 == 0, np.nan, X["spend_90d"]))
    report = compare(ref, more_missing, predictions)
    assert report["features"]["spend_90d"]["psi"] > 0.25
    assert [a["name"] for a in report["alerts"]] == ["spend_90d"]


def test_unseen_category_share():
    X = pd.DataFrame({"x": np.arange(20.0)})
    ref = build_reference(X, {}, {"category_spend": {"A": 60.0, "B": 40.0}})
    assert ref["categories"] == {"category_spend": {"A": 0.6, "B": 0.4}}
    report = compare(ref, X, {}, {"category_spend": {"A": 70.0, "C": 30.0}, "event_type": {"x": 1.0}})
    assert report["categories"] == {"category_spend": {"unseen_share": 0.3, "unseen": ["C"]}}
    [alert] = report["alerts"]
    assert (alert["kind"], alert["name"], alert["value"], alert["threshold"]) == (
        "unseen_share",
        "category_spend",
        0.3,
        0.05,
    )
    assert "30%" in alert["message"] and "C" in alert["message"]


def test_thresholds_override_the_defaults(population):
    X, predictions = population
    ref = build_reference(X, predictions, {"category_spend": {"A": 1.0, "B": 1.0}})
    shifted = X.assign(recency_days=X["recency_days"] + 60)
    cats = {"category_spend": {"A": 0.7, "C": 0.3}}
    report = compare(ref, shifted, predictions, cats, thresholds={"feature_psi": 50.0, "unseen_share": 0.5})
    assert report["alerts"] == []
    assert report["thresholds"] == {**DEFAULT_THRESHOLDS, "feature_psi": 50.0, "unseen_share": 0.5}
    strict = compare(ref, X, predictions, thresholds={"feature_psi": -1.0})
    assert {a["name"] for a in strict["alerts"]} == set(X.columns)
    assert all(a["threshold"] == -1.0 for a in strict["alerts"])
    with pytest.raises(PipelineError, match="unknown drift threshold"):
        compare(ref, X, predictions, thresholds={"psi": 0.1})


def test_no_rows_and_absent_columns(population):
    X, predictions = population
    ref = build_reference(X, predictions, None)
    assert compare(ref, X.iloc[:0], {})["alerts"] == []
    report = compare(ref, X[["recency_days"]], {"churn_probability": predictions["churn_probability"]})
    assert set(report["missing"]) == {"frequency_all", "spend_90d", "spend_total"}


def test_bin_codes_are_searchsorted_codes():
    """The fast codes (one comparison per edge) are the searchsorted ones: values on an edge go
    up, NaN to the missing slot, infinities to the end bins, values never seen to their slot."""
    from ml_pipeline.monitoring.drift import _codes

    rng = np.random.default_rng(3)
    edges = [0.0, 1.0, 2.5, 7.0]
    v = np.r_[rng.normal(2, 3, 1000), edges, [np.nan, np.inf, -np.inf, np.nan]]
    codes, slots = _codes(v, {"kind": "quantile", "edges": edges})
    expected = np.searchsorted(edges, v, side="right")
    expected[np.isnan(v)] = slots - 1
    assert slots == 6 and np.array_equal(codes, expected)
    values = [0.0, 1.0, 3.0]
    w = np.r_[rng.integers(-1, 5, 1000).astype(float), [np.nan, np.inf, 0.5]]
    codes, slots = _codes(w, {"kind": "values", "values": values})
    expected = np.array([values.index(x) if x in values else 3 for x in w])
    expected[np.isnan(w)] = slots - 1
    assert slots == 5 and np.array_equal(codes, expected)


def _pieces(X: pd.DataFrame, predictions: dict, bounds: list[int]):
    """``X`` and ``predictions`` cut at ``bounds`` (row positions), as partitions cut a job."""
    edges = [0, *bounds, len(X)]
    for lo, hi in zip(edges, edges[1:]):
        yield X.iloc[lo:hi], {k: v[lo:hi] for k, v in predictions.items()}


@pytest.mark.parametrize("shift", [0.0, 60.0])
def test_counts_summed_over_pieces_give_the_report_of_the_whole(population, shift):
    X, predictions = population
    ref = build_reference(X, predictions, {"category_spend": {"A": 3.0, "B": 1.0}})
    new = X.assign(recency_days=X["recency_days"] + shift)
    # categories per piece: one piece has a category the reference never had, one has none at all
    cats = [{"category_spend": {"A": 5.0, "B": 2.0}}, None, {"category_spend": {"A": 1.0, "C": 4.0}}, {}]
    pieces = [
        json.loads(json.dumps(counts(ref, x, p, c)))  # through JSON, as the database keeps them
        for (x, p), c in zip(_pieces(new, predictions, [1200, 1200, 3100]), cats)  # one piece is empty
    ]
    assert pieces[1]["rows"] == 0 and all(isinstance(n, int) for n in pieces[0]["features"]["recency_days"])
    whole_cats = {"category_spend": {"A": 6.0, "B": 2.0, "C": 4.0}}
    expected = compare(ref, new, predictions, whole_cats, thresholds={"unseen_share": 0.2})
    summed = sum_counts(pieces)
    assert summed["rows"] == len(X)
    assert report(ref, summed, thresholds={"unseen_share": 0.2}) == expected
    assert expected["categories"]["category_spend"] == {"unseen_share": round(4 / 12, 6), "unseen": ["C"]}
    assert bool(expected["alerts"]) and (shift > 0) == (
        "recency_days" in {a["name"] for a in expected["alerts"]}
    )
    # the counts of a piece add up to its rows in every column (the missing slot included)
    assert all(sum(c) == 2000 for c in counts(ref, new.iloc[:2000], {})["features"].values())


def test_sums_of_pieces_counted_against_another_reference_are_refused(population):
    X, predictions = population
    ref = build_reference(X, predictions, None)
    other = build_reference(X.assign(recency_days=np.arange(len(X)) % 3), predictions, None)
    pieces = [counts(ref, X.iloc[:10], {}), counts(other, X.iloc[10:20], {})]
    with pytest.raises(PipelineError, match="different references"):
        sum_counts(pieces)
    with pytest.raises(PipelineError, match="another reference"):
        report(ref, pieces[1])
    assert report(ref, sum_counts([]))["alerts"] == [] and sum_counts([])["rows"] == 0


@pytest.fixture(scope="module")
def trained_bundle(tmp_path_factory):
    log = from_frame(generate_events(n_customers=500, n_events=6000, days=400, seed=5))
    result = train(log, TrainConfig(models=("linear",), n_cutoffs=3, num_threads=1))
    path = save_bundle(result, log, tmp_path_factory.mktemp("drift") / "bundle")
    return log, result, path


def test_a_trained_bundle_keeps_its_reference(trained_bundle, tmp_path):
    log, result, path = trained_bundle
    assert result.training["model"] == "rolling_windows" and result.reference is not None
    assert (path / "reference.json").exists()
    assert json.loads((path / "metadata.json").read_text())["reference"] == "reference.json"
    bundle = load_bundle(path)
    ref = bundle.reference
    assert ref["rows"] == log.n_customers  # every customer, at the training as-of date
    assert set(ref["features"]) == set(bundle.metadata["features"])
    assert set(ref["predictions"]) == {"churn_probability", "spend_total"}
    assert set(ref["categories"]) == {"category_spend", "event_type"}
    # its own population at the as-of date, scored by the loaded bundle: no alert
    X_now = bundle.builder.transform(log, result.plan.as_of)[bundle.metadata["features"]]
    report = drift_of_scoring(bundle, X_now, scored(bundle.predictors, X_now), category_weights(log))
    assert report["alerts"] == [], report["alerts"]
    assert max(r["psi"] for r in report["features"].values()) < 0.01
    # a later population with every customer 60 days more recent-less: alerts name recency
    late = X_now.assign(**{c: X_now[c] + 60 for c in X_now.columns if c.startswith("recency")})
    alerts = drift_of_scoring(bundle, late, scored(bundle.predictors, X_now))["alerts"]
    assert any(a["name"].startswith("recency") for a in alerts)


def test_scoring_hands_over_its_features_for_the_drift_counts(trained_bundle):
    from ml_pipeline.serving.scoring import predict, score

    log, _, path = trained_bundle
    bundle = load_bundle(path)
    done = score(bundle, log, reasons=None)
    pd.testing.assert_frame_equal(done.frame, predict(bundle, log, reasons=None))
    assert list(done.features.columns) == bundle.metadata["features"] and len(done.features) == len(
        done.frame
    )
    assert set(done.predictions) >= {"churn_probability", "spend_total"}
    as_of = int(log.day.max()) + 1
    piece = counts_of_scoring(bundle, done.features, done.predictions, log, as_of)
    whole = drift_of_scoring(bundle, done.features, done.predictions, category_weights(log, as_of))
    assert report(bundle.reference, piece) == whole and piece["rows"] == len(done.frame)
    assert set(piece["categories"]) == {"category_spend", "event_type"}


def test_an_old_bundle_without_a_reference_still_loads_and_serves(trained_bundle, tmp_path):
    from ml_pipeline.serving.scoring import predict

    log, _, path = trained_bundle
    old = tmp_path / "old"
    shutil.copytree(path, old)
    (old / "reference.json").unlink()
    meta = json.loads((old / "metadata.json").read_text())
    del meta["reference"]
    (old / "metadata.json").write_text(json.dumps(meta))
    bundle = load_bundle(old)
    assert bundle.reference is None
    assert drift_of_scoring(bundle, pd.DataFrame({"x": [1.0]}), {}) is None
    assert counts_of_scoring(bundle, pd.DataFrame({"x": [1.0]}), {}, log, 400) is None
    assert len(predict(bundle, log, reasons=None)) > 0


def test_the_short_log_fallback_keeps_no_reference(tmp_path):
    log = from_frame(generate_events(n_customers=300, n_events=4000, days=21, seed=21))
    result = train(log, TrainConfig(models=("linear",), num_threads=1))
    assert result.training["model"] == "btyd_fallback" and result.reference is None
    path = save_bundle(result, log, tmp_path / "bundle")
    assert not (path / "reference.json").exists()
    assert json.loads((path / "metadata.json").read_text())["reference"] is None
    assert load_bundle(path).reference is None


def test_a_large_population_is_sampled(trained_bundle, monkeypatch):
    from ml_pipeline.monitoring import reference as module

    log, result, _ = trained_bundle
    X_now = result.builder.transform(log, result.plan.as_of)
    predictors = {k: r.estimator for k, r in result.targets.items()}
    monkeypatch.setattr(module, "MAX_REFERENCE_ROWS", 50)
    ref = module.training_reference(X_now, predictors, log, result.plan.as_of)
    assert ref["rows"] == 50 < len(X_now)
    assert module.training_reference(X_now.iloc[:0], predictors, log, result.plan.as_of) is None


def test_the_training_log_scored_at_its_as_of_shows_no_drift(trained_bundle):
    """The reference is the population scored on the day of training: the same log scored then
    has a PSI of 0 on every feature and prediction, and no alert."""
    from ml_pipeline.serving.scoring import score

    log, result, path = trained_bundle
    bundle = load_bundle(path)
    now = score(bundle, log, reasons=None)
    piece = counts_of_scoring(bundle, now.features, now.predictions, log, result.plan.as_of)
    found = report(bundle.reference, sum_counts([piece]))
    assert found["rows"] == bundle.reference["rows"] == log.n_customers
    assert all(r["psi"] == 0 for r in [*found["features"].values(), *found["predictions"].values()])
    assert found["alerts"] == []
