"""Known crawlers: their tracking calls are answered but never counted.

Which User-Agents are crawlers is the ``crawlerdetect`` package's business (a maintained
port of the JayBizzle/Crawler-Detect list of well over a thousand patterns), not a
hand-made regex here. Its first call compiles the list (a few hundred milliseconds), so
``warm_up`` runs it when the app starts; each later check costs a fraction of a
millisecond, and the answers for recent User-Agents are cached (a site sees few distinct
ones), so a check is usually a dictionary lookup.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from crawlerdetect import CrawlerDetect

MAX_USER_AGENT = 1024  # longer strings are cut before matching (and caching)

_local = threading.local()  # CrawlerDetect keeps per-call state on the instance


def _detector() -> CrawlerDetect:
    detector = getattr(_local, "detector", None)
    if detector is None:
        detector = _local.detector = CrawlerDetect()
    return detector


# The list also matches generic HTTP client libraries (okhttp, Dart, axios, python-httpx,
# curl...), since a crawler built on one sends its default User-Agent. A tracking *mutation*
# sent by one is not a crawler visiting pages, though: it is an app (Android's okhttp,
# Flutter's Dart), a server-rendered storefront or a script calling the API on purpose,
# so a match that is only a library's name does not make a crawler here. What a crawler
# does send tracking calls from is a browser engine running the storefront's script, and
# that carries the crawler's name (Googlebot, bingbot, HeadlessChrome...), which still counts.
HTTP_LIBRARIES = (
    "python-httpx",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl",
    "wget",
    "go-http-client",
    "node-fetch",
    "axios",
    "undici",
    "okhttp",
    "dart",
    "java",
)


@lru_cache(maxsize=4096)
def _is_crawler(user_agent: str) -> bool:
    detector = _detector()
    if not detector.is_crawler(user_agent):
        return False
    matched = (detector.get_matches() or "").lower()
    return not matched.startswith(HTTP_LIBRARIES)


def is_crawler(user_agent: str | None) -> bool:
    """Whether ``user_agent`` is a known crawler's. A missing or empty one is not (scripts
    and some apps send none; the rate limit, not this, keeps them in check)."""
    if not user_agent:
        return False
    return _is_crawler(user_agent[:MAX_USER_AGENT])


def request_is_crawler(request) -> bool:
    headers = getattr(request, "headers", None)
    return is_crawler(headers.get("User-Agent") if headers is not None else None)


def warm_up() -> None:
    """Compile the pattern list now rather than on the first tracking call."""
    is_crawler("Mozilla/5.0 (compatible; warm-up)")
