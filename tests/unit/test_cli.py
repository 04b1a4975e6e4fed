"""The command line contract: train and predict, and a one-line error for every bad input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import openpyxl
import pandas as pd
import pytest

from ml_pipeline.cli import main


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, small_log_csv):
    out = tmp_path_factory.mktemp("cli") / "model"
    assert main(["train", "--events", str(small_log_csv), "--out", str(out), "--quiet"]) == 0
    return out


def test_train_prints_model_vs_baseline(small_log_csv, tmp_path, capsys):
    out = tmp_path / "m"
    code = main(
        [
            "train",
            "--events",
            str(small_log_csv),
            "--out",
            str(out),
            "--quiet",
            "--horizon-days",
            "60",
            "--churn-horizon-days",
            "45",
            "--cutoffs",
            "6",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert text.splitlines()[0].split() == ["target", "selected", "metric", "model", "baseline"]
    assert "roc_auc" in text and "gini" in text and "bundle written to" in text
    assert (out / "metadata.json").exists()
    # the importance table: per target its top features by mean |contribution| with their gain share
    table = text[text.index("feature importance of each production predictor") :]
    for target in json.loads((out / "metadata.json").read_text())["targets"]:
        assert f"\n{target} (" in table
    assert "#  feature" in table and "mean |contribution|" in table and "gain share" in table


def test_predict_writes_the_contract_columns(bundle_dir, small_log_csv, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    assert (
        main(["predict", "--model", str(bundle_dir), "--events", str(small_log_csv), "--out", str(out)]) == 0
    )
    frame = pd.read_csv(out, dtype={"customer_id": str})
    cats = [c for c in frame.columns if c.startswith("spend_") and c != "spend_total"]
    # --reasons none leaves exactly the contract's columns
    bare = tmp_path / "bare.csv"
    main(
        [
            "predict",
            "--model",
            str(bundle_dir),
            "--events",
            str(small_log_csv),
            "--out",
            str(bare),
            "--reasons",
            "none",
        ]
    )
    assert list(pd.read_csv(bare).columns) == [
        "customer_id",
        "churn_probability",
        "risk_segment",
        "spend_total",
        *cats,
    ]
    assert list(frame.columns) == [
        "customer_id",
        "churn_probability",
        "risk_segment",
        "spend_total",
        *cats,
        "reasons",
    ]
    assert frame["reasons"].notna().mean() > 0.9 and "spend_GROCERY" in cats and "spend_other" in cats
    assert frame["customer_id"].is_unique
    assert "customers scored" in capsys.readouterr().out
    # The categories (with "other") add up to the total for every customer, to the cent each was
    # rounded to.
    gap = (frame[cats].sum(axis=1) - frame["spend_total"]).abs()
    assert (gap <= 0.005 * len(cats) + 1e-9).all(), gap.max()


def test_predict_as_of_scores_only_earlier_customers(bundle_dir, small_log_csv, tmp_path):
    early = tmp_path / "early.csv"
    frame = pd.read_csv(small_log_csv)
    frame[frame["event_date"] < "2023-09-01"].to_csv(early, index=False)
    out = tmp_path / "p.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(bundle_dir),
                "--events",
                str(early),
                "--out",
                str(out),
                "--as-of",
                "2023-09-01",
            ]
        )
        == 0
    )
    scored = pd.read_csv(out)
    assert len(scored) == frame[frame["event_date"] < "2023-09-01"]["customer_id"].nunique()


def test_module_entry_point_runs(small_log_csv):
    run = subprocess.run([sys.executable, "-m", "ml_pipeline", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "train" in run.stdout and "predict" in run.stdout


def _bad(tmp_path, capsys, argv: list[str]) -> str:
    out = tmp_path / "never"
    code = main([*argv, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert not out.exists(), "nothing may be half-written"
    assert not list(tmp_path.glob(".never*")), "no temporary leftovers"
    assert err[-1].startswith("error: ")
    return err[-1]


def _csv(tmp_path, text, name="e.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _repeat_buyers(n_customers: int, per_customer: int = 4) -> str:
    rows = [
        f"C{c},2020-{1 + k * 2:02d}-{1 + c % 27:02d},{5 + c % 7}"
        for c in range(n_customers)
        for k in range(per_customer)
    ]
    return "customer_id,event_date,amount\n" + "\n".join(rows) + "\n"


BAD_INPUTS = {
    "empty": (lambda d: _csv(d, ""), "the file is empty"),
    "no_customer": (lambda d: _csv(d, "who,event_date\nA,2020-01-01\n"), "no customer id column"),
    "bad_dates": (
        lambda d: _csv(d, "customer_id,event_date\nA,2020-01-01\nB,soon\nC,later\n"),
        "unreadable event_date in row 3",
    ),
    "mixed_dates": (
        lambda d: _csv(d, "customer_id,event_date\nA,2020-01-31\nB,31/01/2020\n"),
        "mixed date formats",
    ),
    "bad_amounts": (
        lambda d: _csv(d, "customer_id,event_date,amount\nA,2020-01-01,x\nB,2020-01-01,2\n"),
        "amount is not a number in row 2",
    ),
    "wrong_extension": (
        lambda d: _csv(d, "customer_id,event_date\nA,2020-01-01\n", "e.xlsx"),
        "the name says an Excel .xlsx workbook but the content is a text (CSV) file",
    ),
    "one_customer": (
        lambda d: _csv(
            d, "customer_id,event_date,amount\n" + "".join(f"A,2020-{m:02d}-01,5\n" for m in range(1, 13))
        ),
        "the log has 1 customer(s)",
    ),
    "single_events": (
        lambda d: _csv(
            d,
            "customer_id,event_date,amount\n"
            + "".join(f"C{i},2020-{1 + i % 12:02d}-01,5\n" for i in range(100)),
        ),
        "every customer has exactly one event",
    ),
    "after_as_of": (lambda d: _csv(d, _repeat_buyers(30)), "dated on or after the as-of date 2020-03-01"),
    "duplicates": (
        lambda d: _csv(d, _repeat_buyers(30) + _repeat_buyers(30).split("\n", 1)[1]),
        "exact duplicate row(s)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_a_one_line_error(case, tmp_path, capsys):
    make, expected = BAD_INPUTS[case]
    argv = ["train", "--events", make(tmp_path)]
    if case == "after_as_of":
        argv += ["--as-of", "2020-03-01"]
    assert expected in _bad(tmp_path, capsys, argv)


def test_excel_with_several_sheets(tmp_path, capsys, small_log_frame):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "README"
    ws.append(["this sheet explains the data"])
    data = wb.create_sheet("events")
    sample = small_log_frame[small_log_frame["customer_id"] < "C0000300"]
    data.append(list(sample.columns))
    for row in sample.itertuples(index=False):
        data.append(
            [row.customer_id, row.event_date.to_pydatetime(), row.amount, row.event_type, row.category]
        )
    path = tmp_path / "book.xlsx"
    wb.save(path)
    assert "no customer id column" in _bad(tmp_path, capsys, ["train", "--events", str(path)])
    assert "no sheet named 'nope' (sheets: README, events)" in _bad(
        tmp_path, capsys, ["train", "--events", str(path), "--sheet", "nope"]
    )
    out = tmp_path / "model"
    assert main(["train", "--events", str(path), "--sheet", "events", "--out", str(out), "--quiet"]) == 0


def test_predict_refuses_other_horizon_and_missing_bundle(bundle_dir, small_log_csv, tmp_path, capsys):
    argv = ["predict", "--model", str(bundle_dir), "--events", str(small_log_csv), "--horizon-days", "90"]
    assert "differs from the model's 30" in _bad(tmp_path, capsys, argv)
    argv = ["predict", "--model", str(tmp_path / "none"), "--events", str(small_log_csv)]
    assert "not a model bundle" in _bad(tmp_path, capsys, argv)


def test_failed_train_keeps_the_existing_bundle(bundle_dir, tmp_path, capsys):
    before = (bundle_dir / "metadata.json").read_text()
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"customer_id,event_date\nA,2020-01-01\n"))
    assert main(["train", "--events", str(bad), "--out", str(bundle_dir), "--quiet"]) == 2
    assert (bundle_dir / "metadata.json").read_text() == before


def test_small_data_trains_and_says_so(tmp_path, capsys):
    path = _csv(tmp_path, _repeat_buyers(50, per_customer=6).replace("2020-11", "2020-12"))
    out = tmp_path / "m"
    assert main(["train", "--events", path, "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    targets = json.loads((out / "metadata.json").read_text())["targets"]
    for name, entry in targets.items():  # what each target uses is printed, and why for a baseline
        assert entry["selected"] in text
        if entry["selected"] == "baseline":
            assert f"note: {name}: baseline used" in text


def test_cli_page_is_the_help_text():
    """docs/cli.md holds each command's --help; scripts/cli_docs.py rewrites it."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "cli_docs.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_train_churn_label_learns_the_label_and_its_bundle_predicts_with_reasons(
    tmp_path, capsys, basket_labelled_frame
):
    from ml_pipeline.data.synthetic import write_events

    frame = basket_labelled_frame(n_customers=500)
    frame.loc[frame["customer_id"] == frame["customer_id"].iloc[0], "churned"] = ""  # unknown, scored
    events = write_events(frame, tmp_path / "labelled.csv")
    out = tmp_path / "m"
    argv = ["train", "--events", str(events), "--out", str(out), "--quiet", "--cutoffs", "2"]
    assert main([*argv, "--models", "linear", "--top-categories", "1", "--churn-label"]) == 0
    text = capsys.readouterr().out
    assert "churn learned from the churn_label column churned: 499 labelled customers" in text
    assert "20% of labelled customers held out at random, stratified" in text
    assert "1 customers without a label left out of churn training, still scored" in text
    assert "churn reliability on the held-out labelled customers" in text
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["metrics"]["churn"]["label"]["customers"] == 499
    assert meta["training"]["churn_label"] == "churned"
    pred = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(out), "--events", str(events), "--out", str(pred)]) == 0
    scored = pd.read_csv(pred, dtype={"customer_id": str}, keep_default_na=False)
    assert len(scored) == 500 and scored["churn_probability"].between(0, 1).all()
    assert (scored["reasons"] != "").any()
    # Scoring never reads the label: a value training would refuse does not stop predict.
    bad = write_events(
        frame.assign(churned=frame["churned"].where(frame.index != 3, "maybe")), tmp_path / "b.csv"
    )
    assert main(["predict", "--model", str(out), "--events", str(bad), "--out", str(pred)]) == 0
    assert len(pd.read_csv(pred)) == 500
    # Without the flag the column is named as unused; on a log without it the flag is refused.
    assert main([*argv, "--models", "linear", "--top-categories", "1"]) == 0
    assert "note: the column churned holds churn labels for 499 customers and is not used" in (
        capsys.readouterr().out
    )
    plain = write_events(frame.drop(columns="churned"), tmp_path / "plain.csv")
    err = _bad(tmp_path, capsys, ["train", "--events", str(plain), "--churn-label", "--cutoffs", "2"])
    assert "the log has no churn label column" in err and "--column churn_label=HEADER" in err
