"""Shared fixtures: small event logs written in various formats."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ml_pipeline.data.synthetic import generate_events, write_events

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_log():
    """The path of a real log beside the repository (../shared/data/NAME/events.csv.gz); the test
    is skipped, saying so, where the logs are not there (they are not part of the repository)."""

    def path_of(name: str) -> Path:
        path = SHARED_DATA / name / "events.csv.gz"
        if not path.exists():
            pytest.skip(
                f"{path} not present: the real logs live beside the repository, not in it "
                "(docs/benchmarks.md has their figures)"
            )
        return path

    return path_of


@pytest.fixture
def write_csv(tmp_path: Path):
    """Write text to a file under tmp_path and return its path."""

    def write(text: str, name: str = "events.csv") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def small_log_frame() -> pd.DataFrame:
    """A 1,500-customer synthetic log over two years, with categories, refunds and other events."""
    return generate_events(n_customers=1500, n_events=20_000, days=540, seed=7)


@pytest.fixture(scope="session")
def small_log_csv(tmp_path_factory, small_log_frame) -> Path:
    return write_events(small_log_frame, tmp_path_factory.mktemp("logs") / "small.csv")


@pytest.fixture(scope="session")
def basket_labelled_frame():
    """``make(n_customers=700, seed=5)``: a synthetic log with a ``churned`` yes/no column."""
    import numpy as np

    def make(n_customers: int = 700, seed: int = 5) -> pd.DataFrame:
        """A synthetic log whose churn label is a known function of behaviour that "no purchase in the
        next 30 days" does not give: 1 for customers whose average basket is below the median, with
        one label in twenty flipped (a label is never quite a formula)."""
        frame = generate_events(n_customers=n_customers, n_events=9000, days=420, seed=seed)
        basket = frame[frame["event_type"] == "purchase"].groupby("customer_id")["amount"].mean()
        flip = np.random.default_rng(seed).random(len(basket)) < 0.05
        label = ((basket < basket.median()) ^ flip).map({True: "yes", False: "no"})
        return frame.assign(churned=frame["customer_id"].map(label).fillna(""))

    return make


@pytest.fixture
def log_from_rows():
    """Build an EventLog from (customer_id, event_date, amount, event_type, category) tuples."""
    from ml_pipeline.data.eventlog import from_frame

    columns = ["customer_id", "event_date", "amount", "event_type", "category"]

    def build(rows):
        return from_frame(pd.DataFrame(rows, columns=columns[: len(rows[0])]))

    return build


@pytest.fixture
def receivers():
    """Make webhook receivers (tests/webhook_receiver.py) on loopback ports, closed at the end:
    ``receivers(secret, answers=(500, ...), hold=None)``."""
    from webhook_receiver import Receiver

    made: list[Receiver] = []

    def make(secret: str, answers=(), hold=None) -> Receiver:
        made.append(Receiver(secret, answers, hold))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture(scope="session")
def copy_versions():
    """``copy(from_org_id, to_org_id, n)``: register ``n`` versions in ``to_org_id`` on the bundle
    of ``from_org_id``'s version 1, as a training job would (the first becomes production, the
    others follow the registry's rule: candidate); commits and returns the new ModelVersion rows.
    Call it inside an app context."""

    def copy(from_org_id: str, to_org_id: str, n: int) -> list:
        from hcl_server.db import ModelVersion
        from hcl_server.extensions import db
        from hcl_server.services import registry

        src = db.session.scalar(
            db.select(ModelVersion).where(
                ModelVersion.organization_id == from_org_id, ModelVersion.version == 1
            )
        )
        made = []
        for version in range(1, n + 1):
            mv = ModelVersion(
                organization_id=to_org_id,
                version=version,
                storage_prefix=src.storage_prefix,
                metrics=src.metrics,
                bundle_metadata=src.bundle_metadata,
            )
            db.session.add(mv)
            db.session.flush()
            registry.on_registered(mv, became_production=version == 1)
            made.append(mv)
        db.session.commit()
        return made

    return copy


@pytest.fixture(scope="session")
def overwrite_shadow():
    """``overwrite(job_id, rows)``: set the churn probability and spend total of a bulk job's
    shadow predictions, ``rows`` as (customer_id, churn_probability, spend_total), and commit: a
    candidate made better (or worse) than the copy of production it was scored with. Call inside an
    app context once the job's shadow scoring is done."""

    def overwrite(job_id: str, rows) -> None:
        from sqlalchemy import bindparam

        from hcl_server.db import ShadowPrediction
        from hcl_server.extensions import db

        table = ShadowPrediction.__table__
        statement = (
            table.update()
            .where(table.c.job_id == job_id, table.c.customer_id == bindparam("cid"))
            .values(churn_probability=bindparam("p"), spend_total=bindparam("s"))
        )
        db.session.execute(statement, [{"cid": c, "p": float(p), "s": float(s)} for c, p, s in rows])
        db.session.commit()

    return overwrite


@pytest.fixture(scope="session")
def run_python():
    """``run(env, *args)``: ``python *args`` in a new process at the repository's root with ``env``
    over this one's environment; asserts it succeeded and returns its standard output."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]

    def run(env: dict, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run
