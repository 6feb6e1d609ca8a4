"""Bearer-token authentication for API clients (``Authorization: Bearer <token>``).

Runs after Django's session authentication: a valid token sets ``request.user``
and marks the request as token-authenticated (no CSRF check applies to it: a
browser never attaches the header on its own). An invalid or revoked token is
refused with 401 rather than silently treated as anonymous.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpResponse

from config.middleware import DualModeMiddleware, json_error
from marketplace.services.accounts import user_for_token


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def _unauthorized() -> HttpResponse:
    response = json_error("Invalid or revoked API token.", "UNAUTHENTICATED", 401)
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


class BearerTokenMiddleware(DualModeMiddleware):
    def process(self, request) -> HttpResponse | None:
        secret = _bearer(request)
        if secret is None:
            return None
        user = user_for_token(secret)
        if user is None:
            return _unauthorized()
        _authenticate(request, user, secret)
        return None

    async def aprocess(self, request) -> HttpResponse | None:
        secret = _bearer(request)
        if secret is None:
            return None
        user = await sync_to_async(user_for_token)(secret)
        if user is None:
            return _unauthorized()
        _authenticate(request, user, secret)
        return None
