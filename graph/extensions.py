"""Schema extensions of our own."""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, GraphQLError, Node, StringValueNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.validation.cache import DOCUMENTS_MAX, LRU


class CsrfForMutations(SchemaExtension):
    """Refuse mutations of session-authenticated requests that carry no valid CSRF token."""

    def on_execute(self):
        ctx = self.execution_context
        context = ctx.context
        if ctx.operation_type == OperationType.MUTATION and not getattr(context, "csrf_ok", True):
            ctx.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "CSRF token missing or incorrect: a session-authenticated mutation must send the "
                        "csrftoken cookie's value in the X-CSRFToken header (or use an API token).",
                        extensions={"code": "FORBIDDEN"},
                    )
                ],
            )
        yield


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class RefuseNulCharacters(SchemaExtension):
    """NUL cannot be stored in PostgreSQL text (the driver raises): refuse it up front,
    in variables and in string literals alike, as the client's mistake it is."""

    def on_execute(self):
        ctx = self.execution_context
        literals = _nul_in_literals(ctx.query, ctx.graphql_document) if ctx.graphql_document is not None else False
        if literals or _has_nul(ctx.variables or {}):
            ctx.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "Strings must not contain NUL characters (\\u0000).", extensions={"code": "BAD_USER_INPUT"}
                    )
                ],
            )
        yield


_literal_scans = LRU(DOCUMENTS_MAX)  # query text -> whether a string literal holds NUL


def _nul_in_literals(query: str | None, document: Node) -> bool:
    """Whether a string literal of ``document`` holds NUL: one walk per document text."""
    found = _literal_scans.get(query) if query is not None else None
    if found is None:
        found = any(isinstance(node, StringValueNode) and "\x00" in node.value for node in _walk(document))
        if query is not None:
            _literal_scans.put(query, found)
    return found


def _walk(node: Node):
    """Every node under ``node``, without recursion (a literal may be nested as deep as the
    parser allows)."""
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        for key in node.keys:
            child = getattr(node, key, None)
            if isinstance(child, Node):
                stack.append(child)
            elif isinstance(child, tuple | list):
                stack.extend(item for item in child if isinstance(item, Node))
