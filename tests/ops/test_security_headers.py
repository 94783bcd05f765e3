"""Security headers on every kind of response of the real server, and the CSP nonce on pages."""

import re

import httpx
import pytest

from drafty_bird.ops.security_headers import add_nonces
from tests.server import RunningServer

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
SCRIPT_TAG = re.compile(r"<script\b[^>]*>")


def csp_directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def assert_hardened(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.request.url, name, response.headers.get(name))
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    directives = csp_directives(response)
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert directives["base-uri"] == "base-uri 'none'"
    if response.headers.get("content-type", "").startswith("text/html") and response.request.method == "GET":
        assert directives["object-src"] == "object-src 'none'"
        assert "'unsafe-inline'" not in directives["script-src"], "inline scripts run only with the nonce"
    else:  # JSON, assets: nothing may load or run
        assert directives["default-src"] == "default-src 'none'" and "script-src" not in directives
    assert "server" not in response.headers, f"server header leaks: {response.headers.get('server')}"


def test_every_kind_of_response_is_hardened(client: httpx.Client) -> None:
    page = client.get("/")
    asset = next(src for src in re.findall(r'src="([^"]+)"', page.text) if src.startswith("/_nicegui"))
    responses = [
        page,
        client.get(asset),
        client.get("/leaderboard"),
        client.get("/healthz"),
        client.get("/readyz"),
        client.get("/no/such/page"),
        client.post("/score", json={"score": -1}),  # 422 from validation
        client.post("/score", content=b"x" * 20_000, headers={"content-type": "application/json"}),  # 413
        client.head("/"),  # 405: pages are GET only
    ]
    assert [r.status_code for r in responses][-3:] == [422, 413, 405]
    for response in responses:
        assert_hardened(response)


def test_every_script_tag_of_the_page_carries_this_responses_nonce(client: httpx.Client) -> None:
    nonces = []
    for _ in range(2):
        page = client.get("/", headers={"accept-encoding": "identity"})
        (nonce,) = re.findall(r"'nonce-([A-Za-z0-9+/=]+)'", csp_directives(page)["script-src"])
        tags = SCRIPT_TAG.findall(page.text)
        assert len(tags) >= 5
        assert all(f'nonce="{nonce}"' in tag for tag in tags), tags
        assert int(page.headers["content-length"]) == len(page.content)
        nonces.append(nonce)
    assert nonces[0] != nonces[1], "a fresh nonce per response"


def test_gzip_pages_are_tagged_before_compression(server: RunningServer) -> None:
    response = httpx.get(server.url + "/", headers={"accept-encoding": "gzip"}, timeout=10)
    assert response.headers.get("content-encoding") == "gzip"
    (nonce,) = re.findall(r"'nonce-([A-Za-z0-9+/=]+)'", csp_directives(response)["script-src"])
    assert all(f'nonce="{nonce}"' in tag for tag in SCRIPT_TAG.findall(response.text))


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (b"<p><script>a()</script></p>", b'<p><script nonce="N">a()</script></p>'),
        (
            b'<script type="module">x = `{"player": "<script>evil()</script>"}`</script><script src="/a.js"></script>',
            b'<script nonce="N" type="module">x = `{"player": "<script>evil()</script>"}`'
            b'</script><script nonce="N" src="/a.js"></script>',
        ),
        (b"no scripts", b"no scripts"),
        (b"<script>unterminated", b'<script nonce="N">unterminated'),
    ],
)
def test_only_tags_in_the_markup_get_the_nonce(html: bytes, expected: bytes) -> None:
    assert add_nonces(html, b"N") == expected
