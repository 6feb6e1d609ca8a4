"""seed_demo builds a deterministic marketplace, with metrics for every product."""

import pytest
from django.core.management import call_command

from marketplace.models import Category, Product, ProductImage, ProductReview
from tracking.models import ProductMetrics

pytestmark = pytest.mark.django_db


def snapshot():
    return list(Product.objects.order_by("id").values_list("name", "price", "stock", "category__slug"))


def test_seed_builds_a_category_tree_products_images_reviews_and_metrics():
    call_command("seed_demo", products=120)

    assert Product.objects.count() == 120
    assert Category.objects.filter(parent__isnull=True).count() == 6
    assert Category.objects.filter(parent__isnull=False).count() == 24
    assert ProductImage.objects.count() >= 120
    assert ProductReview.objects.exists()
    assert ProductMetrics.objects.count() == 120


def test_seed_is_deterministic():
    call_command("seed_demo", products=50)
    first = snapshot()
    Product.objects.all().delete()
    call_command("seed_demo", products=50)
    assert snapshot() == first


def test_if_empty_leaves_an_existing_catalogue_alone():
    call_command("seed_demo", products=10)
    call_command("seed_demo", products=10, if_empty=True)
    assert Product.objects.count() == 10
