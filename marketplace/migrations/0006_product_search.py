"""Full-text search storage for products (see marketplace/search.py for the queries).

PostgreSQL: a nullable ``search_vector`` column (adding it rewrites nothing), a trigger that
fills it on insert and when the name or description changes, a batched backfill of the
existing rows (each batch its own short transaction, with progress), then the GIN index
built CONCURRENTLY, so the catalogue stays readable and writable throughout.

SQLite: an external-content FTS5 table over name and description, three triggers that keep
it in step with the product table, and one ``rebuild`` that indexes the existing rows.

Nothing here touches Django's model state: the column and the FTS5 table are not model
fields (search.py explains why). The SQLite triggers come from search.py, which also puts
them back after any later migration that rebuilds the product table (a post_migrate hook).
"""

import sys
import time

from django.db import migrations

from marketplace.search import SQLITE_TRIGGERS

BATCH = 5_000  # rows per transaction: each batch holds its row locks for about a second

PG_DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, coalesce({row}name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce({row}description, '')), 'B')"
)

PG_FORWARD = [
    "ALTER TABLE marketplace_product ADD COLUMN IF NOT EXISTS search_vector tsvector",
    f"""
    CREATE OR REPLACE FUNCTION marketplace_product_search_vector() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := {PG_DOCUMENT.format(row="NEW.")};
        RETURN NEW;
    END
    $$
    """,
    "DROP TRIGGER IF EXISTS product_search_vector_insert ON marketplace_product",
    """
    CREATE TRIGGER product_search_vector_insert BEFORE INSERT ON marketplace_product
    FOR EACH ROW EXECUTE FUNCTION marketplace_product_search_vector()
    """,
    "DROP TRIGGER IF EXISTS product_search_vector_update ON marketplace_product",
    # Only a changed name or description recomputes the vector: stock, price and counter
    # updates stay as cheap as before.
    """
    CREATE TRIGGER product_search_vector_update BEFORE UPDATE OF name, description ON marketplace_product
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.description IS DISTINCT FROM NEW.description)
    EXECUTE FUNCTION marketplace_product_search_vector()
    """,
]

PG_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS product_search_vector ON marketplace_product USING gin (search_vector)"
)

PG_BACKWARD = [
    "DROP INDEX CONCURRENTLY IF EXISTS product_search_vector",
    "DROP TRIGGER IF EXISTS product_search_vector_update ON marketplace_product",
    "DROP TRIGGER IF EXISTS product_search_vector_insert ON marketplace_product",
    "DROP FUNCTION IF EXISTS marketplace_product_search_vector()",
    "ALTER TABLE marketplace_product DROP COLUMN IF EXISTS search_vector",
]

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE IF NOT EXISTS marketplace_product_fts USING fts5(
        name, description, content='marketplace_product', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    *SQLITE_TRIGGERS.values(),
    "INSERT INTO marketplace_product_fts(marketplace_product_fts) VALUES ('rebuild')",
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS product_fts_update",
    "DROP TRIGGER IF EXISTS product_fts_delete",
    "DROP TRIGGER IF EXISTS product_fts_insert",
    "DROP TABLE IF EXISTS marketplace_product_fts",
]


def _run(schema_editor, statements) -> None:
    with schema_editor.connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _progress(message: str) -> None:
    if "pytest" not in sys.modules:  # keep test output quiet
        sys.stdout.write(f"\n  product search: {message}")
        sys.stdout.flush()


def _backfill_postgresql(schema_editor) -> None:
    """Fill the vector of the existing rows in id ranges, one short transaction each."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM marketplace_product")
        low, high = cursor.fetchone()
    started, done, start = time.monotonic(), 0, low
    while start <= high:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE marketplace_product SET search_vector = {PG_DOCUMENT.format(row='')} "
                "WHERE id >= %s AND id < %s AND search_vector IS NULL",
                [start, start + BATCH],
            )
            done += cursor.rowcount
        start += BATCH
        _progress(f"{done:,} products indexed ({time.monotonic() - started:.0f} s)")


def forward(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_FORWARD)
        _backfill_postgresql(schema_editor)
        started = time.monotonic()
        _run(schema_editor, [PG_INDEX])
        _progress(f"GIN index built in {time.monotonic() - started:.0f} s")
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_FORWARD)


def backward(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_BACKWARD)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_BACKWARD)


class Migration(migrations.Migration):
    # Not atomic: the backfill commits batch by batch and CREATE INDEX CONCURRENTLY cannot
    # run inside a transaction.
    atomic = False

    dependencies = [("marketplace", "0005_catalogue_sort_key_indexes")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
