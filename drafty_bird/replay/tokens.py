"""Run tokens: /game-start signs (run_id, seed, issue time) so any replica can check a
POST /score without shared state.

Format: ``v1.<run_id>.<seed>.<issued_ms>.<mac>``, mac = unpadded base64url of
HMAC-SHA256(key, everything before the last dot). Keys and the current time are passed
in: the settings decide where keys come from (RUN_TOKEN_SECRET, or a per-process key).
"""

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

VERSION = "v1"
_TOKEN = re.compile(r"v1\.([A-Za-z0-9_-]{1,64})\.(0|[1-9][0-9]{0,9})\.(0|[1-9][0-9]{0,15})\.([A-Za-z0-9_-]{43})")
# Replicas' clocks differ a little: a token "from the future" by less than this is fine.
CLOCK_SKEW_MS = 5_000


class TokenRefused(ValueError):
    """reason is one of a few fixed words (a metric label); str() says why in words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RunClaim:
    run_id: str
    seed: int
    issued_ms: int


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class RunTokens:
    """key signs and verifies; previous (until previous_until_ms) only verifies, so runs
    started before a key rotation can still be saved."""

    key: bytes
    ttl_ms: int
    previous: bytes | None = None
    previous_until_ms: int = 0

    def issue(self, run_id: str, seed: int, now_ms: int) -> str:
        payload = f"{VERSION}.{run_id}.{seed}.{now_ms}"
        if not _TOKEN.fullmatch(payload + "." + "A" * 43):
            raise ValueError("run_id or seed out of range for a token")
        return f"{payload}.{_mac(self.key, payload)}"

    def verify(self, token: object, now_ms: int) -> RunClaim:
        """The claim a valid token carries; TokenRefused("bad_token" | "expired_token") otherwise."""
        if not isinstance(token, str) or (match := _TOKEN.fullmatch(token)) is None:
            raise TokenRefused("bad_token", "run token is malformed")
        payload, mac = token.rsplit(".", 1)
        keys = [self.key]
        if self.previous is not None and now_ms < self.previous_until_ms:
            keys.append(self.previous)
        # compare_digest on every key: the time taken does not say which one nearly matched.
        if not any([hmac.compare_digest(_mac(k, payload), mac) for k in keys]):
            raise TokenRefused("bad_token", "run token signature does not match (tampered, or from another key)")
        claim = RunClaim(match.group(1), int(match.group(2)), int(match.group(3)))
        if claim.issued_ms > now_ms + CLOCK_SKEW_MS:
            raise TokenRefused("bad_token", "run token is issued in the future")
        if now_ms - claim.issued_ms > self.ttl_ms:
            raise TokenRefused("expired_token", f"run token expired (older than {self.ttl_ms // 1000} s)")
        return claim
