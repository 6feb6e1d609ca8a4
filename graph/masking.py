"""Errors in production: a client's mistake stays readable, a server fault is masked.

A fault shows only "Internal server error" and a request id; the log line with the
full exception carries the same id, so support can find it.
"""

from __future__ import annotations

import logging
import uuid

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from graph.errors import ClientError

logger = logging.getLogger("graph.errors")


def is_server_fault(error: GraphQLError) -> bool:
    """Mask errors raised by resolvers by accident; keep validation errors (no original
    error) and deliberate GraphQLErrors (client errors, limits) as they are."""
    original = error.original_error
    if original is None or isinstance(original, ClientError):
        return False
    return not isinstance(original, GraphQLError)


class MaskServerErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_server_fault, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = uuid.uuid4().hex[:16]
        logger.error("Internal server error %s at %s", request_id, error.path, exc_info=error.original_error)
        return GraphQLError(
            message="Internal server error.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )
