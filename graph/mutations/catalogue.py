"""The seller's catalogue and reviews."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.ids import decode_id
from graph.mutations.common import active_product, call_service, not_found, own_product
from graph.permissions import require_user
from graph.types.catalogue import ProductImageType, ProductType, ReviewType
from graph.types.errors import UserError, UserErrorCode
from marketplace import selectors
from marketplace.models import Category
from marketplace.services import products, reviews


@strawberry.type
class ProductPayload:
    product: ProductType | None
    errors: list[UserError]


@strawberry.type
class ProductImagePayload:
    image: ProductImageType | None
    errors: list[UserError]


@strawberry.type
class ReviewPayload:
    review: ReviewType | None
    errors: list[UserError]


@strawberry.input
class ProductInput:
    name: str | None = None
    slug: str | None = strawberry.field(default=None, description="Generated from the name when not given.")
    description: str | None = None
    price: Decimal | None = None
    stock: int | None = None
    category: strawberry.ID | None = strawberry.field(default=None, description="A Category ID.")


async def _category(value: strawberry.ID | None) -> Category | None:
    if value is None:
        return None
    pk = decode_id(value, "Category", field="input.category")
    return await sync_to_async(selectors.category_by_id_or_slug)(category_id=pk)


@strawberry.type
class CatalogueMutation:
    @strawberry.mutation(description="List a new product for sale (you are its seller).")
    async def create_product(self, info: Info, input: ProductInput) -> ProductPayload:  # noqa: A002
        user = require_user(info)
        if input.name is None or input.price is None or input.category is None:
            missing = [n for n in ("name", "price", "category") if getattr(input, n) is None]
            return ProductPayload(
                product=None,
                errors=[
                    UserError(field=f"input.{n}", message=f"{n} is required.", code=UserErrorCode.REQUIRED)
                    for n in missing
                ],
            )
        category = await _category(input.category)
        if category is None:
            return ProductPayload(product=None, errors=not_found("input.category", "category"))
        product, errors = await call_service(
            products.create_product,
            seller=user,
            category=category,
            name=input.name,
            price=input.price,
            stock=input.stock or 0,
            description=input.description or "",
            slug=input.slug,
        )
        return ProductPayload(product=product, errors=errors)

    @strawberry.mutation(description="Change your product's details.")
    async def update_product(
        self,
        info: Info,
        product_id: strawberry.ID,
        input: ProductInput,  # noqa: A002
    ) -> ProductPayload:
        user = require_user(info)
        product = await own_product(user, product_id)
        if product is None:
            return ProductPayload(product=None, errors=not_found())
        changes = {k: getattr(input, k) for k in ("name", "slug", "description", "price", "stock")}
        if input.category is not None:
            changes["category"] = await _category(input.category)
            if changes["category"] is None:
                return ProductPayload(product=None, errors=not_found("input.category", "category"))
        product, errors = await call_service(products.update_product, product=product, **changes)
        return ProductPayload(product=product, errors=errors)

    @strawberry.mutation(description="Stop selling your product (it leaves listings; orders keep it).")
    async def deactivate_product(self, info: Info, product_id: strawberry.ID) -> ProductPayload:
        user = require_user(info)
        product = await own_product(user, product_id)
        if product is None:
            return ProductPayload(product=None, errors=not_found())
        product, errors = await call_service(products.deactivate_product, product=product)
        return ProductPayload(product=product, errors=errors)

    @strawberry.mutation(description="Add an image to your product (appended after the others).")
    async def add_product_image(
        self, info: Info, product_id: strawberry.ID, url: str, alt_text: str = ""
    ) -> ProductImagePayload:
        user = require_user(info)
        product = await own_product(user, product_id)
        if product is None:
            return ProductImagePayload(image=None, errors=not_found())
        image, errors = await call_service(products.add_product_image, product=product, url=url, alt_text=alt_text)
        return ProductImagePayload(image=image, errors=errors)

    @strawberry.mutation(description="Review a product: one review per user and product, rating 1 to 5.")
    async def add_product_review(
        self, info: Info, product_id: strawberry.ID, rating: int, title: str = "", body: str = ""
    ) -> ReviewPayload:
        user = require_user(info)
        product = await active_product(product_id)
        if product is None:
            return ReviewPayload(review=None, errors=not_found())
        review, errors = await call_service(
            reviews.add_review, user=user, product=product, rating=rating, title=title, body=body
        )
        return ReviewPayload(review=review, errors=errors)
