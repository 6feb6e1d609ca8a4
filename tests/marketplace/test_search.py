"""Product search at the selector level, on whichever database the run uses (SQLite FTS5 or
PostgreSQL tsvector): what matches, what ranks first, and that the index follows every write."""

import pytest
from django.db import connection

from marketplace.search import fts5_query_text, matching_products, search_terms, tsquery_text, with_relevance
from marketplace.selectors import ProductFilters, product_list
from tests.factories import make_product

HOSTILE = [
    "a & b | !c",
    "'quoted' \"double\" `back`",
    "lamp:* & !x",
    "(lamp | desk) <-> chair",
    "NEAR(lamp desk) AND OR NOT",
    "name: lamp",
    "^lamp -desk +chair",
    "\\ \\\\ '' \"\"",
    "' OR '1'='1",
    "x" * 1000,
    "y" * 5000,
    "lamp " * 200,
    "日本語 ÉCLAIR naïve",
]


def search(text: str) -> list[str]:
    return sorted(product_list(filters=ProductFilters(search=text)).values_list("name", flat=True))


def by_relevance(text: str) -> list[str]:
    qs = with_relevance(product_list(filters=ProductFilters(search=text))).order_by("-relevance", "-id")
    return [p.name for p in qs]


def test_words_are_whitespace_chunks_holding_a_letter_or_digit():
    assert search_terms("  blue   sho ") == ("blue", "sho")
    assert search_terms("% -- '; &&") == ()
    assert search_terms("") == () and search_terms(None) == ()
    assert len(search_terms("w " * 100)) == 32


def test_user_text_is_quoted_never_an_operator():
    assert tsquery_text(("it's", "a\\b", "sho")) == "'it''s' & 'a\\\\b' & 'sho':*"
    assert fts5_query_text(('say "hi"', "sho")) == '"say ""hi""" "sho"*'


@pytest.mark.django_db
class TestWhatMatches:
    @pytest.fixture(autouse=True)
    def catalogue(self):
        make_product(name="Blue running shoes", description="Light and fast.")
        make_product(name="Red kettle", description="Boils water; pairs with blue mugs.")
        make_product(name="Desk lamp", description="Warm light for a blue desk.")
        make_product(name="Café chair", description="Bentwood, naïve charm.")

    def test_a_word_of_the_name_or_of_the_description(self):
        assert search("kettle") == ["Red kettle"]
        assert search("water") == ["Red kettle"]
        assert search("BLUE") == ["Blue running shoes", "Desk lamp", "Red kettle"]

    def test_english_stemming_matches_other_forms_of_a_word(self):
        assert search("shoe") == ["Blue running shoes"]
        assert search("lamps") == ["Desk lamp"]

    def test_the_last_word_is_a_prefix_so_a_search_box_works_while_typing(self):
        assert search("blue sho") == ["Blue running shoes"]
        assert search("ket") == ["Red kettle"]
        assert search("sho blue") == []  # only the last word is a prefix

    def test_every_word_must_match(self):
        assert search("blue desk") == ["Desk lamp"]
        assert search("blue kettle shoes") == []

    def test_a_word_that_matches_nothing_finds_nothing(self):
        assert search("zzqx") == []
        assert product_list(filters=ProductFilters(search="zzqx")).count() == 0

    def test_accents_are_matched_as_written(self):
        assert search("café") == ["Café chair"]
        assert search("naïve") == ["Café chair"]

    def test_text_without_a_word_matches_nothing(self):
        assert search("%") == [] and search("-- ;") == []

    @pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
    def test_operators_and_quotes_in_the_text_are_only_text(self, text):
        # No syntax error, no wildcard: the query runs and finds at most the products that
        # contain the words; "lamp" in these texts is ANDed with the other words.
        found = search(text)
        assert set(found) <= {"Desk lamp"}
        assert sorted(by_relevance(text)) == found

    def test_hostile_text_can_still_match_its_words(self):
        assert search("lamp:* & !desk") == ["Desk lamp"]  # words: lamp, desk
        assert search("(desk) 'lamp'") == ["Desk lamp"]


