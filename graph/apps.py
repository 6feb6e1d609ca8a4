from django.apps import AppConfig


class GraphConfig(AppConfig):
    name = "graph"
    verbose_name = "GraphQL API"

    def ready(self) -> None:
        from graph.observability import install

        install()  # time every tracking batch
