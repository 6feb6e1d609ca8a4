"""A shopper's right to erasure: ``delete_account``.

The account row stays, deactivated and anonymised, instead of being deleted: orders
point at it (``Order.user`` is ``PROTECT``, which is why deleting a shopper with an
order failed), and a seller's books need those orders and their lines, just without
the person. What goes, in the one transaction:

- the person: username, e-mail and names replaced, the password made unusable (which
  also ends every session: Django checks a session against the password's hash), the
  account inactive, groups and permissions cleared, every API token deleted;
- favorites and carts, deleted without announcing anything: an erasure is not an
  unfavorite or a cart removal, so counters and metric buckets do not change;
- reviews, deleted: their title and body are the author's own words and may say
  anything about them, so no anonymised copy could be vouched for. The rating sort keys
  follow through the same signals as any review deletion (``marketplace.sort_keys``);
- orders keep their lines, totals and dates; only the client's idempotency key goes;
- activity rows lose the user and the visitor key (``account_erased``, which tracking
  receives in this transaction).

Refused: a wrong password (``wrong_password``), a staff account (``staff_account``: an
administrator closes those) and a seller with products still on sale
(``has_active_products``: deactivate or hand them over first, so that no listing
points at a seller who no longer exists). The password check is rate-limited per
account like a login (``LOGIN_RATE_LIMIT``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from marketplace import ratelimit
from marketplace.models import ApiToken, Cart, Favorite, Order, Product, ProductReview
from marketplace.services.accounts import TooManyAttempts
from marketplace.services.errors import ServiceError
from marketplace.signals import account_erased


def delete_account(*, user, password: str, address: str) -> bool:
    """Erase ``user``'s personal data (see the module). True when this call erased it,
    False when a concurrent call already had (nothing changes then).

    The password is checked before any lock (a hash costs ~0.3 s); then the account row
    is locked and read again, so that of two concurrent calls one erases and the other,
    waiting on the lock, finds the account already erased."""
    limit = settings.LOGIN_RATE_LIMIT
    if not ratelimit.hit("delete-account", f"{user.pk}|{address}", limit=limit):
        raise TooManyAttempts(f"Too many attempts: at most {limit} a minute.")
    if user.is_staff or user.is_superuser:
        raise ServiceError("Staff accounts are closed by an administrator.", code="staff_account")
    if not user.check_password(password):
        raise ServiceError("Wrong password.", field="password", code="wrong_password")
    checked_hash = user.password  # after the check: it may have upgraded the hash
    with transaction.atomic():
        account = get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if account is None or not account.is_active:
            return False
        if account.password != checked_hash and not account.check_password(password):
            raise ServiceError("Wrong password.", field="password", code="wrong_password")
        if Product.objects.filter(seller=account, is_active=True).exists():
            raise ServiceError(
                "Deactivate or hand over your products on sale before deleting your account.",
                code="has_active_products",
            )
        _erase(account)
    return True


def _erase(account) -> None:
    favorites = list(Favorite.objects.filter(user=account).order_by("product_id").values_list("product_id", flat=True))
    Favorite.objects.filter(user=account).delete()
    Cart.objects.filter(user=account).delete()
    ProductReview.objects.filter(user=account).delete()  # sends post_delete: rating keys follow
    Order.objects.filter(user=account, idempotency_key__isnull=False).update(idempotency_key=None)
    ApiToken.objects.filter(user=account).delete()
    account_erased.send(sender=get_user_model(), user_id=account.pk, favorite_product_ids=favorites)
    account.username = f"deleted-{uuid.uuid4().hex}"
    account.email = account.first_name = account.last_name = ""
    account.set_unusable_password()
    account.is_active = account.is_staff = account.is_superuser = False
    account.last_login = None
    account.save()
    account.groups.clear()
    account.user_permissions.clear()
