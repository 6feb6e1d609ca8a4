"""Committed data for tests that talk to a live server (they run under ``transactional_db``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F, Sum

from graph.ids import global_id
from marketplace.services.accounts import issue_token
from tests.factories import make_category, make_image, make_product, make_review, make_user, strip_metrics
from tracking.models import COUNTER_FIELDS, ProductMetrics


@dataclass
class Seeded:
    users: dict[str, object]  # identity name -> user (staff, seller, buyer)
    tokens: dict[str, str]  # identity name -> API token secret, for `Authorization: Bearer`
    product_ids: list[str] = field(default_factory=list)  # global IDs, active products first
    category_ids: list[str] = field(default_factory=list)
    seller_ids: list[str] = field(default_factory=list)
    spare_token_ids: list[str] = field(default_factory=list)  # tokens nobody authenticates with

    @property
    def all_ids(self) -> list[str]:
        """Every real global ID, for the fuzzer's ID strategy."""
        return self.product_ids + self.category_ids + self.seller_ids + self.spare_token_ids

    def fresh_token(self, identity: str) -> str:
        """A new token for ``identity``, for an operation that revokes the one it is sent with (logout)."""
        secret, _ = issue_token(user=self.users[identity], name="throwaway")
        return secret


def seed_marketplace() -> Seeded:
    """Three users with tokens, a category tree, products with images, reviews and metrics
    (one inactive, one without a metrics row)."""
    staff = make_user("fuzz-staff", is_staff=True)
    seller = make_user("fuzz-seller", first_name="Sal", last_name="Ler")
    buyer = make_user("fuzz-buyer")
    users = {"staff": staff, "seller": seller, "buyer": buyer}
    tokens = {name: issue_token(user=user, name="fuzz")[0] for name, user in users.items()}
    spare = [issue_token(user=user, name="spare")[1] for user in users.values()]

    root = make_category("Home")
    kitchen = make_category("Kitchen", parent=root, description="Pots & pans; 100% 'steel' \"quoted\"")
    knives = make_category("Knives", parent=kitchen)
    garden = make_category("Garden")
    categories = [root, kitchen, knives, garden]

    products = []
    for i, category in enumerate([kitchen, knives, knives, garden, root, kitchen]):
        product = make_product(
            seller=seller if i % 3 else staff,
            category=category,
            name=f"Fuzz product {i} <b>&amp;</b> '; --",
            price=f"{i * 7 + 0.99:.2f}",
            stock=i * 2,  # the first one is out of stock
            description="Seeded for the fuzzer.",
        )
        make_image(product, 0)
        make_image(product, 1)
        products.append(product)
    make_review(products[1], user=buyer, rating=4)
    make_review(products[1], user=staff, rating=1)
    ProductMetrics.objects.filter(product=products[2]).update(total_views=40, total_impressions=400, total_clicks=8)
    strip_metrics(products[3])
    inactive = make_product(seller=seller, category=garden, name="Fuzz retired", is_active=False)

    return Seeded(
        users=users,
        tokens=tokens,
        product_ids=[global_id("Product", p.pk) for p in [*products, inactive]],
        category_ids=[global_id("Category", c.pk) for c in categories],
        seller_ids=[global_id("Seller", u.pk) for u in users.values()],
        spare_token_ids=[global_id("ApiToken", t.pk) for t in spare],
    )


COUNTERS = tuple(name for name in COUNTER_FIELDS if name != "total_revenue")  # the integer ones


def metrics_total() -> int:
    """The sum of every ProductMetrics counter over every product, read from the database."""
    total = ProductMetrics.objects.aggregate(total=Sum(sum((F(name) for name in COUNTERS[1:]), F(COUNTERS[0]))))
    return int(total["total"] or 0)
