"""What the marketplace holds about one user, for a data export (a GDPR access request).

Selectors only: each section is read a page at a time along the primary key (keyset,
one indexed query per page, plus one for the lines of a page of orders), so that an
export of a user with a long history never holds it in memory. Rows are plain dicts
ready for JSON. Only the user's own data: products appear by id and name, never with
their sellers or other shoppers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.db.models import QuerySet

from marketplace.models import ApiToken, Favorite, Order, OrderItem, ProductReview


def keyset_pages(qs: QuerySet, *, page_size: int, fields: tuple[str, ...]) -> Iterator[list[dict]]:
    """``qs`` as lists of ``values(*fields)`` dicts, ``page_size`` at a time in id order
    (``fields`` must include ``id``); a short page ends it without one more query."""
    last_id = 0
    while True:
        page = list(qs.filter(id__gt=last_id).order_by("id").values(*fields)[:page_size])
        if page:
            yield page
            last_id = page[-1]["id"]
        if len(page) < page_size:
            return


def account(user) -> dict:
    tokens = ApiToken.objects.filter(user=user).order_by("id")
    return {
        "username": user.username,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "dateJoined": user.date_joined,
        "lastLogin": user.last_login,
        "isStaff": user.is_staff,
        "apiTokens": [  # the record, never the secret (only its hash is stored anyway)
            {
                "prefix": t.prefix,
                "name": t.name,
                "createdAt": t.created_at,
                "lastUsedAt": t.last_used_at,
                "revokedAt": t.revoked_at,
            }
            for t in tokens
        ],
    }


def _product(row: dict) -> dict:
    return {"id": row["product_id"], "name": row["product__name"]}


def order_pages(user, *, page_size: int) -> Iterator[list[dict]]:
    """The user's orders with their lines: two queries per page."""
    qs = Order.objects.filter(user=user)
    for page in keyset_pages(
        qs, page_size=page_size, fields=("id", "status", "total", "created_at", "idempotency_key")
    ):
        lines: dict[int, list[dict]] = {}
        items = OrderItem.objects.filter(order_id__in=[o["id"] for o in page]).order_by("id")
        for item in items.values("order_id", "product_id", "product__name", "quantity", "unit_price"):
            lines.setdefault(item["order_id"], []).append(
                {
                    "product": _product(item),
                    "quantity": item["quantity"],
                    "unitPrice": item["unit_price"],
                    "lineTotal": item["unit_price"] * item["quantity"],
                }
            )
        yield [
            {
                "id": o["id"],
                "status": o["status"],
                "total": o["total"],
                "createdAt": o["created_at"],
                "idempotencyKey": o["idempotency_key"],
                "items": lines.get(o["id"], []),
            }
            for o in page
        ]


def _mapped(pages: Iterator[list[dict]], shape: Callable[[dict], dict]) -> Iterator[list[dict]]:
    for page in pages:
        yield [shape(row) for row in page]


def review_pages(user, *, page_size: int) -> Iterator[list[dict]]:
    fields = ("id", "product_id", "product__name", "rating", "title", "body", "created_at", "verified_purchase")
    pages = keyset_pages(ProductReview.objects.filter(user=user), page_size=page_size, fields=fields)
    return _mapped(
        pages,
        lambda r: {
            "product": _product(r),
            "rating": r["rating"],
            "title": r["title"],
            "body": r["body"],
            "createdAt": r["created_at"],
            "verifiedPurchase": r["verified_purchase"],
        },
    )


def favorite_pages(user, *, page_size: int) -> Iterator[list[dict]]:
    pages = keyset_pages(
        Favorite.objects.filter(user=user),
        page_size=page_size,
        fields=("id", "product_id", "product__name", "created_at"),
    )
    return _mapped(pages, lambda r: {"product": _product(r), "createdAt": r["created_at"]})
