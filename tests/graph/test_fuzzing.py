"""schemathesis against the live server: every query and mutation, generated arguments and
selections, and no answer may be a server fault or break the schema.

The server is the real one (uvicorn in a subprocess, on the test database, rate limits off),
seeded with a small catalogue. Every operation of the introspected schema gets its share of
the examples: most of them valid documents (positive), a fifth invalid ones (negative), each
sent anonymously or with the API token of a buyer, a seller or a staff user. IDs are drawn
from the seeded objects' real IDs as well as from edge cases (see ``fuzz/strategies.py``), so
mutations reach their services instead of stopping at "No such product".

Every response must pass:
- ``not_a_server_error``: no 5xx, and no GraphQL error that is a server fault: an error from a
  resolver counts as the client's only when its ``extensions.code`` is one of our client codes
  (``fuzz/checks.py``);
- ``response_schema_conformance`` (schemathesis): JSON, an object, no null in a non-null field;
- ``response_matches_document`` (ours): ``data`` has exactly the selected keys, and every value
  fits its field's type in the schema.

Knobs (environment variables):
- ``FUZZ_EXAMPLES`` (default 300): operations to generate in all, shared evenly among the
  schema's operations. CI runs the default in well under a minute; for a deeper local run:
  ``FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/graph/test_fuzzing.py -s``
- ``FUZZ_SEED`` (default 0): Hypothesis' seed, so a CI failure replays locally. ``random``
  picks a new one (printed with the results, to replay that run).
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections import Counter
from pathlib import Path

import graphql
import pytest
import requests
import schemathesis
from django.conf import settings as django_settings
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import response_schema_conformance

from tests.graph.fuzz.checks import (
    DocumentMismatch,
    check_against_document,
    error_codes,
    not_a_server_error,
    only_client_errors,
    payload_of,
    response_matches_document,
)
from tests.graph.fuzz.seed import seed_marketplace
from tests.graph.fuzz.server import NO_RATE_LIMITS, serving
from tests.graph.fuzz.strategies import scalar_strategies

IDENTITIES = ("anonymous", "buyer", "seller", "staff")
CHECKS = [not_a_server_error, response_schema_conformance, response_matches_document]
NEGATIVE_SHARE = 0.2
MAX_REPORTED = 15


def _examples() -> int:
    return max(1, int(os.environ.get("FUZZ_EXAMPLES", "300")))


def _seed() -> int:
    value = os.environ.get("FUZZ_SEED", "0").strip().lower()
    return random.SystemRandom().randrange(2**32) if value == "random" else int(value)


def _first_line(failure: BaseException) -> str:
    text = str(getattr(failure, "message", "") or failure).strip()
    return text.splitlines()[0][:200] if text else ""


def _outcome(response) -> str:
    """A coarse label for the summary: how far the operations got."""
    payload = payload_of(response)
    if response.status_code >= 400 or not isinstance(payload, dict):
        return f"HTTP {response.status_code}"
    codes = error_codes(payload)
    if not codes:
        return "data"
    if payload.get("data") is None and not any(codes) and all("path" not in e for e in payload["errors"]):
        return "invalid document"
    return "error " + "/".join(sorted({code or "without code" for code in codes}))


@pytest.fixture
def seeded(transactional_db):
    return seed_marketplace()


@pytest.fixture
def fuzz_api(seeded):
    """The live server, started after the data is committed, with rate limits off."""
    with serving(NO_RATE_LIMITS) as server:
        yield server


def test_generated_operations_never_get_a_server_error_or_a_response_that_breaks_the_schema(fuzz_api, seeded):
    # Given the schema as the live server introspects it
    schema = schemathesis.graphql.from_url(fuzz_api.graphql_url, timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    total, fuzz_seed = _examples(), _seed()
    per_operation = max(2, round(total / len(operations)))
    negative = max(1, round(per_operation * NEGATIVE_SHARE))
    plan = [(GenerationMode.POSITIVE, per_operation - negative), (GenerationMode.NEGATIVE, negative)]

    sessions = {who: requests.Session() for who in IDENTITIES}
    calls: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    failures: dict[tuple[str, str], str] = {}
    started = time.monotonic()

    def fuzz(operation, mode, count):
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
            suppress_health_check=list(HealthCheck),
        )
        @seed(fuzz_seed)
        @given(case=operation.as_strategy(generation_mode=mode), who=st.sampled_from(IDENTITIES))
        def run(case, who):
            headers = {}
            if who != "anonymous":
                # logout revokes the token it comes with: give it one nobody else uses
                token = seeded.fresh_token(who) if operation.label == "Mutation.logout" else seeded.tokens[who]
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = case.call(session=sessions[who], headers=headers, timeout=30)
            except requests.RequestException as exc:
                failures[(operation.label, "no answer")] = f"{exc}\n{case.as_curl_command(headers=headers)}"
                raise
            calls[operation.label] += 1
            outcomes[_outcome(response)] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup (a BaseExceptionGroup)
                for failure in getattr(exc, "exceptions", [exc]):
                    headline = f"{getattr(failure, 'title', type(failure).__name__)}: {_first_line(failure)}"
                    failures.setdefault((operation.label, headline), f"[{mode.value}, {who}] {str(exc).strip()}")

        run()

    # When each operation is fuzzed in turn, valid documents first, then invalid ones
    with scalar_strategies(seeded.all_ids):
        for operation in operations:
            for mode, count in plan:
                try:
                    fuzz(operation, mode, count)
                except requests.RequestException:
                    break
            if fuzz_api.process.poll() is not None:
                break

    elapsed = time.monotonic() - started
    summary = (
        f"{sum(calls.values())} operations generated in {elapsed:.1f} s over {len(calls)} of {len(operations)} "
        f"schema operations (FUZZ_EXAMPLES={total}, FUZZ_SEED={fuzz_seed}); answers: {dict(outcomes.most_common())}"
    )
    print(summary)
    for label, count in sorted(calls.items()):
        print(f"  {label}: {count}")

    # Then the server is still up, every operation was exercised, and no answer was a failure
    assert fuzz_api.process.poll() is None, f"the server died during fuzzing. {summary}\n{fuzz_api.log()[-3000:]}"
    missing = sorted({op.label for op in operations} - set(calls))
    assert not missing, f"never exercised: {missing}. {summary}"
    if failures:
        shown = list(failures.items())[:MAX_REPORTED]
        report = "\n\n".join(f"=== {label}: {headline}\n{detail[:2500]}" for (label, headline), detail in shown)
        more = f"\n\n(and {len(failures) - len(shown)} more distinct failures)" if len(failures) > len(shown) else ""
        pytest.fail(
            f"{len(failures)} distinct failures. {summary}\nReplay with FUZZ_SEED={fuzz_seed}.\n\n{report}{more}",
            pytrace=False,
        )


# --- the checks themselves can fail --------------------------------------------------------

SDL = graphql.build_schema((Path(django_settings.BASE_DIR) / "schema.graphql").read_text())
LISTING = """
query Listing { products(first: 1) { totalCount edges { node { id price createdAt
  category { name parent { name } } images { position } ...Rated } } } }
