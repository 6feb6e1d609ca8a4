"""Bearer-token authentication for API clients (``Authorization: Bearer <token>``).

Runs after Django's session authentication: a valid token sets ``request.user``
and marks the request as token-authenticated (no CSRF check applies to it: a
browser never attaches the header on its own). An invalid or revoked token is
refused with 401 rather than silently treated as anonymous.
"""

from __future__ import annotations

import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpResponse

from marketplace.services.accounts import user_for_token


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def _unauthorized() -> HttpResponse:
    body = {"errors": [{"message": "Invalid or revoked API token.", "extensions": {"code": "UNAUTHENTICATED"}}]}
    response = HttpResponse(json.dumps(body), status=401, content_type="application/json")
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _authenticate(request, user, secret: str) -> None:
    from marketplace.services.accounts import token_hash

    request.user = user
    request.auth_token_hash = token_hash(secret)
    request._cached_user = user
    request.auth_method = "token"

    async def auser():
        return user

    request.auser = auser


class BearerTokenMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        secret = _bearer(request)
        if secret is not None:
            user = user_for_token(secret)
            if user is None:
                return _unauthorized()
            _authenticate(request, user, secret)
        return self.get_response(request)

    async def __acall__(self, request):
        secret = _bearer(request)
        if secret is not None:
            user = await sync_to_async(user_for_token)(secret)
            if user is None:
                return _unauthorized()
            _authenticate(request, user, secret)
        return await self.get_response(request)
