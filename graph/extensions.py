"""Schema extensions of our own."""

from __future__ import annotations

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


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
