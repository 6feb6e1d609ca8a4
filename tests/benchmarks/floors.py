"""The comparison listings: what the GraphQL listing would cost written other ways.

Each view answers ``?first=N`` with the same JSON document the GraphQL listing
returns for ``products(first: N, orderBy: MOST_VIEWED)`` (the same fields, ids, cursors
and order: views descending, then id descending, active products only), so that the
load generator and the consistency check treat every variant alike.

django   the ORM as a Django developer writes it: select_related for the to-one
         relations, prefetch_related for the images, one grouped query for the ratings
         of the page (as subquery annotations on the page query, SQLite would compute
         them for every active product before sorting, not for the page's only).
raw      the floor: the count, the page and the images in plain SQL, json.dumps. The
         page sorts narrow rows (id, views) in a CTE and joins the rest, the rating
         subqueries included, for the page's rows only.
before   the seed's design: the Django listing plus tracking inside the request,
         product by product: get_or_create the metrics row, insert an impression
         event, ``m.total_impressions += 1; m.save()`` (read-modify-write).
"""

from __future__ import annotations

import base64
import json

from django.db import connection
from django.db.models import Avg, Count, F, FloatField, Prefetch, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils import timezone

from marketplace.models import Product, ProductImage, ProductReview
from tracking.models import ActivityEvent, EventKind, ProductMetrics

MAX_FIRST = 100


# --- the shape shared by every variant --------------------------------------------


