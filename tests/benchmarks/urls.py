"""The product's URLs plus the benchmark-only comparison endpoints (``/bench/...``)."""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from strawberry.django.views import AsyncGraphQLView

from tests.benchmarks import floors, peer, querycount

BARE_BODY = b'{"data": {"__typename": "Query"}}'


async def bare(request):
    """A bare async view with a constant JSON body: the request-overhead floor."""
    return HttpResponse(BARE_BODY, content_type="application/json")


urlpatterns = [
    path("bench/bare/", csrf_exempt(bare)),
    path("bench/queries", querycount.queries_view),
    path("bench/tracking-stats", querycount.tracking_stats_view),
    path("bench/django-listing/", floors.django_listing),
    path("bench/raw-listing/", floors.raw_listing),
    path("bench/before-listing/", floors.before_listing),
    path("bench/peer-graphql/", csrf_exempt(AsyncGraphQLView.as_view(schema=peer.schema))),
    path("", include("config.urls")),
]
