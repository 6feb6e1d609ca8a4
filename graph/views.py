"""The GraphQL endpoint: strawberry's async Django view with a per-request context."""

from __future__ import annotations

import json
from typing import Any

import orjson
from cross_web import HTTPException
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from graph import http_cache, persisted
from graph.assets import graphiql_setup_page, missing_graphiql_assets
from graph.context import Context
from graph.validation import request as body_checks


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

    def encode_json(self, data: object) -> bytes:
        """The response body: orjson (a result is plain JSON types by now, and encoding a
        listing's result with it takes a tenth of the standard library's time). Anything it
        refuses (an integer wider than 64 bits, a lone surrogate) goes through the standard
        encoder as before."""
        try:
            return orjson.dumps(data)
        except orjson.JSONEncodeError:
            return json.dumps(data, cls=DjangoJSONEncoder, separators=(",", ":")).encode()

    def parse_json(self, data: str | bytes) -> Any:
        """A body (or a GET's ``variables``) must be UTF-8 JSON holding an operation object
        (or a list, which strawberry refuses as batching is off), not nested too deeply and
        without lone surrogates: anything else is the client's 400."""
        try:
            parsed = body_checks.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(400, "Unable to parse request body as UTF-8 JSON") from None
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object with a query.")
        body_checks.check(parsed)
        return parsed

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any):
        """strawberry's dispatch, except that a body we refuse gets a GraphQL-shaped JSON
        400 with ``BAD_USER_INPUT`` (strawberry answers its own refusals in plain text)."""
        try:
            return await self.run(request=request)
        except body_checks.BadRequestBody as error:
            body = {"errors": [{"message": error.reason, "extensions": {"code": "BAD_USER_INPUT"}}]}
            return JsonResponse(body, status=400)
        except HTTPException as error:
            return HttpResponse(content=error.reason, status=error.status_code, content_type="text/plain")

    async def get_context(self, request: HttpRequest, response: HttpResponse) -> Context:
        user = await request.auser()
        auth_method = getattr(request, "auth_method", None) or ("session" if user.is_authenticated else None)
        csrf_ok = True
        if auth_method == "session" and request.method == "POST":
            csrf_ok = _csrf_passes(request)
        return Context(request=request, response=response, user=user, auth_method=auth_method, csrf_ok=csrf_ok)

    async def execute_single(
        self, request, request_adapter, sub_response, context, root_value, request_data: GraphQLRequestData
    ) -> ExecutionResult:
        """strawberry's execution, with persisted queries resolved first (``graph.persisted``) and
        the HTTP cache headers of GET answers set after (``graph.http_cache``)."""
        try:
            request_data = await persisted.resolve(request_data)
        except persisted.Refusal as refusal:
            sub_response.status_code = refusal.status
            result = refusal.as_result()
        else:
            result = await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        authenticated = bool(context.auth_method) or "authorization" in request.headers
        http_cache.set_cache_headers(
            method=request_adapter.method, authenticated=authenticated, result=result, response=sub_response
        )
        return result

    async def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        if missing := missing_graphiql_assets():  # no npm at set-up: say how to enable GraphiQL
            return graphiql_setup_page(missing)
        get_token(request)  # sets the csrftoken cookie GraphiQL sends back on mutations
        return await super().render_graphql_ide(request)
