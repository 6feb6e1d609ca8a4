"""Tracking's side of a shopper's privacy rights: erasure and access.

Erasure (``account_erased``, sent by ``marketplace.services.privacy`` in its transaction):
the user's activity rows stay, since they are what the counters and buckets were made
of, but lose the user and the visitor key; the favorites the erasure removed are kept
in ``ErasedFavorites`` so that ``reconcile_metrics`` still finds ``total_favorites`` exact.

Access (``activity_pages``): the user's activity rows for a data export, read a page at
a time along the primary key, so that a user with millions of rows never sits in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from django.db import IntegrityError, transaction
from django.db.models import F
from django.dispatch import receiver

from marketplace.export import keyset_pages
from marketplace.signals import account_erased
from tracking.models import ActivityEvent, ErasedFavorites

ACTIVITY_FIELDS = ("id", "kind", "product_id", "product__name", "source", "quantity", "amount", "created_at")


@receiver(account_erased, dispatch_uid="tracking.forget_erased_account")
def forget_erased_account(sender, user_id: int, favorite_product_ids: list[int], **kwargs) -> None:
    ActivityEvent.objects.filter(user_id=user_id).update(user=None, visitor_key=None)
    for product_id, count in sorted(Counter(favorite_product_ids).items()):  # one lock order
        _add_erased_favorites(product_id, count)


def _add_erased_favorites(product_id: int, count: int) -> None:
    if ErasedFavorites.objects.filter(pk=product_id).update(count=F("count") + count):
        return
    try:
        with transaction.atomic():
            ErasedFavorites.objects.create(product_id=product_id, count=count)
    except IntegrityError:  # created concurrently by another erasure
        ErasedFavorites.objects.filter(pk=product_id).update(count=F("count") + count)


def erased_favorites() -> dict[int, int]:
    """``{product_id: favorites of erased accounts}`` (reconcile adds them to the Favorite rows)."""
    return dict(ErasedFavorites.objects.values_list("product_id", "count"))


def activity_pages(*, user_id: int, page_size: int) -> Iterator[list[dict]]:
    """The user's activity rows, oldest first, ``page_size`` per query (keyset on the id
    along the ``event_user_id`` index: one indexed query per page, no cursor held between
    pages). The visitor key is left out: it is the session key, a credential while the
    session lives."""
    pages = keyset_pages(ActivityEvent.objects.filter(user_id=user_id), page_size=page_size, fields=ACTIVITY_FIELDS)
    for page in pages:
        yield [
            {
                "kind": row["kind"],
                "product": {"id": row["product_id"], "name": row["product__name"]},
                "source": row["source"],
                "quantity": row["quantity"],
                "amount": row["amount"],
                "createdAt": row["created_at"],
            }
            for row in page
        ]
