from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Tracking"

    def ready(self) -> None:
        from tracking import privacy, receivers  # noqa: F401  (connect signal receivers)
        from tracking.prometheus import install

        install()  # time every tracking batch, feed the executor's statistics to Prometheus
