"""The public tracking API (the seed's names).

``AsyncTracker.queue_*`` hand events to the process executor and return at once
(True when accepted, False when refused; never raise). ``ProductTracker.track_*``
apply the same events synchronously, for scripts and tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal

from tracking.apply import BatchResult, apply_events
from tracking.events import TrackingEvent
from tracking.executor import get_executor
from tracking.models import EventKind

logger = logging.getLogger(__name__)


def _identity(user_id: int | None, visitor_key: str | None, source: str | None) -> dict:
    return {"user_id": user_id, "visitor_key": visitor_key, "source": (source or "")[:64]}


def product_view(product_id: int, *, user_id=None, visitor_key=None, source=None) -> list[TrackingEvent]:
    return [TrackingEvent(EventKind.VIEW, product_id, **_identity(user_id, visitor_key, source))]


def product_click(product_id: int, *, user_id=None, visitor_key=None, source=None) -> list[TrackingEvent]:
    return [TrackingEvent(EventKind.CLICK, product_id, **_identity(user_id, visitor_key, source))]


def listing_view(product_ids: Iterable[int], *, user_id=None, visitor_key=None, source=None) -> list[TrackingEvent]:
    identity = _identity(user_id, visitor_key, source)
    return [TrackingEvent(EventKind.IMPRESSION, pid, **identity) for pid in dict.fromkeys(product_ids)]


def favorite_action(product_id: int, *, added: bool, user_id=None, visitor_key=None, source=None):
    kind = EventKind.FAVORITE if added else EventKind.UNFAVORITE
    return [TrackingEvent(kind, product_id, **_identity(user_id, visitor_key, source))]


def cart_action(product_id: int, *, added: bool, quantity: int = 1, user_id=None, visitor_key=None, source=None):
    kind = EventKind.CART_ADD if added else EventKind.CART_REMOVE
    return [TrackingEvent(kind, product_id, quantity=quantity, **_identity(user_id, visitor_key, source))]


def purchase(product_id: int, *, quantity: int, amount: Decimal, user_id=None, visitor_key=None, source=None):
    return [
        TrackingEvent(
            EventKind.PURCHASE, product_id, quantity=quantity, amount=amount, **_identity(user_id, visitor_key, source)
        )
    ]


def _offer(events: list[TrackingEvent]) -> bool:
    try:
        return get_executor().offer(events)
    except Exception:  # tracking must never break the caller
        logger.exception("Could not queue %d tracking events", len(events))
        return False


class AsyncTracker:
    """Queue events for the background workers; each call returns at once."""

    @staticmethod
    def queue_product_view(product_id: int, **identity) -> bool:
        return _offer(product_view(product_id, **identity))

    @staticmethod
    def queue_product_click(product_id: int, **identity) -> bool:
        return _offer(product_click(product_id, **identity))

    @staticmethod
    def queue_listing_view(product_ids: Iterable[int], **identity) -> bool:
        return _offer(listing_view(product_ids, **identity))

    @staticmethod
    def queue_favorite_action(product_id: int, *, added: bool, **identity) -> bool:
        return _offer(favorite_action(product_id, added=added, **identity))

    @staticmethod
    def queue_cart_action(product_id: int, *, added: bool, quantity: int = 1, **identity) -> bool:
        return _offer(cart_action(product_id, added=added, quantity=quantity, **identity))

    @staticmethod
    def queue_purchase(product_id: int, *, quantity: int, amount: Decimal, **identity) -> bool:
        return _offer(purchase(product_id, quantity=quantity, amount=amount, **identity))


class ProductTracker:
    """The same events, applied now in the caller's thread (one transaction per call)."""

    @staticmethod
    def track_product_view(product_id: int, **identity) -> BatchResult:
        return apply_events(product_view(product_id, **identity))

    @staticmethod
    def track_product_click(product_id: int, **identity) -> BatchResult:
        return apply_events(product_click(product_id, **identity))

    @staticmethod
    def track_listing_view(product_ids: Iterable[int], **identity) -> BatchResult:
        return apply_events(listing_view(product_ids, **identity))

    @staticmethod
    def track_favorite_action(product_id: int, *, added: bool, **identity) -> BatchResult:
        return apply_events(favorite_action(product_id, added=added, **identity))

    @staticmethod
    def track_cart_action(product_id: int, *, added: bool, quantity: int = 1, **identity) -> BatchResult:
        return apply_events(cart_action(product_id, added=added, quantity=quantity, **identity))

    @staticmethod
    def track_purchase(product_id: int, *, quantity: int, amount: Decimal, **identity) -> BatchResult:
        return apply_events(purchase(product_id, quantity=quantity, amount=amount, **identity))
