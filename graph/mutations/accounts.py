"""register, login, logout, revokeToken."""

from __future__ import annotations

import strawberry
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import aauthenticate, alogin, alogout
from strawberry.types import Info

from graph.errors import RateLimited
from graph.ids import decode_id
from graph.mutations.common import call_service
from graph.permissions import require_user
from graph.ratelimit import client_address, hit
from graph.types.accounts import ApiTokenType, UserType
from graph.types.errors import UserError
from marketplace.services import accounts, cart


@strawberry.type
class RegisterPayload:
    user: UserType | None
    errors: list[UserError]


@strawberry.type
class LoginPayload:
    user: UserType | None
    token: str | None = strawberry.field(description="An API token for `Authorization: Bearer`; shown only once.")
    errors: list[UserError]


@strawberry.type
class LogoutPayload:
    ok: bool


@strawberry.type
class RevokeTokenPayload:
    token: ApiTokenType | None
    errors: list[UserError]


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create an account (Django's password rules apply). Log in afterwards.")
    async def register(self, info: Info, username: str, email: str, password: str) -> RegisterPayload:
        user, errors = await call_service(accounts.register_user, username=username, email=email, password=password)
        return RegisterPayload(user=user, errors=errors)

    @strawberry.mutation(
        description="Start a session (cookie) and get an API token. An anonymous cart merges into the user's."
    )
    async def login(self, info: Info, username: str, password: str, token_name: str = "") -> LoginPayload:
        request = info.context.request
        limit = settings.LOGIN_RATE_LIMIT
        by_name = hit("login-user", username.lower()[:150], limit=limit)
        by_address = hit("login-addr", client_address(request), limit=limit)
        if not (by_name and by_address):
            raise RateLimited(f"Too many login attempts: at most {limit} a minute per username and per address.")
        user = await aauthenticate(request, username=username, password=password)
        if user is None:
            return LoginPayload(
                user=None,
                token=None,
                errors=[UserError(field=None, message="Wrong username or password.", code="invalid_credentials")],
            )
        anonymous_key = request.session.session_key
        anonymous_cart = await sync_to_async(cart.get_cart)(session_key=anonymous_key) if anonymous_key else None
        await alogin(request, user)
        await sync_to_async(cart.merge_carts)(anonymous=anonymous_cart, user=user)
        secret, _ = await sync_to_async(accounts.issue_token)(user=user, name=token_name)
        info.context.user = user
        return LoginPayload(user=user, token=secret, errors=[])

    @strawberry.mutation(description="End the session; with an API token, revoke that token.")
    async def logout(self, info: Info) -> LogoutPayload:
        request = info.context.request
        token_hash = getattr(request, "auth_token_hash", None)
        if token_hash:
            await sync_to_async(accounts.revoke_token_by_hash)(token_hash)
        await alogout(request)
        return LogoutPayload(ok=True)

    @strawberry.mutation(description="Revoke one of your API tokens.")
    async def revoke_token(self, info: Info, token_id: strawberry.ID) -> RevokeTokenPayload:
        user = require_user(info)
        pk = decode_id(token_id, "ApiToken", field="tokenId")
        token, errors = await call_service(accounts.revoke_token, user=user, token_id=pk)
        return RevokeTokenPayload(token=token, errors=errors)