def global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def cursor(views: int, pk: int) -> str:
    payload = json.dumps(["MOST_VIEWED", views, pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode()


def rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def document(total: int, edges: list[dict]) -> HttpResponse:
    body = json.dumps({"data": {"products": {"totalCount": total, "edges": edges}}})
    return HttpResponse(body, content_type="application/json")


def _first(request: HttpRequest) -> int | None:
    try:
        first = int(request.GET.get("first", "20"))
    except ValueError:
        return None
    return first if 0 <= first <= MAX_FIRST else None


# --- django: the ORM, select_related / prefetch_related ------------------------------


def _orm_page(first: int, *, with_metrics: bool) -> tuple[list[Product], dict[int, tuple[float, int]]]:
    related = ["category__parent", "seller", *(["metrics"] if with_metrics else [])]
    products = list(
        Product.objects.filter(is_active=True)
        .select_related(*related)
        .prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")))
        .annotate(sort_views=Coalesce(F("metrics__total_views"), Value(0)))
        .order_by("-sort_views", "-id")[:first]
    )
    ratings = (
        ProductReview.objects.filter(product_id__in=[p.pk for p in products])
        .values("product_id")
        .annotate(average=Avg("rating", output_field=FloatField()), count=Count("id"))
        .values_list("product_id", "average", "count")
    )
    return products, {pid: (average, count) for pid, average, count in ratings}


def _orm_edge(product: Product, metrics: ProductMetrics | None, rating: tuple[float, int] | None) -> dict:
    category, seller = product.category, product.seller
    return {
        "cursor": cursor(product.sort_views, product.pk),
        "node": {
            "id": global_id("Product", product.pk),
            "name": product.name,
            "slug": product.slug,
            "price": str(product.price),
            "inStock": product.in_stock,
            "category": {
                "name": category.name,
                "slug": category.slug,
                "parent": {"name": category.parent.name} if category.parent_id else None,
            },
            "seller": {"displayName": seller.get_full_name() or seller.username},
            "images": [{"url": i.url, "altText": i.alt_text} for i in product.images.all()],
            "rating": {"average": rating[0], "count": rating[1]} if rating else {"average": None, "count": 0},
            "metrics": {
                "totalViews": metrics.total_views if metrics else 0,
                "totalClicks": metrics.total_clicks if metrics else 0,
                "totalSales": metrics.total_sales if metrics else 0,
                "clickThroughRate": metrics.click_through_rate if metrics else 0.0,
                "conversionRate": metrics.conversion_rate if metrics else 0.0,
            },
        },
    }


def django_listing(request: HttpRequest) -> HttpResponse:
    first = _first(request)
    if first is None:
        return HttpResponseBadRequest("first must be 0..100")
    total = Product.objects.filter(is_active=True).count()
    products, ratings = _orm_page(first, with_metrics=True)
    edges = []
    for product in products:
        try:
            metrics = product.metrics
        except ProductMetrics.DoesNotExist:
            metrics = None
        edges.append(_orm_edge(product, metrics, ratings.get(product.pk)))
    return document(total, edges)


# --- before: the seed's tracking inside the request ---------------------------------


def before_listing(request: HttpRequest) -> HttpResponse:
    first = _first(request)
    if first is None:
        return HttpResponseBadRequest("first must be 0..100")
    total = Product.objects.filter(is_active=True).count()
    products, ratings = _orm_page(first, with_metrics=False)
    edges = []
    for product in products:
        metrics, _ = ProductMetrics.objects.get_or_create(product_id=product.pk)
        ActivityEvent.objects.create(kind=EventKind.IMPRESSION, product_id=product.pk, created_at=timezone.now())
        metrics.total_impressions += 1  # read-modify-write: concurrent requests overwrite each other
        metrics.save()
        edges.append(_orm_edge(product, metrics, ratings.get(product.pk)))
    return document(total, edges)


# --- raw: plain SQL and json.dumps ------------------------------------------------------

_PAGE_SQL = """
WITH page AS (
    SELECT p.id, COALESCE(m.total_views, 0) AS views
    FROM marketplace_product p
    LEFT JOIN tracking_productmetrics m ON m.product_id = p.id
    WHERE p.is_active
    ORDER BY views DESC, p.id DESC
    LIMIT %s
)
SELECT p.id, p.name, p.slug, p.price, p.stock,
       c.name, c.slug, pc.name,
       u.first_name, u.last_name, u.username,
       page.views, COALESCE(m.total_clicks, 0), COALESCE(m.total_sales, 0), COALESCE(m.total_impressions, 0),
       (SELECT AVG(r.rating) FROM marketplace_productreview r WHERE r.product_id = p.id),
       (SELECT COUNT(*) FROM marketplace_productreview r WHERE r.product_id = p.id)
FROM page
JOIN marketplace_product p ON p.id = page.id
JOIN marketplace_category c ON c.id = p.category_id
LEFT JOIN marketplace_category pc ON pc.id = c.parent_id
JOIN auth_user u ON u.id = p.seller_id
LEFT JOIN tracking_productmetrics m ON m.product_id = p.id
ORDER BY page.views DESC, p.id DESC
"""
_IMAGES_SQL = (
    "SELECT product_id, url, alt_text FROM marketplace_productimage WHERE product_id IN ({}) "
    "ORDER BY product_id, position, id"
)


def raw_listing(request: HttpRequest) -> HttpResponse:
    first = _first(request)
    if first is None:
        return HttpResponseBadRequest("first must be 0..100")
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM marketplace_product WHERE is_active")
        (total,) = cur.fetchone()
        cur.execute(_PAGE_SQL, [first])
        rows = cur.fetchall()
        images: dict[int, list[dict]] = {row[0]: [] for row in rows}
        if rows:
            cur.execute(_IMAGES_SQL.format(", ".join(["%s"] * len(rows))), [row[0] for row in rows])
            for product_id, url, alt_text in cur.fetchall():
                images[product_id].append({"url": url, "altText": alt_text})
    edges = []
    for (
        pk,
        name,
        slug,
        price,
        stock,
        cname,
        cslug,
        pname,
        first_name,
        last_name,
        username,
        views,
        clicks,
        sales,
        impressions,
        average,
        count,
    ) in rows:
        edges.append(
            {
                "cursor": cursor(views, pk),
                "node": {
                    "id": global_id("Product", pk),
                    "name": name,
                    "slug": slug,
                    "price": f"{price:.2f}",
                    "inStock": stock > 0,
                    "category": {"name": cname, "slug": cslug, "parent": {"name": pname} if pname else None},
                    "seller": {"displayName": f"{first_name} {last_name}".strip() or username},
                    "images": images[pk],
                    "rating": {"average": float(average) if average is not None else None, "count": count},
                    "metrics": {
                        "totalViews": views,
                        "totalClicks": clicks,
                        "totalSales": sales,
                        "clickThroughRate": rate(clicks, impressions),
                        "conversionRate": rate(sales, views),
                    },
                },
            }
        )
    return document(total, edges)
