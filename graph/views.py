"""The GraphQL endpoint: strawberry's async Django view with a per-request context."""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView

from graph.assets import graphiql_setup_page, missing_graphiql_assets
from graph.context import Context


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason


def _csrf_passes(request: HttpRequest) -> bool:
    check = _CsrfCheck(lambda r: None)
    check.process_request(request)
    return check.process_view(request, None, (), {}) is None


@method_decorator(csrf_exempt, name="dispatch")
class GraphQLView(AsyncGraphQLView):
    """``/graphql/``: GraphiQL for browsers (GET with Accept: text/html), the API otherwise.

    CSRF policy (the one Django REST framework uses): a request authenticated by
    the session cookie must carry the CSRF token to run a mutation (GraphiQL sends
    it); bearer-token and anonymous requests need none, since a browser attaches
    neither an Authorization header nor a login on its own. Django's blanket
    cookie check would refuse every API client, so the view is exempt from it and
    ``graph.extensions.CsrfForMutations`` applies the policy per operation.
    """

    def parse_json(self, data: str | bytes) -> Any:
        """A body must be UTF-8 JSON holding an operation object (or a list, which
        strawberry refuses as batching is off): anything else is the client's 400."""
        try:
            parsed = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(400, "Unable to parse request body as UTF-8 JSON") from None
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object with a query.")
        return parsed

    async def get_context(self, request: HttpRequest, response: HttpResponse) -> Context:
        user = await request.auser()
        auth_method = getattr(request, "auth_method", None) or ("session" if user.is_authenticated else None)
        csrf_ok = True
        if auth_method == "session" and request.method == "POST":
            csrf_ok = _csrf_passes(request)
        return Context(request=request, response=response, user=user, auth_method=auth_method, csrf_ok=csrf_ok)

    async def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        if missing := missing_graphiql_assets():  # no npm at set-up: say how to enable GraphiQL
            return graphiql_setup_page(missing)
        get_token(request)  # sets the csrftoken cookie GraphiQL sends back on mutations
        return await super().render_graphql_ide(request)
