"""Accounts: registration, login and API tokens.

Every function here hashes or checks passwords on the calling thread: callers on an
event loop run them through ``sync_to_async`` (a hash costs ~0.3 s of CPU on purpose).
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, password_validation
from django.contrib.auth import login as start_session
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from marketplace import ratelimit
from marketplace.models import ApiToken
from marketplace.services import cart
from marketplace.services.errors import ServiceError

TOKEN_PREFIX = "mkt_"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TooManyAttempts(ServiceError):
    """A rate limit refused the attempt before any password was hashed or checked."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="rate_limited")


def check_login_allowed(*, username: str, address: str) -> None:
    """Count one login attempt, for the API and the admin alike.

    Limited per username-and-address and per address, never per username alone: a
    stranger's wrong guesses from elsewhere must not lock the real user out."""
    per_pair = settings.LOGIN_RATE_LIMIT
    per_address = settings.LOGIN_ADDRESS_RATE_LIMIT
    pair_ok = ratelimit.hit("login-user-addr", f"{username.strip().lower()[:150]}|{address}", limit=per_pair)
    address_ok = ratelimit.hit("login-addr", address, limit=per_address)
    if not (pair_ok and address_ok):
        raise TooManyAttempts(
            f"Too many login attempts: at most {per_pair} a minute per username and address, "
            f"{per_address} per address."
        )


def login(*, request, username: str, password: str, token_name: str = "") -> tuple[object, str]:
    """Log ``username`` in on ``request``'s session and issue an API token.

    Rate-limited first (``TooManyAttempts``); wrong credentials are a ``ServiceError``
    (``invalid_credentials``). An anonymous visitor's cart merges into the user's.
    Returns the user and the token's secret (shown once)."""
    check_login_allowed(username=username, address=ratelimit.client_address(request))
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise ServiceError("Wrong username or password.", code="invalid_credentials")
    anonymous_key = request.session.session_key
    anonymous_cart = cart.get_cart(session_key=anonymous_key) if anonymous_key else None
    start_session(request, user)
    cart.merge_carts(anonymous=anonymous_cart, user=user)
    secret, _ = issue_token(user=user, name=token_name)
    return user, secret


def register_user(*, username: str, email: str, password: str, address: str):
    """Create a user after Django's username, e-mail and password validation.

    Rate-limited per ``address`` (``REGISTER_RATE_LIMIT``) before any hashing."""
    limit = settings.REGISTER_RATE_LIMIT
    if not ratelimit.hit("register-addr", address, limit=limit):
        raise TooManyAttempts(f"Too many registrations: at most {limit} a minute per address.")
    User = get_user_model()
    username = username.strip()
    if not username:
        raise ServiceError("Choose a username.", field="username", code="required")
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError("Enter a valid e-mail address.", field="email", code="invalid") from None
    user = User(username=username, email=email)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        code = "unique" if "already exists" in messages[0] else "invalid"
        raise ServiceError(messages[0], field=field, code=code) from None
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), field="password", code="password_too_weak") from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a concurrent registration took the name
        raise ServiceError("A user with that username already exists.", field="username", code="unique") from None
    return user


def issue_token(*, user, name: str = "") -> tuple[str, ApiToken]:
    """A new token for ``user``: returns the secret (shown once) and the stored record."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, key_hash=token_hash(secret), prefix=secret[:12], name=name[:100])
    return secret, token


def user_for_token(secret: str):
    """The active user a token belongs to, or None. Never logs the secret."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=token_hash(secret), revoked_at__isnull=True).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # at most once a minute
    return token.user


def revoke_token(*, user, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s tokens. Someone else's token answers as if it did not exist."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise ServiceError("No such token.", field="tokenId", code="not_found")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def revoke_token_by_hash(key_hash: str) -> None:
    ApiToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True).update(revoked_at=timezone.now())
