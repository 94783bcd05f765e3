"""Route labels for logs and metrics: a bounded set, never the raw path.

A raw path as a label lets any scanner create unbounded series; the matched route
template ("/score") or a fixed bucket is used instead.
"""

import weakref
from typing import Any

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
    return raw_path if raw_path in _known_paths(app) else None


# Each app's exact paths, gathered again only when its route count changes: gathering them
# was half the metrics layer's cost for the requests answered before routing (/healthz,
# the cached board), ~8 µs each.
_KNOWN_PATHS: "weakref.WeakKeyDictionary[Any, tuple[int, frozenset[str]]]" = weakref.WeakKeyDictionary()


def _known_paths(app: Any) -> frozenset[str]:
    routes = getattr(app, "routes", ())
    known = _KNOWN_PATHS.get(app)
    if known is None or known[0] != len(routes):
        plain = {path for route in routes if isinstance(path := getattr(route, "path", None), str)}
        documented = app.openapi().get("paths", {}) if hasattr(app, "openapi") else {}
        known = _KNOWN_PATHS[app] = (len(routes), frozenset(plain | set(documented)))
    return known[1]
