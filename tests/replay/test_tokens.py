"""Run tokens: HMAC-signed (run_id, seed, issue time), checked without shared state."""

import pytest

from drafty_bird.replay.tokens import RunClaim, RunTokens, TokenRefused

KEY = b"k" * 32
OLD = b"o" * 32
T0 = 1_780_000_000_000
HOUR = 3_600_000


def test_a_token_carries_its_run_id_seed_and_issue_time() -> None:
    tokens = RunTokens(KEY, ttl_ms=HOUR)
    token = tokens.issue("a" * 32, 12345, T0)
    assert tokens.verify(token, T0 + 1000) == RunClaim("a" * 32, 12345, T0)
    # Another process with the same key verifies it too (no shared state).
    assert RunTokens(KEY, ttl_ms=HOUR).verify(token, T0) == RunClaim("a" * 32, 12345, T0)


def _flip(token: str, index: int) -> str:
    ch = token[index]
    return token[:index] + ("1" if ch != "1" else "2") + token[index + 1 :]


def test_any_tampered_character_is_refused() -> None:
    tokens = RunTokens(KEY, ttl_ms=HOUR)
    token = tokens.issue("a" * 32, 12345, T0)
    for i in range(len(token)):
        if token[i] == ".":
            continue
        with pytest.raises(TokenRefused) as err:
            tokens.verify(_flip(token, i), T0)
        assert err.value.reason == "bad_token"


@pytest.mark.parametrize("bad", [None, 5, "", "v1.abc", "v2" + "x" * 80, "v1.a.1.1." + "A" * 42])
def test_garbage_is_a_bad_token(bad: object) -> None:
    with pytest.raises(TokenRefused, match="malformed"):
        RunTokens(KEY, ttl_ms=HOUR).verify(bad, T0)


def test_a_token_from_another_key_is_refused() -> None:
    token = RunTokens(OLD, ttl_ms=HOUR).issue("r", 1, T0)
    with pytest.raises(TokenRefused, match="signature"):
        RunTokens(KEY, ttl_ms=HOUR).verify(token, T0)


def test_expired_and_future_tokens_are_refused() -> None:
    tokens = RunTokens(KEY, ttl_ms=HOUR)
    token = tokens.issue("r", 1, T0)
    assert tokens.verify(token, T0 + HOUR).issued_ms == T0
    with pytest.raises(TokenRefused) as err:
        tokens.verify(token, T0 + HOUR + 1)
    assert err.value.reason == "expired_token"
    with pytest.raises(TokenRefused, match="future"):
        tokens.verify(token, T0 - 60_000)


def test_the_previous_key_verifies_only_until_its_window_closes() -> None:
    old_token = RunTokens(OLD, ttl_ms=HOUR).issue("r", 1, T0)
    rotated = RunTokens(KEY, ttl_ms=HOUR, previous=OLD, previous_until_ms=T0 + 600_000)
    assert rotated.verify(old_token, T0 + 599_999).seed == 1
    with pytest.raises(TokenRefused, match="signature"):
        rotated.verify(old_token, T0 + 600_000)
    # New tokens are signed with the new key only.
    assert RunTokens(KEY, ttl_ms=HOUR).verify(rotated.issue("r", 1, T0), T0).run_id == "r"
