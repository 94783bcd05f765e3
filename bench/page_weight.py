"""Page weight and first-frame time of / in real Chromium, against the real server on loopback.

Usage: .venv/bin/python bench/page_weight.py [--runs 7]
Prints medians of: bytes on the wire (first visit: empty cache; repeat visit: same
browser profile, new tab), time to the first drawn game frame, and the cache headers of
the game's own assets. Websocket frames are excluded (CDP reports them separately).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.server import start_server  # noqa: E402 (needs the sys.path set-up above)
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 (needs the sys.path set-up above)


def visit(context: BrowserContext, url: str) -> dict:
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    responses: dict[str, dict] = {}
    wire: dict[str, int] = {}
    cdp.on("Network.responseReceived", lambda e: responses.__setitem__(e["requestId"], e["response"]))
    cdp.on("Network.loadingFinished", lambda e: wire.__setitem__(e["requestId"], e["encodedDataLength"]))
    page.goto(url)
    page.wait_for_function("performance.getEntriesByName('drafty:first-frame').length > 0", timeout=30_000)
    first_frame = page.evaluate("performance.getEntriesByName('drafty:first-frame')[0].startTime")
    page.wait_for_load_state("networkidle")
    time.sleep(0.3)
    by_url = {responses[r]["url"]: n for r, n in wire.items() if r in responses}
    headers = {responses[r]["url"]: responses[r]["headers"].get("cache-control", "") for r in responses}
    page.close()
    return {
        "bytes": sum(wire.values()),
        "requests": len(wire),
        "first_frame_ms": first_frame,
        "by_url": by_url,
        "headers": headers,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    first, repeat = [], []
    with tempfile.TemporaryDirectory() as tmp, start_server(Path(tmp)) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        visit(browser.new_context(), server.url)  # warm the server (first render compiles templates)
        for _ in range(args.runs):
            context = browser.new_context()  # empty cache
            first.append(visit(context, server.url))
            repeat.append(visit(context, server.url))
            context.close()
        browser.close()

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(f"runs: {args.runs} (medians)")
    print(
        f"first visit:  {med(first, 'bytes') / 1024:.1f} KiB in {med(first, 'requests'):.0f} requests, "
        f"first frame {med(first, 'first_frame_ms'):.0f} ms"
    )
    print(
        f"repeat visit: {med(repeat, 'bytes') / 1024:.1f} KiB in {med(repeat, 'requests'):.0f} requests, "
        f"first frame {med(repeat, 'first_frame_ms'):.0f} ms"
    )
    print("first-frame ms, first visits:", [round(r["first_frame_ms"]) for r in first])
    print("\nlargest transfers, first visit:")
    for url, n in sorted(first[0]["by_url"].items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {n / 1024:7.1f} KiB  {url.split('/', 3)[-1][:90]}")
    print("\nrepeat visit transfers:")
    for url, n in sorted(repeat[0]["by_url"].items(), key=lambda kv: -kv[1]):
        print(f"  {n / 1024:7.1f} KiB  {url.split('/', 3)[-1][:90]}")
    print("\ncache-control of the game's assets:")
    for url, cc in first[0]["headers"].items():
        if "/components/" in url or "/libraries/" in url:
            print(f"  {cc}  {url.split('/', 3)[-1][:90]}")


if __name__ == "__main__":
    main()
