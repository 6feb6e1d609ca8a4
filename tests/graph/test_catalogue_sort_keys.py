"""The stored sort keys and counts agree with their sources after any mix of writes.

Given a random mix of tracking, reviews (added, changed, deleted), checkouts,
deactivations and category moves, every listing order returns the same sequence as a
naive ORDER BY over the source tables, paging walks every product exactly once,
every count marked exact is exact, and ``reconcile_metrics`` finds no drift.
"""

from __future__ import annotations

import random

import pytest
from django.db.models import Count, Sum

from marketplace.models import Category, OrderItem, Product, ProductReview
from marketplace.services import cart as carts
from marketplace.services import orders
from marketplace.services.errors import ServiceError
from marketplace.services.products import deactivate_product, update_product
from marketplace.sort_keys import rating_score
from tests.factories import make_category, make_product, make_review, make_user
from tracking.apply import apply_events
from tracking.models import ProductMetrics
from tracking.reconcile import find_drift
from tracking.tracker import product_view

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = ["NEWEST", "PRICE_ASC", "PRICE_DESC", "MOST_VIEWED", "BEST_SELLING", "TOP_RATED"]
PAGE = """
query($after: String, $order: ProductOrder, $filter: ProductFilter) {
  products(first: 7, after: $after, orderBy: $order, filter: $filter) {
    totalCount totalCountIsExact pageInfo { hasNextPage endCursor } edges { node { slug } } } }
"""


def build_and_churn(seed: int) -> list[Category]:
    rng = random.Random(seed)
    roots = [make_category() for _ in range(2)]
    leaves = [make_category(parent=roots[i % 2]) for i in range(4)] + [make_category(parent=roots[0])]
    leaves.append(make_category(parent=leaves[0]))  # a third level
    sellers, shoppers = [make_user() for _ in range(2)], [make_user() for _ in range(6)]
    products = [
        make_product(seller=rng.choice(sellers), category=rng.choice(leaves), price=f"{rng.choice([5, 10, 10, 20])}.00")
        for _ in range(40)
    ]
    for _ in range(120):
        action, product = rng.random(), rng.choice(products)
        product.refresh_from_db()
        if action < 0.35:
            apply_events([e for _ in range(rng.randint(1, 3)) for e in product_view(product.pk)])
        elif action < 0.55:
            shopper = rng.choice(shoppers)
            review = ProductReview.objects.filter(user=shopper, product=product).first()
            if review is None:
                make_review(product, user=shopper, rating=rng.randint(1, 5))
            elif rng.random() < 0.5:
                review.rating = rng.randint(1, 5)
                review.save()
            else:
                review.delete()
        elif action < 0.75 and product.is_active:
            shopper = rng.choice(shoppers)
            cart = carts.get_cart(user=shopper, create=True)
            try:
                carts.add_to_cart(cart=cart, product=product, quantity=rng.randint(1, 2))
                orders.checkout(user=shopper, cart=cart)
            except ServiceError:
                cart.items.all().delete()
        elif action < 0.85:
            deactivate_product(product=product)
        else:
            update_product(product=product, category=rng.choice(leaves))
    return roots


def naive(order: str, scope: set[int] | None = None) -> list[str]:
    """The expected sequence, straight from the source tables, sorted in Python."""
    active = Product.objects.filter(is_active=True)
    if scope is not None:
        active = active.filter(category_id__in=scope)
    views = dict(ProductMetrics.objects.values_list("product_id", "total_views"))
    sold = OrderItem.objects.filter(order__status="placed").values("product_id").annotate(n=Sum("quantity"))
    sales = {row["product_id"]: row["n"] for row in sold}
    reviews = ProductReview.objects.values("product_id").annotate(n=Count("id"), s=Sum("rating"))
    ratings = {row["product_id"]: rating_score(row["s"], row["n"]) for row in reviews}
    keys = {
        "NEWEST": lambda p: (p.created_at, p.pk),
        "PRICE_ASC": lambda p: (p.price, p.pk),
        "PRICE_DESC": lambda p: (p.price, p.pk),
        "MOST_VIEWED": lambda p: (views.get(p.pk, 0), p.pk),
        "BEST_SELLING": lambda p: (sales.get(p.pk, 0), p.pk),
        "TOP_RATED": lambda p: (ratings.get(p.pk, rating_score(0, 0)), p.pk),
    }
    return [p.slug for p in sorted(active, key=keys[order], reverse=order != "PRICE_ASC")]


