"""Run tokens and replay verification of POST /score, between the routes and the store.

The leaderboard service calls this: /game-start gets a token here, and a submitted run
is checked and replayed here before anything is stored. Replays run in worker
processes (replay/worker.py), never on the event loop nor on a thread of this process:
a replay is pure CPU and would hold the GIL the event loop needs. A worker that dies is
replaced; each replay is bounded by the run's tick budget, so none runs long.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from drafty_bird.data.models import ScoreCreate
from drafty_bird.replay.tokens import RunTokens, TokenRefused
from drafty_bird.replay.verify import Replayed, RunRefused

log = logging.getLogger(__name__)


def _ms(value: datetime) -> int:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return int(aware.timestamp() * 1000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# Far above the longest replay a token allows (an hour of play: ~170 ms): a stuck worker.
REPLAY_TIMEOUT_S = 10.0


class ReplayPool:
    """Worker processes (python -m drafty_bird.replay.worker), started on first use."""

    def __init__(self, size: int = 1) -> None:
        self.size = size
        self._idle: asyncio.Queue[asyncio.subprocess.Process] | None = None
        self._procs: list[asyncio.subprocess.Process] = []
        self._ids = itertools.count()

    async def _spawn(self) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "drafty_bird.replay.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._procs.append(proc)
        return proc

    async def replay(self, seed: int, ticks: str, claimed: int, elapsed_ms: int) -> Replayed:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.size):
                self._idle.put_nowait(await self._spawn())
        proc = await self._idle.get()
        try:
            request_id = next(self._ids)
            assert proc.stdin is not None and proc.stdout is not None  # PIPE above
            proc.stdin.write((json.dumps([request_id, seed, ticks, claimed, elapsed_ms]) + "\n").encode())
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), REPLAY_TIMEOUT_S)
            answer = json.loads(line)
            if answer[0] != request_id:
                raise RuntimeError(f"replay worker answered {answer[0]}, expected {request_id}")
        except BaseException:
            # Dead, stuck or out of step: replace it, so the next run gets a clean worker.
            log.exception("replay worker failed; starting a new one")
            self._kill(proc)
            proc = await self._spawn()
            raise
        finally:
            self._idle.put_nowait(proc)
        if answer[1] == "refused":
            raise RunRefused(answer[2], answer[3])
        return Replayed(score=answer[2], ticks=answer[3], flaps=answer[4], y=answer[5])

    def _kill(self, proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        if proc in self._procs:
            self._procs.remove(proc)

    def close(self) -> None:
        for proc in list(self._procs):
            self._kill(proc)


@dataclass(frozen=True)
class Verified:
    replayed: Replayed
    run_id: str
    ticks: str


class ScoreVerifier:
    def __init__(self, tokens: RunTokens, *, required: bool, workers: int = 1) -> None:
        self.tokens = tokens
        self.required = required
        self._pool = ReplayPool(workers)

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
        replayed = await self._pool.replay(claim.seed, entry.ticks, entry.score, now - claim.issued_ms)
        return Verified(replayed, claim.run_id, entry.ticks)

    def close(self) -> None:
        self._pool.close()
