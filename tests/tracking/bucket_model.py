"""A naive model of the hourly and daily buckets, and the stored buckets in the same shape.

Written apart from ``tracking.buckets`` on purpose: per event, the hour by ``replace``, the day
by the local date's midnight from zoneinfo, unique viewers as Python sets of identities. Only
the kind -> counter rule is shared (``tracking.events``), since that is what the buckets must
follow, whatever it says.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from tracking.events import COUNTER_OF_KIND, UNIT_KINDS
from tracking.models import BUCKET_COUNTERS, DailyMetrics, HourlyMetrics

COUNTERS = [c for c in BUCKET_COUNTERS]


def _field(kind: str) -> str:
    counter, sign = COUNTER_OF_KIND[kind]
    if counter == "total_favorites":
        return "favorites_added" if sign > 0 else "favorites_removed"
    return counter.removeprefix("total_")


def model_buckets(events, zone: str | None = None) -> dict:
    """``{"hourly": {(product_id, start): {counter: value}}, "daily": {...}}`` of ``events``."""
    tz = ZoneInfo(zone or settings.METRICS_TIME_ZONE)
    out: dict[str, dict] = {"hourly": {}, "daily": {}}
    seen: dict[tuple, set] = defaultdict(set)
    for e in events:
        hour = e.created_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        day = datetime.combine(e.created_at.astimezone(tz).date(), time(0), tzinfo=tz).astimezone(UTC)
        for period, start in (("hourly", hour), ("daily", day)):
            bucket = out[period].setdefault((e.product_id, start), _zero())
            bucket[_field(e.kind)] += e.quantity if e.kind in UNIT_KINDS else 1
            if e.amount is not None:
                bucket["revenue"] += e.amount
            if e.kind == "view":
                who = ("u", e.user_id) if e.user_id is not None else ("k", e.visitor_key) if e.visitor_key else None
                if who is None or who not in seen[(period, e.product_id, start)]:
                    bucket["unique_viewers"] += 1
                if who is not None:
                    seen[(period, e.product_id, start)].add(who)
    return out


def _zero() -> dict:
    return {**dict.fromkeys(COUNTERS, 0), "revenue": Decimal("0")}


def stored_buckets(products=None) -> dict:
    """The buckets in the database, in ``model_buckets``' shape (of ``products`` when given)."""
    out = {}
    for period, model in (("hourly", HourlyMetrics), ("daily", DailyMetrics)):
        rows = model.objects.all()
        if products is not None:
            rows = rows.filter(product_id__in=[p.pk for p in products])
        out[period] = {
            (r["product_id"], r["start"].astimezone(UTC)): {c: r[c] for c in COUNTERS}
            for r in rows.values("product_id", "start", *COUNTERS)
        }
    return out
