"""Every code a client can receive is a value of a schema enum.

The services raise ``ServiceError(code="...")`` with lowercase strings; the API shows them as
``UserErrorCode`` members. A new code added to a service without its enum value would reach
clients as ``INVALID`` (and an error in the log): these tests find every code the code base can
produce, by reading its source, so that never ships.
"""

from __future__ import annotations

import ast
import inspect
import logging
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from graph.mutations.common import user_error
from graph.schema import schema
from graph.types.commerce import OrderStatus
from graph.types.errors import UserErrorCode
from graph.types.tracking import TrackingRefusalReason
from marketplace.models import Order
from marketplace.services.errors import ServiceError
from tests.factories import make_user
from tests.helpers import GraphQLClient

BASE_DIR = Path(settings.BASE_DIR)
# Where ServiceErrors are raised and UserErrors made: the services and the mutations.
SOURCES = [*sorted((BASE_DIR / "marketplace" / "services").glob("*.py")), *sorted((BASE_DIR / "graph").rglob("*.py"))]


def _strings(node: ast.AST) -> set[str]:
    """The strings an expression can evaluate to: a literal, either arm of a conditional
    (not the strings its test compares), either side of ``or``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*map(_strings, node.values))
    return set()


def codes_in(source: str) -> set[str]:
    """Every string a ``code=`` keyword of a call can carry: its literal, both arms of a
    conditional, and, when it passes a variable, every string assigned to that variable in the
    same function."""
    tree = ast.parse(source)
    codes: set[str] = set()
    for scope in ast.walk(tree):
        if not isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
            continue
        assigned: dict[str, set[str]] = {}
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, set()).update(_strings(node.value))
        for node in ast.walk(scope):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        codes |= _strings(keyword.value)
                        if isinstance(keyword.value, ast.Name):
                            codes |= assigned.get(keyword.value.id, set())
    return codes


def all_service_codes() -> set[str]:
    found = {inspect.signature(ServiceError).parameters["code"].default}
    for path in SOURCES:
        found |= codes_in(path.read_text())
    # graphql-core's and our top-level error codes are extensions, not UserError codes
    return {code for code in found if not code.isupper()}


def test_every_code_the_services_and_mutations_produce_is_a_user_error_code():
    # Given every code= in the services and the GraphQL layer
    codes = all_service_codes()
    # (the walk finds them: the ones we know of at least)
    assert {"empty_cart", "insufficient_stock", "idempotency_key_reused", "unique", "rate_limited"} <= codes

    # Then each is a value of the enum clients see
    values = {member.value for member in UserErrorCode}
    assert codes - values == set(), f"add these to UserErrorCode (graph/types/errors.py): {sorted(codes - values)}"


def test_the_walk_sees_literals_conditionals_and_variables():
    source = """
def f(x):
    code = "from_variable" if "not a code" in x else "other_arm"
    raise ServiceError("m", code=code)

def g():
    raise ServiceError("m", field="f", code="literal")

def h(flag):
    return UserError(field=None, message="m", code="a" if flag else "b")
"""
    assert codes_in(source) == {"from_variable", "other_arm", "literal", "a", "b"}


def test_an_unknown_code_is_shown_as_invalid_and_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="graph.types.errors"):
        error = user_error(ServiceError("Nope.", field="x", code="no_such_code"))
    assert error.code is UserErrorCode.INVALID
    assert "no_such_code" in caplog.text


def test_the_enums_use_graphql_names_and_the_services_codes_as_values():
    sdl = schema.as_str()
    assert "code: UserErrorCode!" in sdl and "reason: TrackingRefusalReason" in sdl and "status: OrderStatus!" in sdl
    assert UserErrorCode("empty_cart").name == "EMPTY_CART"
    assert {m.name for m in UserErrorCode} == {m.value.upper() for m in UserErrorCode}
    assert {m.name for m in TrackingRefusalReason} == {"QUEUE_FULL", "RATE_LIMITED", "DATABASE_UNAVAILABLE"}


def test_order_status_lists_the_models_choices_one_for_one():
    assert {m.value for m in OrderStatus} == set(Order.Status.values)
    assert {m.name for m in OrderStatus} == set(Order.Status.names)


@pytest.mark.django_db
def test_an_orders_status_reaches_the_client_as_the_enum_name():
    # Given a shopper with a placed and a cancelled order
    user = make_user()
    for status in (Order.Status.PLACED, Order.Status.CANCELLED):
        Order.objects.create(user=user, status=status)
    client = Client()
    client.force_login(user)

    # When they list their orders, each status is the enum's GraphQL name
    data = GraphQLClient(client).data("{ me { orders { edges { node { status } } } } }")
    assert sorted(e["node"]["status"] for e in data["me"]["orders"]["edges"]) == ["CANCELLED", "PLACED"]
