"""The error every mutation payload lists: a failure the client can fix and show.

The services speak in lowercase codes (``empty_cart``); the API shows them as the
``UserErrorCode`` enum (``EMPTY_CART``), so a client can switch on them with its
generated types instead of reading prose. The enum's values are the services' codes,
so the mapping is the enum itself: ``UserErrorCode("empty_cart")``. A code the enum
does not list would be a server bug (a test walks every code the services and the
mutations produce); it is still shown as ``INVALID`` and logged, never a failed response.
"""

from __future__ import annotations

import enum
import logging

import strawberry

logger = logging.getLogger(__name__)


@strawberry.enum(description="Why a mutation refused its input: stable, switch on it.")
class UserErrorCode(enum.Enum):
    DUPLICATE = strawberry.enum_value("duplicate", description="It exists already (one review per product).")
    EMPTY_CART = strawberry.enum_value("empty_cart", description="Checkout of a cart with nothing to buy.")
    HAS_ACTIVE_PRODUCTS = strawberry.enum_value(
        "has_active_products", description="A seller deletes the account after deactivating their products."
    )
    IDEMPOTENCY_KEY_REUSED = strawberry.enum_value(
        "idempotency_key_reused", description="The key was used for a checkout of a different cart."
    )
    INACTIVE = strawberry.enum_value("inactive", description="The product is no longer sold.")
    INSUFFICIENT_STOCK = strawberry.enum_value("insufficient_stock", description="Fewer in stock than asked for.")
    INVALID = strawberry.enum_value("invalid", description="The value is malformed (the message says how).")
    INVALID_CREDENTIALS = strawberry.enum_value("invalid_credentials", description="Wrong username or password.")
    NOT_FOUND = strawberry.enum_value("not_found", description="No such object, or not one you may see.")
    NOT_IN_CART = strawberry.enum_value("not_in_cart", description="The product is not in the cart.")
    OUT_OF_RANGE = strawberry.enum_value("out_of_range", description="A number outside its allowed range.")
    OWN_PRODUCT = strawberry.enum_value("own_product", description="Sellers cannot review their own products.")
    PASSWORD_TOO_WEAK = strawberry.enum_value("password_too_weak", description="The password validators refused it.")
    RATE_LIMITED = strawberry.enum_value("rate_limited", description="Too many attempts: wait a minute.")
    REQUIRED = strawberry.enum_value("required", description="A required value is missing or blank.")
    STAFF_ACCOUNT = strawberry.enum_value(
        "staff_account", description="Staff accounts are closed by an administrator, not by deleteAccount."
    )
    TOO_LONG = strawberry.enum_value("too_long", description="A text longer than its limit.")
    UNIQUE = strawberry.enum_value("unique", description="Taken by another object (a username, a slug).")
    WRONG_PASSWORD = strawberry.enum_value("wrong_password", description="The password of the account is not this.")

    @classmethod
    def of(cls, code: str) -> UserErrorCode:
        """The enum member for a service's code; an unknown code is ``INVALID`` (and logged)."""
        try:
            return cls(code)
        except ValueError:
            logger.error("Service error code %r is not in UserErrorCode; shown as INVALID.", code)
            return cls.INVALID


@strawberry.type(description="A validation failure: which input, what is wrong, a stable code.")
class UserError:
    field: str | None
    message: str
    code: UserErrorCode
