"""Tracking checks that a product is active without a query per request, and a
deactivation through the app takes effect at once."""

import pytest

from graph.ids import global_id
from marketplace.models import Product
from marketplace.services.products import deactivate_product
from tests.factories import make_product
from tests.helpers import error_codes

pytestmark = pytest.mark.django_db

VIEW = "mutation($id: ID!) { trackProductView(productId: $id) { accepted } }"


def test_a_product_seen_recently_is_tracked_without_a_query(gql, django_assert_num_queries):
    product = make_product()
    variables = {"id": global_id("Product", product.pk)}
    with django_assert_num_queries(1):
        assert gql.data(VIEW, variables)["trackProductView"]["accepted"] is True
    with django_assert_num_queries(0):
        assert gql.data(VIEW, variables)["trackProductView"]["accepted"] is True


def test_deactivating_through_the_app_refuses_tracking_at_once(gql):
    product = make_product()
    variables = {"id": global_id("Product", product.pk)}
    assert gql.data(VIEW, variables)["trackProductView"]["accepted"] is True

    deactivate_product(product=product)

    assert error_codes(gql(VIEW, variables)) == ["BAD_USER_INPUT"]


def test_with_the_cache_off_every_request_checks_the_database(gql, settings):
    settings.TRACKING_ACTIVE_CACHE_SECONDS = 0
    product = make_product()
    variables = {"id": global_id("Product", product.pk)}
    assert gql.data(VIEW, variables)["trackProductView"]["accepted"] is True
    Product.objects.filter(pk=product.pk).update(is_active=False)  # behind the app's back
    assert error_codes(gql(VIEW, variables)) == ["BAD_USER_INPUT"]
