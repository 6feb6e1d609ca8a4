"""The data export (a GDPR access request): ``me.exportData`` gives a link, this serves it.

Why a link to a streamed download rather than a paged GraphQL field: the request is
for one JSON document (the user's account, orders with their lines, reviews,
favorites and activity), which a client saves as a file; a heavy user's activity runs
to millions of rows, which a GraphQL response would build in memory whole (and the
cost model would have to price), while a download can be written as it is read. So
``GET /account/export/<token>`` streams the document a page at a time: each section
is read in keyset pages (``marketplace.export``, ``tracking.privacy``), each page is
encoded and sent before the next is read, and memory stays at one page whatever the
history. Pages are separate statements: a user who acts while the download runs may
see a row or two of that.

The link authenticates by itself (a download manager or ``curl`` has no session), so
it is short-lived (``EXPORT_LINK_MAX_AGE``) and signed with the site's secret; it also
carries a digest of the account's password hash, so a password change or an erasure
(``deleteAccount``) voids every link issued before.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from marketplace import export
from tracking.privacy import activity_pages

EXPORT_LINK_MAX_AGE = 600  # seconds: long enough to start a download, short enough to leak little
PAGE_SIZE = 500  # rows per query and per chunk sent
_SALT = "graph.export.data-export-link"
FORMAT = "marketplace-data-export/1"


def _password_digest(user) -> str:
    return salted_hmac(_SALT, user.password, algorithm="sha256").hexdigest()[:16]


def export_link(request: HttpRequest, user) -> tuple[str, datetime]:
    """An absolute URL of ``user``'s export and when it stops working."""
    token = signing.dumps({"u": user.pk, "p": _password_digest(user)}, salt=_SALT)
    url = request.build_absolute_uri(reverse("data-export", kwargs={"token": token}))
    return url, timezone.now() + timedelta(seconds=EXPORT_LINK_MAX_AGE)


def _user_for(token: str):
    try:
        claim = signing.loads(token, salt=_SALT, max_age=EXPORT_LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired included
        return None
    user = get_user_model().objects.filter(pk=claim.get("u"), is_active=True).first()
    if user is None or claim.get("p") != _password_digest(user):
        return None
    return user


def _encode(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def document_chunks(user, *, page_size: int = PAGE_SIZE) -> Iterator[str]:
    """The export as JSON text, one chunk per page of rows (and one for the header)."""
    header = {"format": FORMAT, "exportedAt": timezone.now(), "userId": user.pk, "account": export.account(user)}
    yield _encode(header)[:-1]  # the object stays open for the sections
    sections = {
        "orders": export.order_pages(user, page_size=page_size),
        "reviews": export.review_pages(user, page_size=page_size),
        "favorites": export.favorite_pages(user, page_size=page_size),
        "activity": activity_pages(user_id=user.pk, page_size=page_size),
    }
    for name, pages in sections.items():
        yield f', "{name}": ['
        separator = ""
        for page in pages:
            yield separator + ", ".join(_encode(row) for row in page)
            separator = ", "
        yield "]"
    yield "}"


async def _streamed(chunks: Iterator[str]) -> AsyncIterator[bytes]:
    """Each chunk read in a thread (the ORM is synchronous) and sent before the next is read:
    an async iterator, since Django under ASGI would collect a synchronous one whole first."""
    while (chunk := await sync_to_async(next)(chunks, None)) is not None:
        yield chunk.encode()


async def data_export(request: HttpRequest, token: str):
    user = await sync_to_async(_user_for)(token)
    if user is None:
        body = {"errors": [{"message": "This export link is invalid or expired: ask me.exportData for a new one."}]}
        return JsonResponse(body, status=404)
    response = StreamingHttpResponse(_streamed(document_chunks(user)), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="marketplace-data-{user.pk}.json"'
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
