"""The product services' errors are recognised by what Django reports, not by its wording."""

import pytest
from django.utils import translation

from marketplace.services import products
from marketplace.services.errors import ServiceError
from tests.factories import make_category, make_product, make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_a_taken_slug_is_a_uniqueness_error_in_any_language(language):
    # Given a product that holds the slug "lamp"
    make_product(slug="lamp")

    # When another seller asks for the same slug while Django speaks another language
    with translation.override(language), pytest.raises(ServiceError) as refused:
        products.create_product(seller=make_user(), category=make_category(), name="Lamp", price="5", slug="lamp")

    # Then it is refused as a uniqueness error on the slug, whatever the message says
    assert (refused.value.field, refused.value.code) == ("slug", "unique")
