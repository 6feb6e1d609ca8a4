"""Tracking events and how each kind changes the counters (the one place that says so)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from tracking.models import EventKind

# kind -> (counter, sign). Quantities multiply only where a unit count is meant.
COUNTER_OF_KIND: dict[str, tuple[str, int]] = {
    EventKind.IMPRESSION: ("total_impressions", 1),
    EventKind.VIEW: ("total_views", 1),
    EventKind.CLICK: ("total_clicks", 1),
    EventKind.FAVORITE: ("total_favorites", 1),
    EventKind.UNFAVORITE: ("total_favorites", -1),
    EventKind.CART_ADD: ("total_cart_additions", 1),
    EventKind.CART_REMOVE: ("total_cart_removals", 1),
    EventKind.PURCHASE: ("total_sales", 1),
}
# Counted per unit (the event's quantity), not per event: a shopper who puts three mugs in
# the cart adds three units, and a cart change of +3 or -2 counts 3 or 2 (README, "Metrics").
UNIT_KINDS = {EventKind.PURCHASE, EventKind.CART_ADD, EventKind.CART_REMOVE}


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    kind: str
    product_id: int
    user_id: int | None = None
    visitor_key: str | None = None
    source: str = ""
    quantity: int = 1
    amount: Decimal | None = None  # purchases: the line total
    created_at: datetime = field(default_factory=timezone.now)
    event_key: str | None = None  # the visitor's hashed client event id (tracking.dedup)
    enqueued_at: float = field(default_factory=time.monotonic)
