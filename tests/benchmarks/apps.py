from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Benchmark-only app (no models): counts the SQL the live server runs."""

    name = "tests.benchmarks"
    label = "benchmarks"
    verbose_name = "Benchmarks"

    def ready(self) -> None:
        from tests.benchmarks import querycount

        querycount.install()