@pytest.mark.django_db
def test_a_name_match_outranks_a_description_match_and_ties_go_by_id():
    for name in ["Chair", "Desk", "Lamp", "Rug", "Shelf"]:  # a word in most rows weighs ~nothing in bm25
        make_product(name=name)
    in_description = make_product(name="Mug", description="A kettle companion")
    first_twin = make_product(name="Steel kettle", description="x")
    second_twin = make_product(name="Steel kettle", description="x")
    qs = with_relevance(product_list(filters=ProductFilters(search="kettle"))).order_by("-relevance", "-id")
    ranked = list(qs)
    assert [p.pk for p in ranked] == [second_twin.pk, first_twin.pk, in_description.pk]
    assert ranked[0].relevance == ranked[1].relevance > ranked[2].relevance
    assert all(isinstance(p.relevance, int) for p in ranked)


@pytest.mark.django_db
class TestTheIndexFollowsWrites:
    def test_a_new_product_is_found(self):
        make_product(name="Walnut shelf")
        assert search("walnut") == ["Walnut shelf"]

    def test_a_renamed_product_is_found_by_its_new_words_only(self):
        product = make_product(name="Oak table", description="Solid oak.")
        product.name, product.description = "Pine table", "Solid pine."
        product.save()
        assert search("pine") == ["Pine table"]
        assert search("oak") == []

    def test_a_change_to_other_fields_keeps_the_words(self):
        product = make_product(name="Copper pan")
        product.price, product.stock = "99.00", 0
        product.save()
        type(product).objects.filter(pk=product.pk).update(stock=7)
        assert search("copper") == ["Copper pan"]

    def test_a_deactivated_product_is_not_found_and_comes_back_when_reactivated(self):
        product = make_product(name="Linen apron")
        type(product).objects.filter(pk=product.pk).update(is_active=False)
        assert search("linen") == []
        type(product).objects.filter(pk=product.pk).update(is_active=True)
        assert search("linen") == ["Linen apron"]

    def test_a_deleted_product_leaves_the_index(self):
        keep, gone = make_product(name="Wool blanket"), make_product(name="Wool scarf")
        gone.delete()
        assert search("wool") == [keep.name]
        assert_index_consistent()

    def test_rows_inserted_with_raw_sql_are_indexed_too(self):
        # seed_demo and imports insert without the ORM: the database keeps the index, not save().
        template = make_product(name="Template")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO marketplace_product (seller_id, category_id, name, slug, description, price, stock,"
                " is_active, created_at, updated_at) SELECT seller_id, category_id, %s, %s, %s, price, stock,"
                " is_active, created_at, updated_at FROM marketplace_product WHERE id = %s",
                ["Raw import", "raw-import", "Brass hinge", template.pk],
            )
        assert search("brass") == ["Raw import"]
        assert_index_consistent()


def assert_index_consistent() -> None:
    """The stored search data equals what the triggers would compute from the rows now."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # FTS5 compares its index with the content table and raises on any difference.
            fts = "marketplace_product_fts"
            cursor.execute(f"INSERT INTO {fts}({fts}, rank) VALUES('integrity-check', 1)")
            return
        cursor.execute(
            "SELECT count(*) FROM marketplace_product WHERE search_vector IS DISTINCT FROM "
            "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
            "setweight(to_tsvector('english', coalesce(description, '')), 'B')"
        )
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_matching_products_composes_with_any_queryset():
    lamp = make_product(name="Floor lamp", price="40.00")
    make_product(name="Floor lamp deluxe", price="400.00")
    qs = matching_products(product_list(filters=ProductFilters(max_price=100)), "lamp")
    assert list(qs.values_list("pk", flat=True)) == [lamp.pk]
    # nested as a subquery (Django renames the table): still the same rows
    from marketplace.models import Product

    assert list(Product.objects.filter(pk__in=qs.values("pk")).values_list("pk", flat=True)) == [lamp.pk]


@pytest.mark.django_db(transaction=True)
def test_a_later_migration_that_rebuilds_the_product_table_does_not_stop_the_index():
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL alters tables in place; only SQLite rebuilds them (and drops their triggers)")
    from django.core.management import call_command

    from marketplace.models import Product

    # Given a product indexed, then the table rebuilt as Django does for a NOT NULL column
    make_product(name="Maple board")
    with connection.schema_editor() as editor:
        editor._remake_table(Product)
    make_product(name="Maple spoon")  # written while the triggers are gone
    assert search("maple") == ["Maple board"]

    # When migrate runs (any later migration run ends with post_migrate)
    call_command("migrate", verbosity=0)

    # Then the triggers are back and the index caught up
    assert search("maple") == ["Maple board", "Maple spoon"]
    make_product(name="Maple bowl")
    assert search("maple") == ["Maple board", "Maple bowl", "Maple spoon"]
    assert_index_consistent()
