"""/ops/chaos against guessing: failed attempts limited per client, logged with the client's
address, and weak CHAOS_ADMIN_TOKEN values refused at start-up. All on the real server."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drafty_bird.settings import SettingsError, load_settings
from tests.server import RunningServer, launch, start_server, wait_until

# From `openssl rand -hex 16`: 128 bits, the minimum.
STRONG = "9f3c1be07a5d4e2c8b61f0a7d3e95c42"
LIMIT = 10


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"CHAOS_ADMIN_TOKEN": STRONG, "CHAOS_AUTH_FAILURE_LIMIT": f"{LIMIT}/minute"}
    with start_server(tmp_path_factory.mktemp("chaos-auth"), env=env) as running:
        yield running


def as_client(address: str, token: str | None = None) -> dict[str, str]:
    # The test talks from 127.0.0.1, a trusted proxy by default: X-Forwarded-For names the client.
    headers = {"x-forwarded-for": address}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return headers


def test_guessing_is_cut_off_after_the_limit_even_for_the_right_token(guarded: RunningServer) -> None:
    attacker, operator = "203.0.113.7", "198.51.100.20"
    with httpx.Client(base_url=guarded.url, timeout=10) as http:
        statuses = [
            http.get("/ops/chaos", headers=as_client(attacker, f"guess-{i:04d}-x7Qm2pLk9vRt")).status_code
            for i in range(3 * LIMIT)
        ]
        assert statuses[:LIMIT] == [403] * LIMIT
        assert statuses[LIMIT:] == [429] * (2 * LIMIT), statuses
        limited = http.get("/ops/chaos", headers=as_client(attacker, STRONG))
        assert limited.status_code == 429, "a limited client must not learn that a guess was right"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.json()["error"].startswith("Too many failed attempts")
        # Another client (another X-Forwarded-For) is not affected.
        assert http.get("/ops/chaos", headers=as_client(operator, STRONG)).status_code == 200
        # Missing credentials count as failures too.
        nobody = "192.0.2.99"
        missing = [http.get("/ops/chaos", headers=as_client(nobody)).status_code for _ in range(LIMIT + 1)]
        assert missing == [401] * LIMIT + [429]


def test_failures_are_logged_with_the_client_address(guarded: RunningServer) -> None:
    prober = "203.0.113.201"
    httpx.get(guarded.url + "/ops/chaos", headers=as_client(prober, "wrong-wrong-wrong-wrong-1"), timeout=10)

    def failure_lines() -> list[dict]:
        return [
            line
            for line in guarded.logs()
            if line.get("message") == "chaos admin auth failed" and line.get("client") == prober
        ]

    wait_until(failure_lines, 5, message="a failure line naming the client")
    (line,) = failure_lines()
    assert line["level"] == "WARNING" and line["status"] == 403
    assert STRONG not in guarded.raw_log() and "wrong-wrong" not in guarded.raw_log()


WEAK = [
    "0123456789abcdef0123",  # the example: 80 bits
    "0123456789abcdef0123456789abcdef",  # 32 hex, but a sequence
    "s3cret-chaos-token-0123456789",  # long enough, but hand-made
    "abcdabcdabcdabcdabcdabcdabcdabcd",
    "a1b2c3d4" * 4,  # a repeated block
    "x" * 40,
    "9f3c1be07a5d4e2c8b61f0a7d3e95c4",  # 31 hex: 124 bits
    "mFTR7SauKkgqhU4G71dXN",  # 21 base64url: 126 bits
]
STRONG_ENOUGH = [STRONG, "mFTR7SauKkgqhU4G71dXNg", "bCAowFnVFOsvAblEEhfhkyBfNhfug9u8jJB9z1IrMVg"]


@pytest.mark.parametrize("token", WEAK)
def test_weak_tokens_are_refused_by_the_settings(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("CHAOS_ADMIN_TOKEN", token)
    with pytest.raises(SettingsError) as err:
        load_settings(score_db_path="/tmp/chaos-auth-settings/db.sqlite")
    assert str(err.value).startswith("invalid CHAOS_ADMIN_TOKEN=<redacted>: too weak")
    assert token not in str(err.value)


@pytest.mark.parametrize("token", STRONG_ENOUGH)
def test_generated_tokens_are_accepted(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("CHAOS_ADMIN_TOKEN", token)
    assert load_settings(score_db_path="/tmp/chaos-auth-settings/db.sqlite").chaos_admin_token is not None


def test_a_weak_token_stops_start_up_with_one_line(tmp_path: Path) -> None:
    server = launch(tmp_path, {"CHAOS_ADMIN_TOKEN": "0123456789abcdef0123"})
    try:
        code = server.proc.wait(20)
    finally:
        server.stop()
    lines = [line for line in server.raw_log().splitlines() if line.strip()]
    assert code == 2, server.raw_log()[-2000:]
    assert len(lines) == 1 and "CHAOS_ADMIN_TOKEN" in lines[0] and "too weak" in lines[0], lines
    assert "0123456789abcdef0123" not in lines[0]
