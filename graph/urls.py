from django.http import HttpResponse
from django.urls import path


def coming_soon(request):
    return HttpResponse("The marketplace GraphQL API is coming at /graphql/.", content_type="text/plain")


urlpatterns = [path("", coming_soon), path("graphql/", coming_soon)]
