"""The strict CSP in real Chromium: the game loads, plays and saves with no CSP violation,
and a script without the page's nonce is refused."""

import pytest
from playwright.sync_api import Page

from tests.server import RunningServer
from tests.ui.helpers import autopilot_realtime, db_rows, open_game

pytestmark = pytest.mark.browser

# Registered before any page script runs, so violations during start-up are seen too.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`));
"""


def test_game_loads_plays_and_saves_under_the_csp(page: Page, game_server: RunningServer) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: console.append(f"page error: {e}"))
    page.add_init_script(RECORD_VIOLATIONS)
    document = page.request.get(game_server.url + "/")
    assert "'nonce-" in document.headers["content-security-policy"]

    open_game(page, game_server.url)
    page.wait_for_function("window.did_handshake === true")
    page.locator(".db-name input").fill("Csp Tester")
    page.locator("canvas").focus()
    page.keyboard.press("Space")
    run = autopilot_realtime(page, target=1)
    page.wait_for_function("window.__draftyBird.saves().length === 1", timeout=10_000)
    last = page.evaluate("window.__draftyBird.lastRun()")
    assert db_rows(game_server.db_path, last["run_id"]) == [("Csp Tester", run["score"], last["run_id"])]

    assert page.evaluate("window.__csp") == []
    assert [line for line in console if "Content Security Policy" in line or "page error" in line] == []

    # The policy bites: an inline script without the nonce (what an injection would add) never runs.
    page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.__injected = true";
                   document.body.append(s); }"""
    )
    page.wait_for_function("window.__csp.length > 0", timeout=5_000)
    assert page.evaluate("window.__injected === undefined")
    assert "script-src" in page.evaluate("window.__csp")[0]


def test_swagger_ui_works_under_the_csp(page: Page, game_server: RunningServer) -> None:
    """/docs is a page too (served offline): its inline start-up script runs only with the nonce."""
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(game_server.url + "/docs")
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=15_000)  # operations rendered from /openapi.json
    assert page.evaluate("window.__csp") == []