fragment Rated on Product { rating { average count } }
"""
GOOD = {
    "data": {
        "products": {
            "totalCount": 1,
            "edges": [
                {
                    "node": {
                        "id": "UHJvZHVjdDox",
                        "price": "10.50",
                        "createdAt": "2026-11-22T07:00:00.123456+00:00",
                        "category": {"name": "Knives", "parent": None},
                        "images": [{"position": 0}],
                        "rating": {"average": None, "count": 0},
                    }
                }
            ],
        }
    },
    "extensions": {"cost": {"requestedQueryCost": 30, "maximumAvailable": 50000}},
}


def _node(payload):
    return payload["data"]["products"]["edges"][0]["node"]


BROKEN = {
    "a selected key is missing": lambda p: _node(p).pop("price"),
    "a key nobody selected": lambda p: _node(p).update(name="x"),
    "null in a non-null field": lambda p: _node(p).update(category=None),
    "a string for an Int": lambda p: p["data"]["products"].update(totalCount="1"),
    "a bool for an Int": lambda p: p["data"]["products"].update(totalCount=True),
    "an Int beyond 32 bits": lambda p: p["data"]["products"].update(totalCount=2**31),
    "a Decimal that is no number": lambda p: _node(p).update(price="NaN"),
    "a DateTime that is no date": lambda p: _node(p).update(createdAt="yesterday"),
    "an object for a list": lambda p: _node(p).update(images={"position": 0}),
    "a fragment's field missing": lambda p: _node(p)["rating"].pop("count"),
    "data null and no errors": lambda p: p.update(data=None),
    "an empty errors list": lambda p: p.update(errors=[]),
    "an error without a message": lambda p: p.update(errors=[{"path": ["products"]}]),
    "an unknown top-level key": lambda p: p.update(debug="x"),
}


def test_the_document_check_accepts_a_faithful_answer():
    check_against_document(SDL, LISTING, GOOD)
    check_against_document(SDL, LISTING, {"data": None, "errors": [{"message": "Query cost too high"}]})


@pytest.mark.parametrize("breakage", list(BROKEN))
def test_the_document_check_catches(breakage):
    payload = copy.deepcopy(GOOD)
    BROKEN[breakage](payload)
    with pytest.raises(DocumentMismatch):
        check_against_document(SDL, LISTING, payload)


def test_only_our_client_codes_make_an_error_the_clients():
    def errors(*codes):
        return {"errors": [{"message": "m", "extensions": {"code": c}} if c else {"message": "m"} for c in codes]}

    assert only_client_errors(errors("UNAUTHENTICATED", "BAD_USER_INPUT"))
    assert not only_client_errors(errors("FORBIDDEN", "INTERNAL_SERVER_ERROR"))
    assert not only_client_errors(errors("BAD_USER_INPUT", None))
    assert not only_client_errors({"data": {"me": None}})
