"""The seller's catalogue: create, update, deactivate, add images. Metrics rows come
with creation (``post_save``, same transaction: see tracking.receivers)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from marketplace.models import Category, Product, ProductImage
from marketplace.services.errors import ServiceError

EDITABLE = ("name", "slug", "description", "price", "stock", "category")


def _validate(values: dict) -> None:
    if "name" in values and not (values["name"] or "").strip():
        raise ServiceError("A product needs a name.", field="name", code="required")
    if "price" in values:
        try:
            price = Decimal(values["price"])
        except (InvalidOperation, TypeError):
            raise ServiceError("Price must be a number.", field="price", code="invalid") from None
        if not price.is_finite() or price < 0:
            raise ServiceError("Price must be 0 or more.", field="price", code="out_of_range")
        if price.as_tuple().exponent < -2 or price >= Decimal("1e10"):
            raise ServiceError("Price has at most 2 decimals and 10 digits.", field="price", code="invalid")
    if "stock" in values and (values["stock"] is None or values["stock"] < 0 or values["stock"] > 2**31 - 1):
        raise ServiceError("Stock must be 0 or more.", field="stock", code="out_of_range")
    if "slug" in values and values["slug"] is not None and values["slug"] != slugify(values["slug"]):
        raise ServiceError("A slug has lowercase letters, digits and hyphens only.", field="slug", code="invalid")


def _unique_slug(name: str) -> str:
    base = slugify(name)[:200] or "product"
    slug, n = base, 2
    while Product.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_product(
    *, seller, category: Category, name: str, price, stock: int = 0, description: str = "", slug: str | None = None
) -> Product:
    values = {"name": name, "price": price, "stock": stock, "slug": slug}
    _validate(values)
    product = Product(
        seller=seller,
        category=category,
        name=name.strip(),
        description=description,
        price=Decimal(price),
        stock=stock,
        slug=slug or _unique_slug(name),
    )
    _full_clean(product, exclude=["slug"] if not slug else None)
    return _save(product)


def _full_clean(instance, *, exclude: list[str] | None = None, validate_unique: bool = True) -> None:
    """The model's own validation (lengths, choices, URLs), as the field error a client can
    act on: without it an over-long name is a DataError on PostgreSQL and silently stored
    on SQLite. Foreign keys arrive as loaded rows, so they are not looked up again."""
    try:
        instance.full_clean(
            exclude=[*(exclude or ()), "seller", "category", "product"],
            validate_unique=validate_unique,
            validate_constraints=validate_unique,  # both query the database; the constraints hold anyway
        )
    except ValidationError as exc:
        field, errors = next(iter(exc.error_dict.items()))
        code = "unique" if errors[0].code == "unique" else "invalid"
        raise ServiceError(errors[0].messages[0], field=field, code=code) from None


def update_product(*, product: Product, **changes) -> Product:
    changes = {k: v for k, v in changes.items() if k in EDITABLE and v is not None}
    _validate(changes)
    for key, value in changes.items():
        setattr(product, key, Decimal(value) if key == "price" else value)
    # uniqueness is the constraint's job here (``_save`` maps it): no extra query per update
    _full_clean(product, validate_unique=False)
    return _save(product)


def _save(product: Product) -> Product:
    """Save, turning the slug's unique constraint (a concurrent save won it) into a field error."""
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise ServiceError("That slug is taken.", field="slug", code="unique") from None
    return product


def deactivate_product(*, product: Product) -> Product:
    if product.is_active:
        product.is_active = False
        product.save(update_fields=["is_active", "updated_at"])
    return product


def add_product_image(*, product: Product, url: str, alt_text: str = "") -> ProductImage:
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ServiceError("Enter a valid http(s) URL.", field="url", code="invalid") from None
    image = ProductImage(product=product, url=url, alt_text=alt_text[:200], position=product.images.count())
    _full_clean(image, validate_unique=False)
    image.save()
    return image
