"""The churn_label column: read per customer, and learned from only when asked (--churn-label)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml_pipeline.data.eventlog import from_frame, load_events
from ml_pipeline.data.synthetic import generate_events
from ml_pipeline.errors import EventLogError, PipelineError
from ml_pipeline.training.labelled import customer_split
from ml_pipeline.training.trainer import TrainConfig, train

HEADER = "customer_id,event_date,amount,churned\n"


def labels_of(log) -> dict[str, float]:
    return dict(zip(log.customer_ids, log.churn_label))


def test_yes_no_any_case_and_blank_is_unknown(write_csv):
    log = load_events(
        write_csv(HEADER + "a,2024-01-01,10,YES\nb,2024-01-02,5,no\nc,2024-01-03,5,\nd,2024-01-04,5,True\n")
    )
    got = labels_of(log)
    assert got["a"] == 1 and got["b"] == 0 and np.isnan(got["c"]) and got["d"] == 1
    assert log.info["columns"]["churn_label"] == "churned"
    assert "churned: churn label of 3 customer(s)" in log.info["reading"]["churn_label"]
    assert not any("more than one value" in w for w in log.warnings)


def test_a_value_that_is_not_a_label_names_the_row_the_header_and_the_way_out(write_csv):
    text = HEADER + "a,2024-01-01,10,yes\nb,2024-01-02,5,no\nc,2024-01-03,5,maybe\nd,2024-01-04,5,1\n"
    with pytest.raises(EventLogError) as err:
        load_events(write_csv(text))
    message = str(err.value)
    assert "churned value 'maybe' in row 4" in message
    assert "--column churn_label=HEADER" in message and "--column churn_label=" in message
    # The way out it names works: the file reads without a label.
    log = load_events(write_csv(text), column_mapping={"churn_label": ""})
    assert log.churn_label is None and log.n_customers == 4


def test_conflicting_labels_take_the_latest_event_row_and_say_how_many(write_csv):
    # a: 1 then 0 (latest, by date, though earlier in the file); b: blank on its latest row, so
    # its latest row with a value says 1; c: agrees with itself.
    text = HEADER + (
        "a,2024-03-01,10,0\n"
        "a,2024-01-01,10,1\n"
        "b,2024-01-01,5,1\n"
        "b,2024-02-01,5,\n"
        "c,2024-01-01,5,0\n"
        "c,2024-02-01,5,0\n"
        "d,2024-01-01,5,yes\n"
        "d,2024-01-01,7,no\n"
    )
    log = load_events(write_csv(text))
    assert labels_of(log) == {"a": 0.0, "b": 1.0, "c": 0.0, "d": 0.0}  # d: same day, the later row
    assert any(w.startswith("2 customer(s) have more than one value") for w in log.warnings)


def test_the_label_does_not_make_duplicate_rows_distinct(write_csv):
    path = write_csv(HEADER + "a,2024-01-01,10,1\na,2024-01-01,10,0\nb,2024-01-02,5,0\n")
    log = load_events(path, duplicates="drop")
    assert log.info["duplicate_rows"] == 1 and log.n_events == 2
    assert labels_of(log) == {"a": 0.0, "b": 0.0}  # the later row's label, though the row is dropped


def test_a_column_named_label_that_holds_no_labels_is_left_out_with_a_warning(write_csv):
    log = load_events(
        write_csv("customer_id,event_date,amount,label\na,2024-01-01,10,VIP\nb,2024-01-02,5,\n")
    )
    assert log.churn_label is None and "churn_label" not in log.info["columns"]
    assert any("'label' was not read as a churn label" in w for w in log.warnings)


def test_labels_follow_customers_when_a_far_future_row_is_left_out():
    frame = generate_events(n_customers=60, n_events=900, days=300, seed=2)
    frame["churn_label"] = frame["customer_id"].str[-1].isin(list("13579")).map({True: "1", False: "0"})
    typo = pd.DataFrame(
        {"customer_id": ["ZZZ"], "event_date": ["2044-01-01"], "amount": [1.0], "churn_label": ["1"]}
    )
    log = from_frame(pd.concat([frame.astype({"event_date": "string"}), typo], ignore_index=True))
    assert "ZZZ" not in set(log.customer_ids) and len(log.churn_label) == log.n_customers
    expected = np.array([int(c[-1]) % 2 for c in log.customer_ids], dtype=float)
    np.testing.assert_array_equal(log.churn_label, expected)


# --- training ------------------------------------------------------------------------------


CONFIG = {"n_cutoffs": 2, "models": ("lightgbm", "linear"), "top_categories": 1}


@pytest.fixture(scope="module")
def basket_log(basket_labelled_frame):
    return from_frame(basket_labelled_frame())


@pytest.fixture(scope="module")
def derived(basket_log):
    return train(basket_log, TrainConfig(**CONFIG))


@pytest.fixture(scope="module")
def labelled(basket_log):
    return train(basket_log, TrainConfig(**CONFIG, churn_label=True))


def held_out(log, result):
    """Features and labels of the labelled customers the label model held out."""
    X = result.builder.transform(log, result.plan.as_of)
    y = log.churn_label[X.index.to_numpy()]
    keep = ~np.isnan(y)
    X, y = X[keep].reset_index(drop=True), y[keep]
    valid = customer_split(y, TrainConfig().random_state).valid
    return X[valid], y[valid]


def test_without_the_flag_training_says_the_label_is_not_used(derived):
    assert any(
        w.startswith("the column churned holds churn labels for 700 customers and is not used")
        and "--churn-label" in w
        for w in derived.warnings
    )
    assert "label" not in derived.targets["churn"].metrics


def test_the_label_model_beats_the_derived_label_model_on_held_out_customers(basket_log, derived, labelled):
    churn = labelled.targets["churn"]
    label = churn.metrics["label"]
    assert label["source"] == "churn_label column churned"
    assert label["validation"].startswith("20% of labelled customers held out at random, stratified")
    assert label["customers"] == 700 and label["held_out"] == 140
    assert label["positives"] == int(basket_log.churn_label.sum())
    assert churn.selected != "baseline"
    # The label model's held-out score is the one recorded at validation (the production model
    # was then refit on every labelled customer, held-out ones included).
    auc_label = churn.metrics["model"]["roc_auc"]
    assert churn.metrics["model"]["n"] == 140 and churn.metrics["baseline"]["n"] == 140
    X_valid, y_valid = held_out(basket_log, labelled)
    assert y_valid.mean() == pytest.approx(churn.metrics["model"]["observed_rate"])
    auc_derived = roc_auc_score(y_valid, derived.targets["churn"].estimator.predict(X_valid))
    print(f"held-out ROC-AUC on the label: --churn-label {auc_label:.3f}, derived label {auc_derived:.3f}")
    assert auc_label > 0.8 and auc_label > auc_derived + 0.2
    # No time-window calibration shift in this mode.
    assert churn.estimator.shift_ == 0.0
    assert labelled.training["churn_label"] == "churned"
    assert not any("is not used" in w for w in labelled.warnings)


def test_spend_targets_train_as_without_the_label(derived, labelled):
    assert list(labelled.targets) == list(derived.targets)
    for name in list(derived.targets)[1:]:
        assert labelled.targets[name].metrics == derived.targets[name].metrics


def test_a_label_derived_from_recency_is_flagged_and_unknowns_are_counted():
    frame = generate_events(n_customers=400, n_events=5000, days=400, seed=9)
    buys = frame[frame["event_type"] == "purchase"]
    last = pd.to_datetime(buys.groupby("customer_id")["event_date"].max())
    quiet = (last < last.max() - pd.Timedelta(days=60)).map({True: "1", False: "0"})
    quiet.iloc[:25] = ""  # unknown: left out of churn training, still scored
    log = from_frame(frame.assign(churn_label=frame["customer_id"].map(quiet)))
    result = train(log, TrainConfig(n_cutoffs=2, models=("linear",), top_categories=1, churn_label=True))
    assert result.targets["churn"].metrics["label"]["recency_auc"] >= 0.99
    assert any("looks derived from the log's own recency" in w for w in result.warnings)
    assert any(w.startswith("25 customer(s) have no churn label") for w in result.warnings)
    assert result.targets["churn"].metrics["label"]["customers"] == 375


def test_too_few_labels_a_single_class_or_no_column_are_refused(log_from_rows):
    frame = generate_events(n_customers=60, n_events=800, days=300, seed=4)
    ids = frame["customer_id"].drop_duplicates()
    few = dict.fromkeys(ids.iloc[:12], "1") | dict.fromkeys(ids.iloc[12:19], "0")
    config = TrainConfig(n_cutoffs=2, churn_label=True)
    with pytest.raises(PipelineError, match=r"only 19 customer\(s\) have a churn label.*12 labelled 1, 7"):
        train(from_frame(frame.assign(churn_label=frame["customer_id"].map(few).fillna(""))), config)
    with pytest.raises(PipelineError, match="all 60 labelled customers have label 0"):
        train(from_frame(frame.assign(churn_label="0")), config)
    with pytest.raises(PipelineError, match="the log has no churn label column"):
        train(from_frame(frame), config)


def test_a_log_too_short_for_windows_learns_churn_from_the_label_beside_the_fallback(tmp_path):
    from ml_pipeline.serving.bundle import load_bundle, save_bundle
    from ml_pipeline.serving.scoring import predict

    frame = generate_events(n_customers=300, n_events=4000, days=21, seed=21)
    ids = frame["customer_id"].unique()
    label = dict(zip(ids, np.where(np.arange(len(ids)) % 3 == 0, "1", "0")))
    log = from_frame(frame.assign(churn_label=frame["customer_id"].map(label)))
    result = train(log, TrainConfig(models=("linear",), churn_label=True))
    assert result.training["model"] == "btyd_fallback" and result.training["churn_label"] == "churn_label"
    churn = result.targets["churn"]
    assert churn.metrics["label"]["customers"] == 300 and churn.selected == "baseline"
    assert any(w.startswith("churn: baseline used") for w in result.warnings)
    assert result.targets["spend_total"].selected == "btyd_fallback"
    out = predict(load_bundle(save_bundle(result, log, tmp_path / "bundle")), log)
    assert len(out) == 300 and out["churn_probability"].between(0, 1).all()


def test_the_label_model_importance_is_over_the_held_out_customers(labelled):
    record = labelled.importance["churn"]
    assert record["validation_rows"] == labelled.targets["churn"].metrics["label"]["held_out"]
    assert record["rows"] == record["validation_rows"] and record["features"]
    assert labelled.importance["spend_total"]["validation_rows"] == labelled.dataset["validation_rows"]
