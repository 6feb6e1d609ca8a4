"""The database itself refuses invalid data, whatever code path writes it."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from marketplace.models import Cart, CartItem, Favorite, OrderItem, Product, ProductReview
from tests.factories import make_category, make_product, make_user
from tracking.models import ProductMetrics

pytestmark = pytest.mark.django_db


def refused(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_a_second_metrics_row_for_a_product_is_refused():
    product = make_product()
    assert ProductMetrics.objects.filter(product=product).count() == 1  # made at creation
    assert refused(lambda: ProductMetrics.objects.create(product=product))
    assert ProductMetrics.objects.filter(product=product).count() == 1


def test_a_negative_price_is_refused_even_through_a_raw_update():
    product = make_product()
    assert refused(lambda: Product.objects.filter(pk=product.pk).update(price=Decimal("-0.01")))
    product.refresh_from_db()
    assert product.price == Decimal("10.00")


def test_negative_stock_is_refused():
    product = make_product()
    assert refused(lambda: Product.objects.filter(pk=product.pk).update(stock=-1))


def test_a_rating_of_6_or_0_is_refused():
    product, user = make_product(), make_user()
    assert refused(lambda: ProductReview.objects.create(product=product, user=user, rating=6))
    assert refused(lambda: ProductReview.objects.create(product=product, user=user, rating=0))
    ProductReview.objects.create(product=product, user=user, rating=5)


def test_one_review_per_user_and_product():
    product, user = make_product(), make_user()
    ProductReview.objects.create(product=product, user=user, rating=4)
    assert refused(lambda: ProductReview.objects.create(product=product, user=user, rating=3))


def test_a_duplicate_favorite_is_refused():
    product, user = make_product(), make_user()
    Favorite.objects.create(product=product, user=user)
    assert refused(lambda: Favorite.objects.create(product=product, user=user))


def test_a_cart_belongs_to_a_user_or_a_session_never_both_nor_neither():
    user = make_user()
    assert refused(lambda: Cart.objects.create())
    assert refused(lambda: Cart.objects.create(user=user, session_key="abc"))
    Cart.objects.create(user=user)
    Cart.objects.create(session_key="visitor-1")


def test_cart_items_need_a_positive_quantity_and_are_unique_per_product():
    cart = Cart.objects.create(session_key="visitor-2")
    product = make_product()
    assert refused(lambda: CartItem.objects.create(cart=cart, product=product, quantity=0))
    CartItem.objects.create(cart=cart, product=product, quantity=1)
    assert refused(lambda: CartItem.objects.create(cart=cart, product=product, quantity=2))


def test_order_items_refuse_zero_quantity_and_negative_prices():
    from marketplace.models import Order

    order = Order.objects.create(user=make_user())
    product = make_product()
    assert refused(lambda: OrderItem.objects.create(order=order, product=product, quantity=0, unit_price=1))
    assert refused(lambda: OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=-1))


def test_a_category_cannot_be_its_own_parent():
    category = make_category()
    category.parent_id = category.pk
    assert refused(lambda: category.save())


def test_negative_counters_are_refused():
    product = make_product()
    assert refused(lambda: ProductMetrics.objects.filter(product=product).update(total_views=-1))
