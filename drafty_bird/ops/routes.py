"""Route labels for logs and metrics: a bounded set, never the raw path.

A raw path as a label lets any scanner create unbounded series; the matched route
template ("/score") or a fixed bucket is used instead.
"""

from starlette.types import Scope

NICEGUI_ASSETS = "/_nicegui/*"
NICEGUI_SOCKET = "/_nicegui_ws"
UNMATCHED = "unmatched"


def route_label(scope: Scope, raw_path: str) -> str:
    """Call after the app handled the request; raw_path is read before (mounts rewrite it)."""
    if raw_path.startswith("/_nicegui_ws"):
        return NICEGUI_SOCKET
    if raw_path.startswith("/_nicegui"):
        return NICEGUI_ASSETS
    path = getattr(scope.get("route"), "path", None) or _template_of(scope, raw_path)
    return path or UNMATCHED


def _template_of(scope: Scope, raw_path: str) -> str | None:
    """The route of a request that never reached routing.

    Middleware that answers first (413, 429, an injected chaos 503) leaves no route in
    the scope. Filing those under their real route keeps them in the error-rate alert,
    which leaves "unmatched" out. Only exact, parameter-free paths are recognised, read
    from the app's own OpenAPI paths and plain routes, so the label set stays bounded.
    """
    app = scope.get("app")
    if app is None:
        return None
    plain = {getattr(route, "path", None) for route in getattr(app, "routes", ())}
    documented = app.openapi().get("paths", {}) if hasattr(app, "openapi") else {}
    return raw_path if raw_path in plain or raw_path in documented else None
