from django.apps import AppConfig


class GraphConfig(AppConfig):
    name = "graph"
    verbose_name = "GraphQL API"

    def ready(self) -> None:
        from graph.prometheus import install

        install()  # time every tracking batch
