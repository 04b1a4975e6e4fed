"""Property-based fuzzing of the whole API from its own OpenAPI document (issue 12: "a bounded
schemathesis run over the whole API in CI: 0 server errors").

schemathesis generates requests for every operation of /api/v1/openapi.json, valid and invalid,
and sends them to the app in-process (WSGI, no network), authenticated with an organization's API
key. Its engine runs the same phases as its command line: the examples, the coverage phase (the
boundaries of every documented number, length and enum, and values just past them) and random
fuzzing. The run is bounded (HCL_FUZZ_EXAMPLES examples per operation in the fuzzing phase) and
derandomized (a fixed seed), so CI sends the same requests every time; raise HCL_FUZZ_EXAMPLES
and change HCL_FUZZ_SEED for a local hunt.

Checks (CHECKS): no response is a 5xx; every status is one the document lists for the operation
(the document has no catch-all ``default``: each operation lists its own); every response's media
type is one the document gives for that status; its body matches the status's schema (the API's
``{"error": {...}}`` for every error); and its documented headers have their documented types.
The run fails on any server error and on any response that breaks the document.
tests/service/test_openapi_contract.py checks answers about real datasets, jobs and models, which
generated ids cannot reach.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter

import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema

EXAMPLES = int(os.environ.get("HCL_FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("HCL_FUZZ_SEED", "12"))
# The coverage phase sends arrays at their documented maximum: 5,000 customers of 10,000
# transactions each is a 130 MB body that takes a minute to validate. The run lowers maxItems in
# its copy of the document so that each request stays small; the limits themselves are enforced
# by marshmallow and tested where they are set.
MAX_ITEMS = 20
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
# Revoking or rotating the key the run authenticates with turns every later request into a 401,
# and schemathesis reuses the key ids that GET /api/v1/api-keys answers: those two operations run
# in a second pass, after every other operation has had its requests.
LOCKOUT = r"/api-keys/[^/]+/(revoke|rotate)$"


def capped(node, limit: int = MAX_ITEMS):
    """A copy of an OpenAPI document (or part of one) with every ``maxItems`` at most ``limit``."""
    if isinstance(node, dict):
        out = {k: capped(v, limit) for k, v in node.items()}
        if isinstance(out.get("maxItems"), int):
            out["maxItems"] = min(out["maxItems"], limit)
        return out
    if isinstance(node, list):
        return [capped(v, limit) for v in node]
    return node


@pytest.fixture(scope="module")
def api_schema(app, make_org, upload):
    """The app's OpenAPI document as schemathesis reads it, authenticated with a fresh
    organization's API key (one without a model: its rows stay out of the other tests' way). The
    organization has one dataset, so the list it answers has a dataset to check."""
    key = make_org("Fuzz")["api_key"]
    queued = upload(
        app.test_client(), "/api/v1/datasets", key, b"customer_id,event_date,amount\nc1,2024-01-01,5\n"
    )
    assert queued.status_code == 202, queued.get_json()
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Nothing is written to a .schemathesis folder in the checkout.
            "cache": {"enabled": False},
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
                # Every request carries the key: left to generate it, half the requests were
                # spent on 401s, a path other tests cover.
                "with-security-parameters": False,
            },
            "auth": {"openapi": {"ApiKey": {"api_key": key}}},
            # The document has no links between operations, so there is nothing stateful to run.
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(capped(document), config=config)
    schema.app = app  # calls go through the app's WSGI interface, as from_wsgi would set up
    return schema


def run(schema) -> tuple[Counter, Counter, list[str]]:
    """Run every phase over every operation; the statuses answered and the checks run (a count of
    each), and one line per failed check or engine error (with a curl command to reproduce a
    failure)."""
    statuses, ran, problems = Counter(), Counter(), []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            statuses.update(
                i.response.status_code for i in recorder.interactions.values() if i.response is not None
            )
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    ran[check.name] += 1
                    if check.status == Status.FAILURE:
                        case = recorder.cases[case_id].value
                        failure = check.failure_info.failure if check.failure_info else None
                        why = f"{failure.title}: {failure.message[:500]}" if failure else ""
                        problems.append(
                            f"{check.name}: {recorder.label}: {why}\n  {case.as_curl_command()[:2000]}"
                        )
        elif isinstance(event, events.NonFatalError):
            problems.append(f"error in {event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    return statuses, ran, problems


def test_no_request_answers_a_server_error_or_breaks_the_document(api_schema, caplog):
    """Whatever a client sends to any operation, the answer is never a 5xx, and its status, media
    type, body and headers are what the document says."""
    operations = [op.ok() for op in api_schema.get_all_operations()]
    # Operations that take no input (GET /api/v1/models) have few distinct requests to send.
    with_input = sum(1 for op in operations if list(op.iter_parameters()) or list(op.body))
    # Thousands of refused requests would fill the captured log; errors are still shown.
    caplog.set_level(logging.ERROR)
    started = time.monotonic()
    statuses, ran, problems = run(api_schema.exclude(path_regex=LOCKOUT))
    last_statuses, last_ran, last_problems = run(api_schema.include(path_regex=LOCKOUT))
    statuses, ran, problems = statuses + last_statuses, ran + last_ran, problems + last_problems
    sent = sum(statuses.values())
    print(
        f"schemathesis: {sent} requests over {len(operations)} operations in "
        f"{time.monotonic() - started:.0f} s, statuses {dict(sorted(statuses.items()))}, checks {dict(ran)}"
    )
    assert not problems, f"{len(problems)} failed checks:\n" + "\n".join(dict.fromkeys(problems))
    # Every operation was fuzzed: at least the fuzzing phase's examples for each that takes input.
    assert len(operations) >= 28 and sent >= with_input * EXAMPLES, (len(operations), with_input, sent)
    # Every check ran (a check the configuration did not know would be left out silently).
    assert set(ran) == set(CHECKS), ran
    assert ran["response_schema_conformance"] >= sent // 2, ran
