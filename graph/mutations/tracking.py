"""Tracking mutations: validate, hand the events to the executor, answer at once."""

from __future__ import annotations

from typing import Annotated

import strawberry
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.utils.crypto import salted_hmac
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.ids import decode_id
from graph.ratelimit import hit, visitor
from graph.types.tracking import TrackingReceipt, TrackingRefusalReason
from marketplace.ratelimit import client_address
from tracking import tracker
from tracking.crawlers import request_is_crawler
from tracking.dedup import MAX_EVENT_ID_LENGTH, counted_before, event_key, recent_keys, tagged
from tracking.executor import get_executor
from tracking.selectors import ActivityUnknown, trackable_product_ids

MAX_LISTING_IDS = 100
MAX_SOURCE_LENGTH = 64
EVENT_ID = strawberry.argument(
    description="A client-generated id of this call (at most 64 characters): the same id from the same visitor "
    "counts once for at least 24 hours, so a client may retry freely; the receipt says `duplicate`.",
)


def _identity(info: Info, source: str | None) -> dict:
    if source is not None and len(source) > MAX_SOURCE_LENGTH:
        raise BadUserInput(f"source is longer than {MAX_SOURCE_LENGTH} characters.", field="source")
    if source is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in source):
        raise BadUserInput("source must not contain control characters.", field="source")
    # The view resolved the user once, however the request authenticated (session cookie or
    # bearer token): the context has it, the request's lazy attributes may not.
    user = info.context.user
    return {
        "user_id": user.pk if user is not None and user.is_authenticated else None,
        "visitor_key": _visitor_key(info.context.request),
        "source": source,
    }


def _visitor_key(request) -> str:
    """The session, else the address: uniqueViewers tells visitors without a session cookie
    apart by it. The address is stored hashed (keyed), never in clear."""
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        return session.session_key
    return "addr:" + salted_hmac("tracking.visitor", client_address(request), algorithm="sha256").hexdigest()[:40]


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


def _event_key(info: Info, event_id: str | None) -> str | None:
    """The stored key of the client's ``eventId`` (tracking.dedup), validated."""
    if event_id is None:
        return None
    if not 0 < len(event_id) <= MAX_EVENT_ID_LENGTH:
        raise BadUserInput(f"eventId must have 1 to {MAX_EVENT_ID_LENGTH} characters.", field="eventId")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in event_id):
        raise BadUserInput("eventId must not contain control characters.", field="eventId")
    return event_key(visitor(info.context.request, info.context.user), event_id)


async def _counted_before(key: str) -> bool:
    try:
        return await sync_to_async(counted_before)(key)
    except DatabaseError:  # cannot tell now: queue it, the batch counts it at most once
        return False


async def _offer(info: Info, events, key: str | None = None) -> TrackingReceipt:
    """Queue the events unless they come from a crawler (answered, never counted), the
    visitor is over the tracking rate limit, or their ``eventId`` was counted already."""
    if request_is_crawler(info.context.request):
        get_executor().count_bot_events(len(events))
        return TrackingReceipt(accepted=True, queued=0)
    who = visitor(info.context.request, info.context.user)
    if not hit("tracking", who, limit=settings.TRACKING_RATE_LIMIT):
        get_executor().count_rate_limited(len(events))
        return TrackingReceipt(accepted=False, queued=0, reason=TrackingRefusalReason.RATE_LIMITED)
    if key is None:
        return _receipt(get_executor().offer(events), len(events))
    if await _counted_before(key):
        return TrackingReceipt(accepted=True, queued=0, duplicate=True)
    receipt = _receipt(get_executor().offer(tagged(events, key)), len(events))
    if receipt.accepted:
        recent_keys.add(key)
    return receipt


@strawberry.type
class TrackingMutation:
    @strawberry.mutation(description="Count a product page view. Returns at once; counters follow within a second.")
    async def track_product_view(
        self,
        info: Info,
        product_id: strawberry.ID,
        source: str | None = None,
        event_id: Annotated[strawberry.ID | None, EVENT_ID] = None,
    ) -> TrackingReceipt:
        identity = _identity(info, source)
        key = _event_key(info, event_id)
        try:
            [pid] = await _checked([product_id], "productId")
        except ActivityUnknown:
            return _unavailable()
        return await _offer(info, tracker.product_view(pid, **identity), key)

    @strawberry.mutation(description="Count a click on a product (from a listing, a recommendation, an ad).")
    async def track_product_click(
        self,
        info: Info,
        product_id: strawberry.ID,
        source: str | None = None,
        event_id: Annotated[strawberry.ID | None, EVENT_ID] = None,
    ) -> TrackingReceipt:
        identity = _identity(info, source)
        key = _event_key(info, event_id)
        try:
            [pid] = await _checked([product_id], "productId")
        except ActivityUnknown:
            return _unavailable()
        return await _offer(info, tracker.product_click(pid, **identity), key)

    @strawberry.mutation(description="Count one impression for each listed product (at most 100 ids).")
    async def track_listing_view(
        self,
        info: Info,
        product_ids: list[strawberry.ID],
        source: str | None = None,
        event_id: Annotated[strawberry.ID | None, EVENT_ID] = None,
    ) -> TrackingReceipt:
        identity = _identity(info, source)
        key = _event_key(info, event_id)
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
        return await _offer(info, tracker.listing_view(pids, **identity), key)
