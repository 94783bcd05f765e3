"""Run tokens and replay verification of POST /score, between the routes and the store.

The leaderboard service calls this: /game-start gets a token here, and a submitted run
is checked and replayed here before anything is stored. Replays run on one worker
thread: a 2-minute run is ~4 ms of CPU (bench/bench_replay.py), below the interpreter's
5 ms switch interval, so the event loop waits at most one interval for the GIL; one
thread also bounds replay CPU to what one core can do, however many runs arrive.
"""

import asyncio
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from drafty_bird.data.models import ScoreCreate
from drafty_bird.replay.tokens import RunTokens, TokenRefused
from drafty_bird.replay.verify import Replayed, RunRefused, replay

log = logging.getLogger(__name__)


def _ms(value: datetime) -> int:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return int(aware.timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Verified:
    replayed: Replayed
    run_id: str
    ticks: str


class ScoreVerifier:
    def __init__(self, tokens: RunTokens, *, required: bool) -> None:
        self.tokens = tokens
        self.required = required
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="replay")

    @classmethod
    def from_settings(
        cls,
        *,
        mode: str,
        secret: str | None,
        previous: str | None,
        previous_until: datetime | None,
        ttl_s: int,
    ) -> "ScoreVerifier":
        if secret is None:
            key = secrets.token_bytes(32)
            log.warning(
                "RUN_TOKEN_SECRET is unset: run tokens use a random per-process key; they are lost on restart "
                "and refused by other replicas (set it from Key Vault in production)"
            )
        else:
            key = secret.encode()
        tokens = RunTokens(
            key=key,
            ttl_ms=ttl_s * 1000,
            previous=previous.encode() if previous is not None else None,
            previous_until_ms=_ms(previous_until) if previous_until is not None else 0,
        )
        return cls(tokens, required=mode == "required")

    def issue(self, run_id: str, seed: int) -> str:
        return self.tokens.issue(run_id, seed, now_ms())

    async def verify(self, entry: ScoreCreate) -> Verified:
        """The replayed run, or RunRefused. Cheap checks first; the replay runs off the loop."""
        if entry.token is None:
            raise RunRefused("missing_token", "token is required: send the run token /game-start returned")
        now = now_ms()
        try:
            claim = self.tokens.verify(entry.token, now)
        except TokenRefused as exc:
            raise RunRefused(exc.reason, str(exc)) from None
        if entry.run_id is not None and entry.run_id != claim.run_id:
            raise RunRefused("bad_token", "run token is for another run_id")
        if entry.seed is not None and entry.seed != claim.seed:
            raise RunRefused("seed_mismatch", f"run token is for seed {claim.seed}, not {entry.seed}")
        if entry.ticks is None:
            raise RunRefused("malformed_inputs", "ticks are required: the run's flap ticks, encoded")
        loop = asyncio.get_running_loop()
        replayed = await loop.run_in_executor(
            self._pool, replay, claim.seed, entry.ticks, entry.score, now - claim.issued_ms
        )
        return Verified(replayed, claim.run_id, entry.ticks)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
