"""/docs and /redoc render in real Chromium with no network beyond the app; the schema is complete.

The browser resolves every host but 127.0.0.1 to "not found" (--host-resolver-rules),
so a page that needs a CDN stays blank, as it would in an air-gapped cluster.
"""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright

from tests.server import RunningServer, start_server
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

TOKEN = "e3b9d0c47f1a86e25c3d9b04a7f6e18c"  # openssl rand -hex 16: CHAOS_ADMIN_TOKEN needs 128 bits
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
LOCAL = {"127.0.0.1", None}  # None: blob: and data: URLs the page makes itself
# ReDoc's footer shows Redocly's logo from their CDN, and has no option to drop it:
# offline that one image is missing, the documentation is all there.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"CHAOS_ADMIN_TOKEN": TOKEN}
    with start_server(tmp_path_factory.mktemp("docs"), env) as running:
        yield running


@pytest.fixture(scope="module")
def offline_browser(playwright: Playwright) -> Iterator[Browser]:
    """pytest-playwright's Playwright (one per process: a second sync_playwright() would
    refuse to start after it), with a browser of our own that cannot resolve other hosts."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test runs scripts/system-deps.sh)")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + OFFLINE)
    yield launched
    launched.close()


def open_offline(browser: Browser, url: str) -> tuple[Page, list[str]]:
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).hostname not in LOCAL else None)
    page.goto(url)
    return page, outside


def test_swagger_ui_renders_without_network(server: RunningServer, offline_browser: Browser) -> None:
    page, outside = open_offline(offline_browser, server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title:has-text('Drafty Bird')", timeout=20_000)
    for path in ("/score", "/leaderboard", "/metrics", "/ops/chaos", "/readyz"):
        page.wait_for_selector(f".opblock-summary-path[data-path='{path}']", timeout=10_000)
    page.close()
    assert outside == [], f"/docs asked for something outside the app: {outside}"


def test_redoc_renders_without_network(server: RunningServer, offline_browser: Browser) -> None:
    page, outside = open_offline(offline_browser, server.url + "/redoc")
    page.wait_for_selector("h1:has-text('Drafty Bird')", timeout=30_000)
    page.wait_for_selector("h2:has-text('Prometheus metrics (text exposition format)')", timeout=10_000)
    page.close()
    assert set(outside) <= {REDOC_LOGO}, f"/redoc asked for something outside the app: {outside}"


def test_openapi_documents_metrics_and_chaos_control(server: RunningServer) -> None:
    schema = httpx.get(server.url + "/openapi.json", timeout=10).json()
    paths = schema["paths"]
    metrics = paths["/metrics"]["get"]
    assert "text/plain; version=0.0.4; charset=utf-8" in metrics["responses"]["200"]["content"]
    assert {"get", "put"} <= set(paths["/ops/chaos"])  # exists here: CHAOS_ADMIN_TOKEN is set
    # What the schema says about /metrics is true: the endpoint answers in that format.
    scraped = httpx.get(server.url + "/metrics", timeout=10)
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "/docs" not in paths and "/docs-assets" not in str(paths)


def test_chaos_control_is_absent_from_the_schema_when_it_does_not_exist(tmp_path: Path) -> None:
    with start_server(tmp_path) as plain:
        paths = httpx.get(plain.url + "/openapi.json", timeout=10).json()["paths"]
    assert "/ops/chaos" not in paths and "/metrics" in paths
