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
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if path else UNMATCHED
