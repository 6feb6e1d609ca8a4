"""What a good answer from ``/graphql/`` is, as checks for schemathesis and plain helpers.

schemathesis' ``not_a_server_error`` treats an error raised by a resolver as a server fault
unless its ``extensions.code`` is one it knows as a client error (``BAD_USER_INPUT`` and a
few more). Our API documents more client codes than that: ``UNAUTHENTICATED`` and
``FORBIDDEN`` (the fuzzer calls staff-only fields anonymously), ``RATE_LIMITED`` and
``QUERY_TOO_COSTLY``. ``not_a_server_error`` here accepts those and hands everything else to
schemathesis' check. ``response_matches_document`` goes further than schemathesis' GraphQL
conformance check (which looks for nulls in non-null fields): it walks ``data`` along the
document that was sent and checks every key, null, list, scalar and enum value against the
schema.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import re
from typing import Any

import graphql
from schemathesis.checks import not_a_server_error as schemathesis_not_a_server_error

# extensions.code values our API uses for errors that are the client's doing (graph/errors.py,
# graph/cost.py, config/middleware.py, config/auth.py).
CLIENT_ERROR_CODES = frozenset(
    {
        "BAD_USER_INPUT",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "RATE_LIMITED",
        "QUERY_TOO_COSTLY",
        "QUERY_TOO_COMPLEX",
        "PAYLOAD_TOO_LARGE",
    }
    | {"TOO_MANY_PASSWORD_MUTATIONS"}  # graph/mutations/accounts.py
)

# What a Python or Django traceback looks like in a response body.
STACK_TRACE = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
    r"site-packages|/usr/lib/python|\.py\", line|<title>[A-Za-z]+Error|Exception Value:",
)


def payload_of(response: Any) -> Any:
    """The JSON body, or None when the body is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def error_codes(payload: Any) -> list[str | None]:
    errors = payload.get("errors") if isinstance(payload, dict) else None
    return [(e.get("extensions") or {}).get("code") for e in errors or [] if isinstance(e, dict)]


def only_client_errors(payload: Any) -> bool:
    """True when the response has errors and every one carries one of our client codes."""
    codes = error_codes(payload)
    return bool(codes) and all(code in CLIENT_ERROR_CODES for code in codes)


def not_a_server_error(ctx, response, case):
    """schemathesis' check, except that our documented client error codes are client errors."""
    if response.status_code < 500 and only_client_errors(payload_of(response)):
        return None
    return schemathesis_not_a_server_error(ctx, response, case)


# --- data against the document --------------------------------------------------------------


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31


