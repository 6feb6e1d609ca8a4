"""Give every product created through the app its metrics row at creation.

``post_save`` runs inside the saving transaction, so a product and its metrics
commit together; ``products_bulk_created`` covers ``bulk_create`` (seeding, imports).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from marketplace.models import Product
from marketplace.signals import (
    cart_changed,
    favorite_changed,
    order_placed,
    products_bulk_created,
    server_shutdown,
    server_started,
)
from tracking.apply import apply_events
from tracking.metrics import MetricsHelper
from tracking.models import ProductMetrics
from tracking.selectors import forget_active
from tracking.tracker import AsyncTracker, purchase


@receiver(post_save, sender=Product, dispatch_uid="tracking.forget_active_on_save")
@receiver(post_delete, sender=Product, dispatch_uid="tracking.forget_active_on_delete")
def forget_cached_activity(sender, instance: Product, **kwargs) -> None:
    forget_active(instance.pk)


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


@receiver(server_started, dispatch_uid="tracking.publish_stats_on_startup")
def publish_tracking_stats(sender, **kwargs) -> None:
    """A server process shares its tracking statistics with the others (trackingStatus)."""
    from tracking.process_stats import start_publishing

    start_publishing()


@receiver(server_started, dispatch_uid="tracking.warm_up_crawler_patterns")
def warm_up_crawler_patterns(sender, **kwargs) -> None:
    """Compile the crawler list at start, not during the first tracking call."""
    from tracking.crawlers import warm_up

    warm_up()


@receiver(server_shutdown, dispatch_uid="tracking.withdraw_stats_on_shutdown")
def withdraw_tracking_stats(sender, **kwargs) -> None:
    from tracking.process_stats import stop_publishing

    stop_publishing()


@receiver(favorite_changed, dispatch_uid="tracking.favorite_changed")
def track_favorite(sender, product_id: int, user_id: int, added: bool, **kwargs) -> None:
    # Queued only once the favorite is committed: a rolled-back change counts nothing.
    transaction.on_commit(lambda: AsyncTracker.queue_favorite_action(product_id, added=added, user_id=user_id))


@receiver(cart_changed, dispatch_uid="tracking.cart_changed")
def track_cart(sender, product_id: int, user_id, visitor_key, added: bool, quantity: int, **kwargs) -> None:
    transaction.on_commit(
        lambda: AsyncTracker.queue_cart_action(
            product_id, added=added, quantity=quantity, user_id=user_id, visitor_key=visitor_key
        )
    )


@receiver(order_placed, dispatch_uid="tracking.order_placed")
def record_purchase(sender, order, items, **kwargs) -> None:
    """Money is not queued: sales and revenue are written in the order's own
    transaction, so they always equal the orders."""
    events = [
        event
        for item in items
        for event in purchase(
            item.product_id, quantity=item.quantity, amount=item.unit_price * item.quantity, user_id=order.user_id
        )
    ]
    apply_events(events)
