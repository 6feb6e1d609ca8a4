"""The GraphQL endpoint: strawberry's async Django view with a per-request context."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView

from graph.context import Context


@method_decorator(csrf_exempt, name="dispatch")
class GraphQLView(AsyncGraphQLView):
    """``/graphql/``: GraphiQL for browsers (GET with Accept: text/html), the API otherwise.

    CSRF: API clients send no cookies, so Django's cookie-based CSRF check would
    only refuse them. Until sessions exist (the accounts issue) nothing here is
    authenticated by a cookie, so the view is exempt.
    """

    async def get_context(self, request: HttpRequest, response: HttpResponse) -> Context:
        return Context(request=request, response=response)
