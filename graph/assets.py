"""GraphiQL's browser assets, served by the app so GraphiQL works without internet.

The files come from the npm registry at set-up (``package.json``: react, react-dom,
graphiql, the explorer plugin, js-cookie) and are served from ``node_modules`` by
name from a fixed list: nothing else on disk is reachable. They are optional:
``make run`` starts the API without npm, and then ``/graphql/`` in a browser shows
how to enable GraphiQL (``graphiql_setup_page``) instead of a page stuck on
"Loading…". ``GRAPHIQL_ASSETS_DIR`` (default: ``node_modules`` in the project) says
where they are.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.html import escape

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
    path = assets_dir() / relative
    if not path.is_file():
        raise Http404(f"{name} is missing: run `npm ci` (make run does it when npm is installed)")
    # Read whole (4 MB in all, cached by the browser for a day), not a FileResponse: under ASGI
    # Django warns that it must consume a file's synchronous iterator, and does so chunk by chunk.
    response = HttpResponse(path.read_bytes(), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response


def assets_dir() -> Path:
    return Path(settings.GRAPHIQL_ASSETS_DIR)


def missing_graphiql_assets() -> list[str]:
    """The asset files GraphiQL needs that are not on disk (all of them before ``npm ci``)."""
    return [relative for relative, _type in ASSETS.values() if not (assets_dir() / relative).is_file()]


def graphiql_setup_page(missing: list[str]) -> HttpResponse:
    """What a browser gets at ``/graphql/`` when GraphiQL's assets are missing: how to enable it.
    The API itself works all the same (POST, or GET with ``Accept: application/json``)."""
    listed = "".join(f"<li><code>{escape(name)}</code></li>" for name in missing)
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Marketplace API · enable GraphiQL</title>
<meta name="robots" content="noindex"></head>
<body style="font-family: sans-serif; max-width: 46em; margin: 3em auto; line-height: 1.5">
<h1>GraphiQL is not installed</h1>
<p>The API works: send queries with POST to this URL. GraphiQL, the in-browser IDE, needs its
scripts from npm, which were not found in <code>{escape(str(assets_dir()))}</code>.</p>
<p>To enable it, install Node.js with npm, then in the project folder run</p>
<pre>npm ci</pre>
<p>and reload this page (no restart needed).</p>
<details><summary>Missing files</summary><ul>{listed}</ul></details>
</body></html>
"""
    return HttpResponse(html, content_type="text/html; charset=utf-8")
