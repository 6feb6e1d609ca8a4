"""Tracking mutations: validate, hand the events to the executor, answer at once."""

from __future__ import annotations

import strawberry
from django.conf import settings
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.ids import decode_id
from graph.ratelimit import hit, visitor
from graph.types.tracking import TrackingReceipt, TrackingRefusalReason
from tracking import tracker
from tracking.executor import get_executor
from tracking.selectors import ActivityUnknown, trackable_product_ids

MAX_LISTING_IDS = 100
MAX_SOURCE_LENGTH = 64


def _identity(info: Info, source: str | None) -> dict:
    if source is not None and len(source) > MAX_SOURCE_LENGTH:
        raise BadUserInput(f"source is longer than {MAX_SOURCE_LENGTH} characters.", field="source")
    if source is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in source):
        raise BadUserInput("source must not contain control characters.", field="source")
    # The view resolved the user once, however the request authenticated (session cookie or
    # bearer token): the context has it, the request's lazy attributes may not.
    user = info.context.user
    session = getattr(info.context.request, "session", None)
    return {
        "user_id": user.pk if user is not None and user.is_authenticated else None,
        "visitor_key": session.session_key if session is not None else None,
        "source": source,
    }


async def _checked(ids: list[str], field: str) -> list[int]:
    product_ids = [decode_id(value, "Product", field=field) for value in ids]
    trackable = await trackable_product_ids(product_ids)
    unknown = [value for value, pid in zip(ids, product_ids, strict=True) if pid not in trackable]
    if unknown:
        raise BadUserInput(f"{field}: no active product with ID {', '.join(unknown[:5])}.", field=field)
    return product_ids


def _unavailable() -> TrackingReceipt:
    """The database is away and could not say whether a product is active (see
    ``trackable_product_ids``): refused, so that the client may send it again later."""
    return TrackingReceipt(accepted=False, queued=0, reason=TrackingRefusalReason.DATABASE_UNAVAILABLE)


def _receipt(accepted: bool, count: int) -> TrackingReceipt:
    if accepted:
        return TrackingReceipt(accepted=True, queued=count)
    return TrackingReceipt(accepted=False, queued=0, reason=TrackingRefusalReason.QUEUE_FULL)


def _offer(info: Info, events) -> TrackingReceipt:
    """Queue the events unless the visitor is over the tracking rate limit."""
    who = visitor(info.context.request, info.context.user)
    if not hit("tracking", who, limit=settings.TRACKING_RATE_LIMIT):
        get_executor().count_rate_limited(len(events))
        return TrackingReceipt(accepted=False, queued=0, reason=TrackingRefusalReason.RATE_LIMITED)
    return _receipt(get_executor().offer(events), len(events))


@strawberry.type
class TrackingMutation:
    @strawberry.mutation(description="Count a product page view. Returns at once; counters follow within a second.")
    async def track_product_view(
        self, info: Info, product_id: strawberry.ID, source: str | None = None
    ) -> TrackingReceipt:
        identity = _identity(info, source)
        try:
            [pid] = await _checked([product_id], "productId")
        except ActivityUnknown:
            return _unavailable()
        return _offer(info, tracker.product_view(pid, **identity))

    @strawberry.mutation(description="Count a click on a product (from a listing, a recommendation, an ad).")
    async def track_product_click(
        self, info: Info, product_id: strawberry.ID, source: str | None = None
    ) -> TrackingReceipt:
        identity = _identity(info, source)
        try:
            [pid] = await _checked([product_id], "productId")
        except ActivityUnknown:
            return _unavailable()
        return _offer(info, tracker.product_click(pid, **identity))

    @strawberry.mutation(description="Count one impression for each listed product (at most 100 ids).")
    async def track_listing_view(
        self, info: Info, product_ids: list[strawberry.ID], source: str | None = None
    ) -> TrackingReceipt:
        identity = _identity(info, source)
        if not product_ids:
            raise BadUserInput("productIds must not be empty.", field="productIds")
        if len(product_ids) > MAX_LISTING_IDS:
            raise BadUserInput(
                f"productIds has {len(product_ids)} ids; at most {MAX_LISTING_IDS} are allowed.", field="productIds"
            )
        try:
            pids = await _checked(list(product_ids), "productIds")
        except ActivityUnknown:
            return _unavailable()
        return _offer(info, tracker.listing_view(pids, **identity))
