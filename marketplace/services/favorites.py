"""Favorites: idempotent add and remove. Each real change is announced once.

Deactivating a product keeps its favorites (they return if it is sold again), but
a shopper no longer sees them: ``selectors.visible_favorites`` shows them to the
product's seller and staff only, as the product itself.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from marketplace.models import Favorite, Product
from marketplace.signals import favorite_changed


def add_favorite(*, user, product: Product) -> bool:
    """Favorite ``product`` for ``user``; False when it already was (nothing changes)."""
    try:
        with transaction.atomic():
            _, created = Favorite.objects.get_or_create(user=user, product=product)
            if created:
                favorite_changed.send(sender=Favorite, product_id=product.pk, user_id=user.pk, added=True)
    except IntegrityError:  # a concurrent add won the race: same end state
        return False
    return created


def remove_favorite(*, user, product: Product) -> bool:
    """Un-favorite; False when it was not a favorite."""
    with transaction.atomic():
        deleted, _ = Favorite.objects.filter(user=user, product=product).delete()
        if deleted:
            favorite_changed.send(sender=Favorite, product_id=product.pk, user_id=user.pk, added=False)
    return bool(deleted)
