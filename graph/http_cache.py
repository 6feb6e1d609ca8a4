"""HTTP caching of GraphQL answers: who may keep a GET response, and for how long.

Why: a listing asked for over GET (a hash-only persisted query, say) can be served by a CDN
or the browser's cache instead of the API, but only when the answer is the same for everyone.
So an anonymous, successful GET query is ``public, max-age=GRAPHQL_GET_MAX_AGE`` (when that is
above 0); anything that depends on who asks (a session or a bearer token) is ``private``;
errors and the default ``GRAPHQL_GET_MAX_AGE=0`` are ``no-store``. ``Vary`` names the headers
that make an answer personal, so a shared cache never hands an anonymous answer to a user.
POST answers are not cacheable by HTTP rules and get no header here. Mutations never run over
GET (strawberry refuses them before execution).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from strawberry.types import ExecutionResult


def cache_control_for(*, authenticated: bool, result: ExecutionResult) -> str:
    """The Cache-Control value of a GET answer."""
    if authenticated:
        return "private, no-store"
    max_age = settings.GRAPHQL_GET_MAX_AGE
    if result.errors or max_age <= 0:
        return "no-store"
    return f"public, max-age={max_age}"


def set_cache_headers(*, method: str, authenticated: bool, result: ExecutionResult, response: HttpResponse) -> None:
    """Sets Cache-Control and Vary on a GET answer; leaves other methods alone."""
    if method != "GET":
        return
    response["Cache-Control"] = cache_control_for(authenticated=authenticated, result=result)
    patch_vary_headers(response, ("Authorization", "Cookie"))
