"""Catalogue and commerce models.

Invariants live in the database (check and unique constraints) so that no code
path, the admin, a raw SQL import or a racing request, can store a negative
price, a rating of 6 or a second favorite.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


class Category(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, related_name="children", on_delete=models.PROTECT)
    description = models.TextField(blank=True, default="")
    # Active products here and in every descendant, kept by marketplace.sort_keys.
    product_count = models.IntegerField(default=0, db_default=0, editable=False)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name", "id"]
        constraints = [models.CheckConstraint(condition=~Q(parent=models.F("id")), name="category_not_own_parent")]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    seller = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="products", on_delete=models.PROTECT)
    category = models.ForeignKey(Category, related_name="products", on_delete=models.PROTECT)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)
    # TOP_RATED's sort key and its sources, kept by marketplace.sort_keys with every review write.
    rating_count = models.IntegerField(default=0, db_default=0, editable=False)
    rating_sum = models.IntegerField(default=0, db_default=0, editable=False)
    rating_score = models.FloatField(default=3.0, db_default=3.0, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=Decimal("0")), name="product_price_gte_0"),
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_gte_0"),
        ]
        indexes = [
            # The listing orders: NEWEST and PRICE_* over active products, ties by id.
            models.Index(fields=["is_active", "-created_at", "-id"], name="product_active_newest"),
            models.Index(fields=["is_active", "price", "id"], name="product_active_price"),
            models.Index(fields=["is_active", "-rating_score", "-id"], name="product_active_top_rated"),
            models.Index(fields=["category", "is_active"], name="product_category_active"),
            models.Index(fields=["seller", "is_active"], name="product_seller_active"),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_db(cls, db, field_names, values, *, fetch_mode=None):
        """Remember what the category counts depend on, so a save can adjust them without a read."""
        instance = super().from_db(db, field_names, values, fetch_mode=fetch_mode)
        fields = instance.__dict__
        if "is_active" in fields and "category_id" in fields:
            instance._counted_as = (fields["is_active"], fields["category_id"])
        return instance

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


class ProductImage(models.Model):
    product = models.ForeignKey(Product, related_name="images", on_delete=models.CASCADE)
    url = models.URLField(max_length=500)
    alt_text = models.CharField(max_length=200, blank=True, default="")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["product_id", "position", "id"]
        indexes = [models.Index(fields=["product", "position"], name="image_product_position")]

    def __str__(self) -> str:
        return self.url


class ProductReview(models.Model):
    product = models.ForeignKey(Product, related_name="reviews", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="reviews", on_delete=models.CASCADE)
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200, blank=True, default="")
    body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # Stored at review time (the author had a placed order of the product then): a
    # listing of reviews needs no per-review order lookup.
    verified_purchase = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "product"], name="review_one_per_user_product"),
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"),
        ]
        indexes = [models.Index(fields=["product", "-created_at", "-id"], name="review_product_newest")]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.product_id} by {self.user_id}"


class Favorite(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="favorites", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="favorites", on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "product"], name="favorite_one_per_user_product")]

    def __str__(self) -> str:
        return f"{self.user_id} likes {self.product_id}"


class Cart(models.Model):
    """A user's cart, or an anonymous visitor's (keyed by session), never both or neither."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="cart", on_delete=models.CASCADE
    )
    session_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(session_key__isnull=True))
                | (Q(user__isnull=True) & Q(session_key__isnull=False)),
                name="cart_user_xor_session",
            )
        ]

    def __str__(self) -> str:
        return f"cart {self.pk}"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="cart_items", on_delete=models.CASCADE)
    quantity = models.PositiveIntegerField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="cartitem_one_per_cart_product"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="cartitem_quantity_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        CANCELLED = "cancelled", "Cancelled"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="orders", on_delete=models.PROTECT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)
    # The client's key for this checkout: a repeated checkout with it returns this order.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_gte_0"),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_one_per_user_idempotency_key",
            ),
        ]
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="order_user_newest")]

    def __str__(self) -> str:
        return f"order {self.pk}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, related_name="order_items", on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderitem_quantity_gt_0"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderitem_unit_price_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id} at {self.unit_price}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class ApiToken(models.Model):
    """A bearer token for API clients. Only a SHA-256 of the secret is stored: a leaked
    database does not leak usable tokens, and the secret is shown once, at login."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="api_tokens", on_delete=models.CASCADE)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to tell tokens apart.")
    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
