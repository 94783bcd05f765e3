"""Smoke-test a Drafty Bird URL: healthz, readyz, leaderboard and the page itself.

    python -m infra.scripts.smoke https://<app>---green.<env-domain> [--timeout 180]

Retries until every check passes once in the same round, or the deadline passes
(a fresh revision may still be starting). Exit 0 = healthy, 1 = not. Standard library
only, so the pipeline can run it before any venv exists.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

USER_AGENT = "drafty-bird-smoke/1"


def fetch(url: str, timeout: float) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return (
                response.status,
                response.headers.get("content-type", ""),
                response.read(2_000_000).decode("utf-8", "replace"),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read(10_000).decode("utf-8", "replace")


def _status_200(status: int, _ctype: str, _body: str) -> str | None:
    return None if status == 200 else f"status {status}"


def _leaderboard(status: int, ctype: str, body: str) -> str | None:
    if status != 200:
        return f"status {status}"
    if "json" not in ctype:
        return f"content-type {ctype!r}"
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(data.get("leaderboard"), list):
        return "no leaderboard list"
    return None


def _page(status: int, ctype: str, body: str) -> str | None:
    if status != 200:
        return f"status {status}"
    if "text/html" not in ctype:
        return f"content-type {ctype!r}"
    if "Drafty Bird" not in body:
        return "page does not mention Drafty Bird"
    return None


CHECKS: list[tuple[str, Callable[[int, str, str], str | None]]] = [
    ("/healthz", _status_200),
    ("/readyz", _status_200),
    ("/leaderboard", _leaderboard),
    ("/", _page),
]


def run_round(base_url: str, request_timeout: float) -> list[str]:
    problems = []
    for path, check in CHECKS:
        try:
            problem = check(*fetch(base_url.rstrip("/") + path, request_timeout))
        except (OSError, urllib.error.URLError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            problems.append(f"{path}: {problem}")
    return problems


def smoke(base_url: str, timeout: float = 180, interval: float = 3, request_timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        problems = run_round(base_url, request_timeout)
        if not problems:
            print(f"smoke OK: {base_url} (attempt {attempt}): " + ", ".join(p for p, _ in CHECKS))
            return True
        print(f"smoke attempt {attempt} on {base_url}: " + "; ".join(problems), file=sys.stderr)
        if time.monotonic() + interval > deadline:
            print(f"smoke FAILED after {timeout:g}s: {base_url}", file=sys.stderr)
            return False
        time.sleep(interval)


def is_writer(base_url: str, request_timeout: float = 10) -> bool:
    """Whether the process behind base_url holds the SQLite writer lease (/readyz "writer")."""
    try:
        status, _ctype, body = fetch(base_url.rstrip("/") + "/readyz", request_timeout)
        return status == 200 and json.loads(body).get("writer") is True
    except (OSError, urllib.error.URLError, ValueError, AttributeError):
        return False


def wait_for_writer(base_url: str, timeout: float, interval: float = 1, request_timeout: float = 10) -> bool:
    """Poll /readyz until the revision there reports the writer role, or the deadline passes.

    The smoke checks above pass on a non-writer too (it serves reads and stays ready), so a
    release checks the writer role separately once the old revision has released the lease.
    """
    deadline = time.monotonic() + timeout
    while True:
        if is_writer(base_url, request_timeout):
            print(f"writer OK: {base_url} holds the writer lease")
            return True
        if time.monotonic() + interval > deadline:
            print(f"writer FAILED: {base_url} did not take the writer lease within {timeout:g}s", file=sys.stderr)
            return False
        time.sleep(interval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=180, help="seconds until giving up (default 180)")
    parser.add_argument("--interval", type=float, default=3, help="seconds between rounds (default 3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return 0 if smoke(args.url, args.timeout, args.interval) else 1


if __name__ == "__main__":
    sys.exit(main())
