"""register, login, logout, revokeToken, deleteAccount: each translates to an ``accounts``
(or ``privacy``) service.

The services hash and check passwords in a thread (``call_service``), never on the
event loop; ``OnePasswordMutationPerDocument`` keeps one document from asking for many.
"""

from __future__ import annotations

from collections.abc import Awaitable

import strawberry
from asgiref.sync import sync_to_async
from django.contrib.auth import alogout
from graphql import (
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)
from strawberry.types import Info

from graph.errors import RateLimited
from graph.ids import decode_id
from graph.mutations.common import call_service
from graph.permissions import require_user
from graph.types.accounts import ApiTokenType, UserType
from graph.types.errors import UserError, UserErrorCode
from marketplace.ratelimit import client_address
from marketplace.services import accounts, privacy

# Mutation fields whose service hashes or checks a password (~0.3 s of CPU each).
PASSWORD_MUTATIONS = frozenset({"register", "login", "deleteAccount"})


async def _throttled(call: Awaitable[tuple]) -> tuple:
    """A service's rate limit is the client's error to see at the top (RATE_LIMITED), not a payload error."""
    result, errors = await call
    if errors and errors[0].code is UserErrorCode.RATE_LIMITED:
        raise RateLimited(errors[0].message)
    return result, errors


class OnePasswordMutationPerDocument(ValidationRule):
    """Refuse a document holding two or more password-hashing mutation fields (aliases and
    fragments included) before anything runs: 30 aliased ``register`` calls in one request
    cost 30 hashes, which no per-request rate limit sees coming."""

    def enter_document(self, node, *_args):
        fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
        count = sum(
            _password_fields(d.selection_set, fragments, set())
            for d in node.definitions
            if isinstance(d, OperationDefinitionNode) and d.operation == OperationType.MUTATION
        )
        if count > 1:
            self.report_error(
                GraphQLError(
                    f"A document may hold at most one of {', '.join(sorted(PASSWORD_MUTATIONS))} ({count} found): "
                    "each hashes a password. Send them as separate requests.",
                    extensions={"code": "TOO_MANY_PASSWORD_MUTATIONS"},
                )
            )


def _password_fields(selection_set: SelectionSetNode, fragments: dict, seen: set[str]) -> int:
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            count += _password_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # each fragment once: cycles end here
                seen.add(name)
                count += _password_fields(fragments[name].selection_set, fragments, seen)
        elif selection.name.value in PASSWORD_MUTATIONS:
            count += 1
    return count


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
class DeleteAccountPayload:
    deleted: bool = strawberry.field(description="True once the account is erased (also when it already was).")
    errors: list[UserError]


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create an account (Django's password rules apply). Log in afterwards.")
    async def register(self, info: Info, username: str, email: str, password: str) -> RegisterPayload:
        address = client_address(info.context.request)
        user, errors = await _throttled(
            call_service(accounts.register_user, username=username, email=email, password=password, address=address)
        )
        return RegisterPayload(user=user, errors=errors)

    @strawberry.mutation(
        description="Start a session (cookie) and get an API token. An anonymous cart merges into the user's."
    )
    async def login(self, info: Info, username: str, password: str, token_name: str = "") -> LoginPayload:
        request = info.context.request
        result, errors = await _throttled(
            call_service(accounts.login, request=request, username=username, password=password, token_name=token_name)
        )
        if errors:
            return LoginPayload(user=None, token=None, errors=errors)
        user, secret = result
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

    @strawberry.mutation(
        description="Erase your personal data (GDPR): the account is deactivated and anonymised, its sessions "
        "and tokens end, favorites, carts and reviews are removed, activity is kept without you, and orders are "
        "kept for the sellers' books without your name. Product counters do not change. Sellers deactivate "
        "their products first (HAS_ACTIVE_PRODUCTS). Rate-limited like login."
    )
    async def delete_account(self, info: Info, password: str) -> DeleteAccountPayload:
        user = require_user(info)
        request = info.context.request
        _, errors = await _throttled(
            call_service(privacy.delete_account, user=user, password=password, address=client_address(request))
        )
        if errors:
            return DeleteAccountPayload(deleted=False, errors=errors)
        await alogout(request)
        info.context.user = None
        return DeleteAccountPayload(deleted=True, errors=[])
