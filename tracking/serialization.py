"""Tracking events as plain JSON, for the trip through the Celery broker."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tracking.events import TrackingEvent


def dump_events(events: list[TrackingEvent]) -> list[list]:
    return [
        [
            e.kind,
            e.product_id,
            e.user_id,
            e.visitor_key,
            e.source,
            e.quantity,
            None if e.amount is None else str(e.amount),
            e.created_at.isoformat(),
            e.event_key,
        ]
        for e in events
    ]


def load_events(rows: list[list]) -> list[TrackingEvent]:
    return [
        TrackingEvent(
            kind=kind,
            product_id=int(product_id),
            user_id=user_id,
            visitor_key=visitor_key,
            source=source or "",
            quantity=int(quantity),
            amount=None if amount is None else Decimal(amount),
            created_at=datetime.fromisoformat(created_at),
            event_key=event_key[0] if event_key else None,
        )
        # A row published before event keys existed has eight fields.
        for kind, product_id, user_id, visitor_key, source, quantity, amount, created_at, *event_key in rows
    ]