def _float(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _decimal(value: Any) -> bool:
    try:
        return isinstance(value, str) and decimal.Decimal(value).is_finite()
    except decimal.InvalidOperation:
        return False


def _datetime(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.datetime.fromisoformat(value) is not None
    except ValueError:
        return False


SCALARS = {
    "Int": _int,
    "Float": _float,
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "ID": lambda v: isinstance(v, str),
    "Decimal": _decimal,
    "DateTime": _datetime,
}


class DocumentMismatch(AssertionError):
    pass


def _collect_fields(
    schema: graphql.GraphQLSchema,
    object_type: graphql.GraphQLObjectType,
    selection_set: graphql.SelectionSetNode,
    fragments: dict[str, graphql.FragmentDefinitionNode],
    into: dict[str, list[graphql.FieldNode]],
) -> dict[str, list[graphql.FieldNode]]:
    """Response key -> the field nodes merged under it, as graphql's CollectFields does."""
    for selection in selection_set.selections:
        if isinstance(selection, graphql.FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            into.setdefault(key, []).append(selection)
        else:
            if isinstance(selection, graphql.FragmentSpreadNode):
                fragment = fragments[selection.name.value]
                condition, inner = fragment.type_condition, fragment.selection_set
            else:
                condition, inner = selection.type_condition, selection.selection_set
            if condition is not None:
                condition_type = schema.get_type(condition.name.value)
                if condition_type is not object_type and not (
                    graphql.is_abstract_type(condition_type) and schema.is_sub_type(condition_type, object_type)
                ):
                    continue
            _collect_fields(schema, object_type, inner, fragments, into)
    return into


def _field_type(object_type: graphql.GraphQLObjectType, name: str) -> graphql.GraphQLOutputType:
    if name == "__typename":
        return graphql.GraphQLNonNull(graphql.GraphQLString)
    if name == "__schema":
        raise KeyError(name)
    return object_type.fields[name].type


def _check_value(schema, value, type_, nodes, fragments, path) -> None:
    where = ".".join(map(str, path))
    if graphql.is_non_null_type(type_):
        if value is None:
            raise DocumentMismatch(f"{where}: null in a non-null field of type {type_}")
        type_ = type_.of_type
    if value is None:
        return
    if graphql.is_list_type(type_):
        if not isinstance(value, list):
            raise DocumentMismatch(f"{where}: expected a list ({type_}), got {type(value).__name__}")
        for index, item in enumerate(value):
            _check_value(schema, item, type_.of_type, nodes, fragments, [*path, index])
        return
    if graphql.is_enum_type(type_):
        if value not in type_.values:
            raise DocumentMismatch(f"{where}: {value!r} is not a value of enum {type_.name}")
        return
    if graphql.is_scalar_type(type_):
        valid = SCALARS.get(type_.name)
        if valid is not None and not valid(value):
            raise DocumentMismatch(f"{where}: {value!r} is not a valid {type_.name}")
        return
    if not isinstance(value, dict):
        raise DocumentMismatch(f"{where}: expected an object ({type_}), got {type(value).__name__}")
    if graphql.is_abstract_type(type_):
        type_ = schema.get_type(value.get("__typename", "")) if "__typename" in value else None
        if type_ is None:
            return  # which member it is cannot be told without __typename
    _check_object(schema, value, type_, [n.selection_set for n in nodes if n.selection_set], fragments, path)


def _check_object(schema, value, object_type, selection_sets, fragments, path) -> None:
    fields: dict[str, list[graphql.FieldNode]] = {}
    for selection_set in selection_sets:
        _collect_fields(schema, object_type, selection_set, fragments, fields)
    where = ".".join(map(str, path)) or "data"
    if set(value) != set(fields):
        raise DocumentMismatch(
            f"{where}: keys {sorted(value)} differ from the selection {sorted(fields)} on {object_type.name}"
        )
    for key, nodes in fields.items():
        try:
            field_type = _field_type(object_type, nodes[0].name.value)
        except KeyError:
            continue  # introspection: graphql-core's own business
        _check_value(schema, value[key], field_type, nodes, fragments, [*path, key])


def check_against_document(schema: graphql.GraphQLSchema, query: str, payload: Any) -> None:
    """Raise DocumentMismatch unless ``payload`` is a GraphQL response that fits ``query``."""
    if not isinstance(payload, dict):
        raise DocumentMismatch(f"the response is not a JSON object: {payload!r:.200}")
    if extra := set(payload) - {"data", "errors", "extensions"}:
        raise DocumentMismatch(f"unexpected top-level keys {sorted(extra)}")
    errors = payload.get("errors")
    if errors is not None:
        if not isinstance(errors, list) or not errors:
            raise DocumentMismatch(f"`errors` must be a non-empty list, got {errors!r:.200}")
        for error in errors:
            if not isinstance(error, dict) or not isinstance(error.get("message"), str) or not error["message"]:
                raise DocumentMismatch(f"an error without a message: {error!r:.200}")
    elif "data" not in payload:
        raise DocumentMismatch("neither `data` nor `errors`")
    data = payload.get("data")
    if data is None:
        if errors is None:
            raise DocumentMismatch("`data` is null and there are no errors")
        return
    document = graphql.parse(query)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, graphql.FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    operation = operations[0]
    root = schema.get_root_type(operation.operation)
    _check_object(schema, data, root, [operation.selection_set], fragments, [])


def response_matches_document(ctx, response, case):
    """The response is a well-formed GraphQL answer to the very document that was sent."""
    if response.status_code >= 500:
        return None  # not_a_server_error reports those
    query = case.body if isinstance(case.body, str) else None
    if query is None:
        return None
    try:
        check_against_document(case.operation.schema.client_schema, query, payload_of(response))
    except DocumentMismatch as exc:
        raise AssertionError(f"The response does not match the document: {exc}") from None
    return None
