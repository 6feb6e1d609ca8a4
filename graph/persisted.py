"""Automatic persisted queries: Apollo's APQ protocol (version 1), over POST and GET.

Why: a storefront built with Apollo Client's persisted-query link (or urql's) first sends only
the sha256 of its document (``extensions.persistedQuery.sha256Hash``). The server answers
``PersistedQueryNotFound`` the first time; the client then sends the hash with the full
document, which the server checks and keeps; from then on the hash alone is enough. Hash-only
requests are short enough to go over GET, where an HTTP cache or CDN can serve them
(``graph.http_cache``).

Documents are kept in Django's default cache under ``KEY_PREFIX``, for ``GRAPHQL_APQ_TIMEOUT``
seconds. What may be kept is bounded twice: a document must parse within the
``GRAPHQL_MAX_TOKENS`` limit (and its body within ``REQUEST_MAX_BYTES``) to be stored, and the
cache backend bounds the number of entries (``MAX_ENTRIES``, 300 by default, culled when full).
A document that is not stored still runs, and answers the same error it would have without APQ.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from django.conf import settings
from django.core.cache import cache
from graphql import GraphQLError, GraphQLSyntaxError, parse
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

APQ_VERSION = 1
KEY_PREFIX = "graphql:apq:v1:"
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"  # Apollo's link matches this message or the code below
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


@dataclass
class Refusal(Exception):
    """A persisted-query request answered without running anything: a GraphQL error response."""

    message: str
    code: str = "BAD_USER_INPUT"
    status: int = 400

    def as_result(self) -> ExecutionResult:
        return ExecutionResult(data=None, errors=[GraphQLError(self.message, extensions={"code": self.code})])


def document_hash(query: str) -> str:
    """The hash a client sends for ``query``: sha256 of its UTF-8 text, lowercase hex."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def _requested_hash(extensions: dict | None) -> str | None:
    """The sha256Hash the request names, or None when it does not use persisted queries."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        raise Refusal("extensions.persistedQuery must be an object with `version` and `sha256Hash`.")
    if persisted.get("version") != APQ_VERSION:
        raise Refusal(
            f"Unsupported persisted query version {persisted.get('version')!r}: this server speaks version 1."
        )
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str) or not _SHA256_HEX.fullmatch(sha):
        raise Refusal("extensions.persistedQuery.sha256Hash must be the 64 hex digits of a sha256.")
    return sha.lower()


def _storable(query: str) -> bool:
    """Only documents the server would accept anyway are kept: within the size and token limits."""
    if len(query.encode("utf-8")) > settings.REQUEST_MAX_BYTES:
        return False
    try:
        parse(query, max_tokens=settings.GRAPHQL_MAX_TOKENS)
    except GraphQLSyntaxError:
        return False
    return True


async def resolve(request_data: GraphQLRequestData) -> GraphQLRequestData:
    """The request with its document filled in from the persisted-query cache.

    Requests without ``extensions.persistedQuery`` come back unchanged. A known hash gets its
    document; an unknown one raises ``Refusal`` with ``PersistedQueryNotFound`` (HTTP 200, so the
    client retries with the full document); a hash sent with a document it does not match, or a
    malformed ``persistedQuery``, raises a 400 ``BAD_USER_INPUT`` refusal.
    """
    sha = _requested_hash(request_data.extensions)
    if sha is None:
        return request_data
    if not request_data.query:
        query = await cache.aget(KEY_PREFIX + sha)
        if query is None:
            raise Refusal(NOT_FOUND_MESSAGE, code=NOT_FOUND_CODE, status=200)
        return replace(request_data, query=query)
    if document_hash(request_data.query) != sha:
        raise Refusal(
            "extensions.persistedQuery.sha256Hash does not match the query: it must be the sha256 "
            "(hex) of the query's exact UTF-8 text."
        )
    if _storable(request_data.query):
        await cache.aset(KEY_PREFIX + sha, request_data.query, timeout=settings.GRAPHQL_APQ_TIMEOUT)
    return request_data
