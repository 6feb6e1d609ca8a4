"""Full-text product search: PostgreSQL ``tsvector`` + GIN, SQLite FTS5, one interface.

What callers use:

- ``search_terms(text)``: the words of a search box, or ``()`` when it has none (empty,
  whitespace or punctuation only).
- ``matching_products(qs, text)``: ``qs`` narrowed to products whose name or description
  contains every word, the last one as a prefix ("blue sho" finds "blue shoes": a search
  box works as the user types). It adds an *alias* ``search_rank`` (not selected, so a
  count or another ordering does not pay for ranking).
- ``with_relevance(qs)``: selects that rank as ``relevance`` for the RELEVANCE ordering.

Storage (migration 0005): on PostgreSQL a ``search_vector`` column on the product table
(name weighted A, description B, English stemming) kept by a trigger, with a GIN index;
on SQLite an external-content FTS5 table (porter stemming) kept by triggers. Neither is a
model field: the column would be fetched with every product read and would not exist on
SQLite, and the FTS5 table is not a table Django can describe.

The rank is an integer: the database's relevance score times 10^6, rounded in SQL. The
sort and the cursor compare the same integer, so paging never skips or repeats because
of a float round-trip. On PostgreSQL (``ts_rank``) it depends only on the product and the
words. On SQLite (``bm25``) it also depends on the whole catalogue's word statistics, so a
cursor taken before products are added or renamed may see ranks shift.

User text never reaches a query language unquoted: each word is quoted and escaped for
``to_tsquery`` / FTS5, operators (``& | ! ( ) : * " ' NEAR AND OR NOT``) are only ever
literal characters. PostgreSQL drops English stop words ("the", "and"); a search made of
stop words only matches nothing there, while SQLite has no stop words.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import BigIntegerField, BooleanField, Expression, F, QuerySet, Value

# Words beyond this are ignored: each one is another index probe, and the API caps the
# text at 200 characters anyway.
MAX_TERMS = 32
RANK_SCALE = 1_000_000  # the rank keeps six decimals of the score

PG_CONFIG = "english"
FTS_TABLE = "marketplace_product_fts"
# bm25 column weights: name counts 2.5x the description, like ts_rank's A (1.0) vs B (0.4).
FTS_WEIGHTS = "10.0, 4.0"


def search_terms(text: str | None) -> tuple[str, ...]:
    """The words of ``text``: whitespace-separated chunks holding a letter or digit."""
    if not text:
        return ()
    words = [chunk for chunk in text.split() if any(ch.isalnum() for ch in chunk)]
    return tuple(words[:MAX_TERMS])


def tsquery_text(terms: tuple[str, ...]) -> str:
    """A ``to_tsquery`` string: every word quoted (so it is text, never an operator), ANDed,
    the last one a prefix. PostgreSQL parses and stems each quoted word like the document."""
    quoted = ["'" + term.replace("\\", "\\\\").replace("'", "''") + "'" for term in terms]
    return " & ".join(quoted) + ":*"


def fts5_query_text(terms: tuple[str, ...]) -> str:
    """An FTS5 query: every word a quoted string (implicitly ANDed), the last one a prefix."""
    return " ".join('"' + term.replace('"', '""') + '"' for term in terms) + "*"


class _ProductSQL(Expression):
    """A SQL fragment about the product row of the query it is compiled in.

    ``{product}`` in the template becomes that query's alias for the product table, so the
    fragment stays right when Django nests the queryset as a subquery and renames it.
    """

    def __init__(self, template: str, params: tuple[Any, ...], output_field) -> None:
        super().__init__(output_field=output_field)
        self.template, self.params = template, params

    def as_sql(self, compiler, connection):
        alias = compiler.quote_name(compiler.query.get_initial_alias())
        return self.template.format(product=alias), list(self.params)


def _match_and_rank(vendor: str, terms: tuple[str, ...]) -> tuple[_ProductSQL, _ProductSQL]:
    if vendor == "postgresql":
        query = f"to_tsquery('{PG_CONFIG}'::regconfig, %s)"
        match = _ProductSQL(f'{{product}}."search_vector" @@ {query}', (tsquery_text(terms),), BooleanField())
        rank = _ProductSQL(
            f'ROUND(ts_rank({{product}}."search_vector", {query})::float8 * {RANK_SCALE})::bigint',
            (tsquery_text(terms),),
            BigIntegerField(),
        )
        return match, rank
    if vendor == "sqlite":
        text = fts5_query_text(terms)
        match = _ProductSQL(
            f'{{product}}."id" IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)', (text,), BooleanField()
        )
        # bm25() needs its own MATCH. Asked per product (MATCH ... AND rowid = id), FTS5 re-runs
        # the whole query for each row: 12 s for 2,700 matches at 200k products. "LIMIT -1"
        # keeps SQLite from flattening the inner query, so it runs once and is looked up by
        # rowid through an automatic index (0.25 s).
        rank = _ProductSQL(
            f"(SELECT ranked.score FROM (SELECT rowid AS id,"
            f" CAST(ROUND(-bm25({FTS_TABLE}, {FTS_WEIGHTS}) * {RANK_SCALE}) AS INTEGER) AS score"
            f" FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s LIMIT -1) AS ranked"
            f' WHERE ranked.id = {{product}}."id")',
            (text,),
            BigIntegerField(),
        )
        return match, rank
    raise NotImplementedError(f"product search supports PostgreSQL and SQLite, not {vendor}")


def matching_products(qs: QuerySet, text: str | None) -> QuerySet:
    """``qs`` narrowed to the products matching every word of ``text`` (the last as a
    prefix), with the alias ``search_rank`` (higher is more relevant).

    Text without a word ("%", "--") matches nothing, without a query: punctuation is
    never a wildcard. Callers that mean "no search" for empty text do not call this."""
    terms = search_terms(text)
    if not terms:
        return qs.none().alias(search_rank=Value(0, output_field=BigIntegerField()))
    match, rank = _match_and_rank(connections[qs.db].vendor, terms)
    return qs.filter(match).alias(search_rank=rank)


def with_relevance(qs: QuerySet) -> QuerySet:
    """Select the rank that ``matching_products`` aliased, as ``relevance``."""
    return qs.annotate(relevance=F("search_rank"))


# SQLite keeps the FTS5 table in step through these triggers (migration 0005 creates them).
# External content: FTS5 removes a row's words by being told the old text exactly.
SQLITE_TRIGGERS = {
    "product_fts_insert": f"""
        CREATE TRIGGER IF NOT EXISTS product_fts_insert AFTER INSERT ON marketplace_product BEGIN
            INSERT INTO {FTS_TABLE}(rowid, name, description) VALUES (new.id, new.name, new.description);
        END""",
    "product_fts_delete": f"""
        CREATE TRIGGER IF NOT EXISTS product_fts_delete AFTER DELETE ON marketplace_product BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, name, description)
            VALUES ('delete', old.id, old.name, old.description);
        END""",
    "product_fts_update": f"""
        CREATE TRIGGER IF NOT EXISTS product_fts_update AFTER UPDATE OF name, description ON marketplace_product
        WHEN old.name IS NOT new.name OR old.description IS NOT new.description BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, name, description)
            VALUES ('delete', old.id, old.name, old.description);
            INSERT INTO {FTS_TABLE}(rowid, name, description) VALUES (new.id, new.name, new.description);
        END""",
}


def restore_sqlite_search_triggers(sender=None, using: str = "default", **kwargs) -> bool:
    """A ``post_migrate`` receiver: put back the FTS5 triggers if a migration dropped them,
    and re-index. Returns whether it had to.

    For many schema changes (a NOT NULL column, a check constraint) Django's SQLite backend
    rebuilds the table: create a copy, move the rows, drop the old table, rename. Dropping
    the table drops its triggers, and the index would silently stop following writes.
    """
    connection = connections[using]
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE (type = 'trigger' AND tbl_name = 'marketplace_product')"
            " OR (type = 'table' AND name = %s)",
            [FTS_TABLE],
        )
        present = {row[0] for row in cursor.fetchall()}
        if FTS_TABLE not in present or set(SQLITE_TRIGGERS) <= present:
            return False
        for sql in SQLITE_TRIGGERS.values():
            cursor.execute(sql)
        cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    return True
