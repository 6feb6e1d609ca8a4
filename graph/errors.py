"""Errors a client can act on. Each carries ``extensions.code`` so that clients and
fuzzers can tell a client mistake from a server fault."""

from __future__ import annotations

from graphql import GraphQLError


class ClientError(GraphQLError):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        extensions = {"code": self.code}
        if field:
            extensions["field"] = field
        super().__init__(message, extensions=extensions)


class BadUserInput(ClientError):
    code = "BAD_USER_INPUT"


class Unauthenticated(ClientError):
    code = "UNAUTHENTICATED"


class Forbidden(ClientError):
    code = "FORBIDDEN"


class RateLimited(ClientError):
    code = "RATE_LIMITED"
