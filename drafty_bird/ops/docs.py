"""/docs, /redoc and /openapi.json, with every asset served by the app itself.

FastAPI's (and NiceGUI's `fastapi_docs=True`) pages load Swagger UI and ReDoc from a
CDN, so they are blank in an air-gapped cluster. The files come from fastapi-offline's
package data (a maintained PyPI package that ships them; pinned in requirements.lock).

/metrics is prometheus-client's raw ASGI route, which FastAPI leaves out of the schema,
so it is added by hand. /ops/chaos is documented by FastAPI itself, but exists (and so
appears) only when CHAOS_ADMIN_TOKEN is set.
"""

from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
OPENAPI_PATH = "/openapi.json"

METRICS_OPERATION = {
    "get": {
        "tags": ["ops"],
        "summary": "Prometheus metrics (text exposition format)",
        "description": "Request counts and latency per route, the game funnel, storage and chaos state; "
        "see the README's Observability section. Not authenticated: keep it off the public ingress "
        "or scrape it from the sidecar.",
        "operationId": "metrics",
        "responses": {
            "200": {
                "description": "Every metric of this process",
                "content": {"text/plain; version=0.0.4; charset=utf-8": {"schema": {"type": "string"}}},
            }
        },
    }
}


def install(app: FastAPI) -> None:
    """Call instead of ui.run(fastapi_docs=True), before serving."""
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(assets)), name="docs-assets")
    framework_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = framework_openapi()
            if any(getattr(route, "path", None) == "/metrics" for route in app.router.routes):
                schema["paths"].setdefault("/metrics", METRICS_OPERATION)  # only when public (METRICS_PUBLIC)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
    app.openapi_url = OPENAPI_PATH

    @app.get(OPENAPI_PATH, include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + OPENAPI_PATH,
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            # No call to swagger.io's validator either.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + OPENAPI_PATH,
            title=f"{app.title} - API",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
