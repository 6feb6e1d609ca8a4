from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from marketplace import sort_keys
        from marketplace.search import restore_sqlite_search_triggers

        sort_keys.connect()
        post_migrate.connect(restore_sqlite_search_triggers, sender=self)
