from django.urls import path
from django.views.generic import RedirectView

from graph.assets import graphiql_asset
from graph.export import data_export
from graph.operator_views import healthz, metrics
from graph.schema import schema
from graph.views import GraphQLView

urlpatterns = [
    path("", RedirectView.as_view(url="/graphql/", permanent=False)),
    path("graphql/", GraphQLView.as_view(schema=schema), name="graphql"),
    path("graphiql-assets/<str:name>", graphiql_asset, name="graphiql-asset"),
    path("account/export/<str:token>", data_export, name="data-export"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
]
