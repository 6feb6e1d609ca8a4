"""GraphiQL's browser assets, served by the app so GraphiQL works without internet.

The files come from the npm registry at set-up (``package.json``: react, react-dom,
graphiql, the explorer plugin, js-cookie) and are served from ``node_modules`` by
name from a fixed list: nothing else on disk is reachable. A dozen lines here
beat adding a static-files middleware (whitenoise is WSGI-only and would put a
thread hop in front of every API request under ASGI).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse

NODE_MODULES = Path(settings.BASE_DIR) / "node_modules"

ASSETS: dict[str, tuple[str, str]] = {
    "react.js": ("react/umd/react.production.min.js", "text/javascript"),
    "react-dom.js": ("react-dom/umd/react-dom.production.min.js", "text/javascript"),
    "js.cookie.js": ("js-cookie/dist/js.cookie.min.js", "text/javascript"),
    "graphiql.js": ("graphiql/graphiql.min.js", "text/javascript"),
    "graphiql.css": ("graphiql/graphiql.min.css", "text/css"),
    "explorer.js": ("@graphiql/plugin-explorer/dist/index.umd.js", "text/javascript"),
    "explorer.css": ("@graphiql/plugin-explorer/dist/style.css", "text/css"),
    "graphql-ws.js": ("graphql-ws/umd/graphql-ws.min.js", "text/javascript"),  # subscriptions (live metrics)
}


def graphiql_asset(request: HttpRequest, name: str) -> HttpResponse:
    if name not in ASSETS:
        raise Http404(name)
    relative, content_type = ASSETS[name]
    path = NODE_MODULES / relative
    if not path.is_file():
        raise Http404(f"{name} is missing: run `npm ci` (make run does it)")
    # Read whole (4 MB in all, cached by the browser for a day), not a FileResponse: under ASGI
    # Django warns that it must consume a file's synchronous iterator, and does so chunk by chunk.
    response = HttpResponse(path.read_bytes(), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response
