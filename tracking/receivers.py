"""Give every product created through the app its metrics row at creation.

``post_save`` runs inside the saving transaction, so a product and its metrics
commit together; ``products_bulk_created`` covers ``bulk_create`` (seeding, imports).
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from marketplace.models import Product
from marketplace.signals import products_bulk_created, server_shutdown
from tracking.metrics import MetricsHelper
from tracking.models import ProductMetrics


@receiver(post_save, sender=Product, dispatch_uid="tracking.metrics_for_new_product")
def create_metrics_for_new_product(sender, instance: Product, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        # A brand-new product cannot have a row yet: one INSERT, no lookup.
        ProductMetrics.objects.create(product_id=instance.pk)


@receiver(products_bulk_created, dispatch_uid="tracking.metrics_for_bulk_products")
def create_metrics_for_bulk_products(sender, product_ids: list[int], **kwargs) -> None:
    MetricsHelper.bulk_ensure_metrics(product_ids)


@receiver(server_shutdown, dispatch_uid="tracking.drain_on_shutdown")
def drain_tracking_on_shutdown(sender, **kwargs) -> None:
    from tracking.executor import current_executor

    executor = current_executor()
    if executor is not None:
        executor.shutdown()
