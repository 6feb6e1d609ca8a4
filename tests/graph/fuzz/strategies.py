"""Hypothesis strategies for the scalars the fuzzer fills in.

schemathesis generates every argument from the schema, but an ID it makes up is never one
that exists, so without help every mutation stops at "No such product". The ID strategy mixes
the seeded objects' real global IDs with the edge cases of our ID format (plain database ids,
wrong types, non-ASCII digits, huge numbers) and arbitrary text. ``Decimal`` (a custom scalar)
gets numbers and the strings Python's Decimal reads as non-finite; ``String`` gets injection
metacharacters and control characters besides Hypothesis' own text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import strategies as st
from schemathesis.graphql import nodes
from schemathesis.specs.graphql.scalars import CUSTOM_SCALARS
from strawberry.relay import to_base64

TRICKY_IDS = [
    "",
    "0",
    "-1",
    "1",
    "9223372036854775808",  # 2**63: one past the biggest primary key
    "9" * 5000,  # more digits than int() converts (sys.get_int_max_str_digits)
    "²",  # str.isdigit() says yes, int() says no
    "١٢",  # Arabic-Indic digits: int() reads them as 12
    to_base64("Product", "abc"),
    to_base64("Product", "-5"),
    to_base64("NoSuchType", 1),
    "UHJvZHVjdDox==",  # padding the decoder may or may not accept
    "not base64 at all!",
]

TRICKY_STRINGS = [
    "",
    " ",
    "' OR '1'='1",
    "'; DROP TABLE marketplace_product; --",
    '" OR ""="',
    "%",
    "_",
    "\\",
    "%_\\%",
    "a\x00b",
    "\u202e\u0000\ufeff",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "ü" * 300,
    "x" * 5000,
]

TRICKY_DECIMALS = [
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1e999999",
    "1E-999999",
    "-0",
    "0.001",
    "9999999999.99",
    "10000000000",
    "1" * 60,
    "0x10",
    " 5 ",
]


def ids(real_ids: list[str]) -> st.SearchStrategy:
    """ID literals, in four equal shares: real IDs, edge cases of the format, other text, integers."""
    real = st.sampled_from(real_ids) if real_ids else st.nothing()
    other = st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), st.text(max_size=30))
    return st.one_of(
        real.map(nodes.String),
        st.sampled_from(TRICKY_IDS).map(nodes.String),
        other.map(nodes.String),
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(nodes.Int),
    )


def decimals() -> st.SearchStrategy:
    return st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(str).map(nodes.String),
        st.sampled_from(TRICKY_DECIMALS).map(nodes.String),
        st.integers(min_value=-(2**31), max_value=2**31 - 1).map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        st.text(max_size=12).map(nodes.String),
    )


def strings() -> st.SearchStrategy:
    return st.one_of(st.text(max_size=80), st.sampled_from(TRICKY_STRINGS)).map(nodes.String)


@contextmanager
def scalar_strategies(real_ids: list[str]) -> Iterator[None]:
    """Register the strategies with schemathesis for the duration (its registry is global)."""
    ours = {"ID": ids(real_ids), "Decimal": decimals(), "String": strings()}
    saved = {name: CUSTOM_SCALARS[name] for name in ours if name in CUSTOM_SCALARS}
    CUSTOM_SCALARS.update(ours)
    try:
        yield
    finally:
        for name in ours:
            CUSTOM_SCALARS.pop(name, None)
        CUSTOM_SCALARS.update(saved)
