"""reconcile_metrics: favorites, sales and revenue always agree with their tables."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.services import cart as carts
from marketplace.services import favorites, orders
from marketplace.services.errors import ServiceError
from tests.factories import make_product, make_user
from tracking.models import ProductMetrics
from tracking.reconcile import find_drift


@pytest.mark.django_db
def test_drift_is_reported_with_exit_1_and_repaired_with_fix(capsys):
    product = make_product()
    ProductMetrics.objects.filter(product=product).update(total_favorites=4, total_revenue=Decimal("9.99"))

    with pytest.raises(SystemExit) as exit_info:
        call_command("reconcile_metrics")
    assert exit_info.value.code == 1
    out = capsys.readouterr()
    assert f"product {product.pk}: total_favorites is 4, should be 0" in out.out
    assert "Drift in 2 counters on 1 products" in out.err

    call_command("reconcile_metrics", fix=True)
    assert find_drift() == []
    call_command("reconcile_metrics")  # exits 0 now
    assert "No drift" in capsys.readouterr().out


ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["favorite", "unfavorite", "add_to_cart", "remove_from_cart", "checkout"]),
        st.integers(0, 2),  # which user
        st.integers(0, 2),  # which product
        st.integers(1, 4),  # quantity
    ),
    min_size=1,
    max_size=25,
)


@pytest.mark.django_db(transaction=True)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_no_drift_after_a_random_session_of_favorites_carts_and_checkouts(tracking_executor, actions):
    users = [make_user() for _ in range(3)]
    products = [make_product(price=f"{3 + i}.25", stock=6) for i in range(3)]
    for action, u, p, quantity in actions:
        user, product = users[u], products[p]
        try:
            if action == "favorite":
                favorites.add_favorite(user=user, product=product)
            elif action == "unfavorite":
                favorites.remove_favorite(user=user, product=product)
            elif action == "add_to_cart":
                carts.add_to_cart(cart=carts.get_cart(user=user, create=True), product=product, quantity=quantity)
            elif action == "remove_from_cart":
                carts.remove_from_cart(cart=carts.get_cart(user=user, create=True), product=product)
            else:
                orders.checkout(user=user, cart=carts.get_cart(user=user))
        except ServiceError:
            pass  # refused actions (stock, empty cart) must change nothing either
    assert tracking_executor.flush(10)
    assert find_drift() == []