def walk(gql, order: str, filter: dict | None = None) -> tuple[list[str], dict]:  # noqa: A002
    slugs, after, first_page = [], None, None
    while True:
        page = gql.data(PAGE, {"after": after, "order": order, "filter": filter})["products"]
        first_page = first_page or page
        slugs += [edge["node"]["slug"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return slugs, first_page
        after = page["pageInfo"]["endCursor"]


def descendants(category: Category) -> set[int]:
    found, stack = {category.pk}, [category.pk]
    while stack:
        for child in Category.objects.filter(parent_id=stack.pop()).values_list("pk", flat=True):
            found.add(child)
            stack.append(child)
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_every_order_matches_a_naive_sort_of_the_sources_after_random_writes(gql, seed):
    # Given a catalogue after a random mix of writes
    roots = build_and_churn(seed)

    for order in ORDERS:
        # When a client walks every page of the listing, and of one category
        slugs, first = walk(gql, order)
        scoped, scoped_first = walk(gql, order, {"category": str(roots[0].slug)})

        # Then the sequences are the naive sort's, each product once, the counts exact
        assert slugs == naive(order), order
        assert len(set(slugs)) == len(slugs)
        assert first["totalCountIsExact"] and first["totalCount"] == len(slugs)
        assert scoped == naive(order, descendants(roots[0])), order
        assert scoped_first["totalCountIsExact"] and scoped_first["totalCount"] == len(scoped)

    # And the stored keys have no drift
    assert find_drift() == []


def test_category_counts_include_descendants_and_follow_every_product_write(gql):
    roots = build_and_churn(3)
    tree = gql.data(
        "{ categories { slug productCount children { slug productCount children { slug productCount } } } }"
    )
    seen = 0
    for root in tree["categories"]:
        nodes = [root, *root["children"], *[g for c in root["children"] for g in c["children"]]]
        for node in nodes:
            category = Category.objects.get(slug=node["slug"])
            expected = Product.objects.filter(is_active=True, category_id__in=descendants(category)).count()
            assert node["productCount"] == expected
            seen += 1
    assert seen == Category.objects.count() and len(tree["categories"]) == len(roots)


def test_a_filtered_count_is_capped_and_says_so(gql, settings, monkeypatch):
    from marketplace import selectors

    monkeypatch.setattr(selectors, "COUNT_CAP", 5)
    category = make_category()
    for _ in range(8):
        make_product(category=category, price="3.00")
    make_product(category=category, price="50.00")

    capped = gql.data(PAGE, {"order": "NEWEST", "filter": {"maxPrice": "10"}})["products"]
    exact = gql.data(PAGE, {"order": "NEWEST", "filter": {"minPrice": "10"}})["products"]
    unfiltered = gql.data(PAGE, {"order": "NEWEST"})["products"]

    assert (capped["totalCount"], capped["totalCountIsExact"]) == (5, False)
    assert (exact["totalCount"], exact["totalCountIsExact"]) == (1, True)
    assert (unfiltered["totalCount"], unfiltered["totalCountIsExact"]) == (9, True)


def test_one_five_star_review_does_not_outrank_a_hundred_at_4_9():
    assert rating_score(5, 1) < rating_score(490, 100)
    assert rating_score(0, 0) == 3.0


def test_top_rated_uses_the_smoothed_score_but_rating_shows_the_exact_mean(gql):
    lucky, steady = make_product(name="Lucky"), make_product(name="Steady")
    make_review(lucky, rating=5)
    for rating in [5, 5, 5, 5, 4, 5, 5, 5, 5, 5]:
        make_review(steady, rating=rating)

    data = gql.data("{ products(orderBy: TOP_RATED) { edges { node { name rating { average count } } } } }")

    nodes = [edge["node"] for edge in data["products"]["edges"]]
    assert [n["name"] for n in nodes] == ["Steady", "Lucky"]
    assert nodes[1]["rating"] == {"average": 5.0, "count": 1}
    assert Product.objects.get(pk=steady.pk).rating_score == pytest.approx((15 + 49) / 15)


def test_a_product_without_a_metrics_row_is_reported_and_repaired():
    from tests.factories import strip_metrics
    from tracking.reconcile import fix_drift

    product = make_product()
    strip_metrics(product)
    drift = find_drift()
    assert [(d.product_id, d.field) for d in drift] == [(product.pk, "metrics_row")]
    fix_drift(drift)
    assert find_drift() == [] and ProductMetrics.objects.filter(product=product).exists()


def test_drifting_keys_are_found_and_fixed():
    from tracking.reconcile import fix_drift

    category = make_category()
    product = make_product(category=category)
    make_review(product, rating=4)
    Product.objects.filter(pk=product.pk).update(rating_count=7, rating_score=1.0)
    Category.objects.filter(pk=category.pk).update(product_count=42)

    drift = {(d.target, d.field) for d in find_drift()}
    assert drift == {("product", "rating_count"), ("product", "rating_score"), ("category", "product_count")}
    fix_drift(find_drift())
    assert find_drift() == []
    product.refresh_from_db()
    assert (product.rating_count, product.rating_sum, product.rating_score) == (1, 4, rating_score(4, 1))
    assert Category.objects.get(pk=category.pk).product_count == 1


def test_a_category_listing_narrowed_further_counts_only_the_intersection(gql):
    root = make_category()
    left, right = make_category(parent=root), make_category(parent=root)
    for category in (left, left, right):
        make_product(category=category)
    make_product(category=left, stock=0)

    data = gql.data(
        """query($s: String!, $f: ID!) { category(slug: $s) { productCount
             narrowed: products(filter: { category: $f }) { totalCount totalCountIsExact edges { node { id } } }
             inStock: products(filter: { inStock: true }) { totalCount totalCountIsExact } } }""",
        {"s": root.slug, "f": left.slug},
    )["category"]

    assert data["productCount"] == 4
    assert (data["narrowed"]["totalCount"], data["narrowed"]["totalCountIsExact"]) == (3, True)
    assert len(data["narrowed"]["edges"]) == 3
    assert (data["inStock"]["totalCount"], data["inStock"]["totalCountIsExact"]) == (3, True)


def test_a_menu_whose_filter_excludes_some_children_answers_each_child(gql):
    root = make_category()
    left, right = make_category(parent=root), make_category(parent=root)
    kept = make_product(category=left)
    make_product(category=right)

    data = gql.data(
        """query($f: ID!) { categories { children { slug
             products(filter: { category: $f }) { totalCount totalCountIsExact edges { node { slug } } } } } }""",
        {"f": left.slug},
    )

    children = {c["slug"]: c["products"] for root in data["categories"] for c in root["children"]}
    assert children[left.slug] == {"totalCount": 1, "totalCountIsExact": True, "edges": [{"node": {"slug": kept.slug}}]}
    assert children[right.slug] == {"totalCount": 0, "totalCountIsExact": True, "edges": []}
