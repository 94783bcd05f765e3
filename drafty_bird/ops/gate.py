"""Release gate: may this revision keep its traffic? Asks Prometheus, prints the evidence.

    python -m drafty_bird.ops.gate --prometheus URL [--token T | --token-file F] --revision R \
        [--max-error-ratio 0.01] [--max-p99-ms 500] [--window 5m] [--min-requests 100]

Exit 0 = promote, 1 = roll back, 2 = inconclusive (too little traffic, or Prometheus
could not answer), 64 = usage error (a wrong argument: no query was made). The pipeline
rolls back on 1, retries on 2 and never promotes on it, and rolls back at once on 64
(infra/scripts/bluegreen.py), since retrying a wrong command line cannot help.

Series are selected by the `revision` label the scrape config attaches to each target
(docs/RUNBOOK.md "Alert playbooks"); the routes excluded are those of the alert rules.
Works against any Prometheus HTTP API, including an Azure Monitor workspace's query
endpoint (pass an Entra ID token with --token-file).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from drafty_bird.usage import EX_USAGE, UsageParser

# The gate's exit codes, here and nowhere else (the pipeline scripts import them).
PROMOTE, ROLL_BACK, INCONCLUSIVE, USAGE = 0, 1, 2, EX_USAGE

# Same exclusions as infra/observability/prometheus/alerts.yml (a test checks they match).
EXCLUDED_ROUTES = "/healthz|/readyz|/metrics|/_nicegui_ws|/ops/chaos|unmatched"
# Label values go into PromQL strings: allow only what ACA revision names use.
_SAFE_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_RETRY_STATUS = {429, 500, 502, 503, 504}


class PrometheusError(Exception):
    """Prometheus did not give a usable answer (after retries)."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in _RETRY_STATUS


class Prometheus:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0, attempts: int = 4) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self._attempts = attempts

    def close(self) -> None:
        self._client.close()

    def _get(self, query: str) -> dict:
        @retry(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )
        def once() -> dict:
            response = self._client.get("/api/v1/query", params={"query": query})
            response.raise_for_status()
            return response.json()

        try:
            body = once()
        except httpx.HTTPStatusError as exc:
            raise PrometheusError(
                f"HTTP {exc.response.status_code} from Prometheus: {exc.response.text[:200]}"
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusError(f"Prometheus unreachable: {type(exc).__name__}: {exc}") from None
        except ValueError:
            raise PrometheusError("Prometheus answered with something that is not JSON") from None
        if body.get("status") != "success":
            raise PrometheusError(f"query failed: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def vector(self, query: str) -> list[dict]:
        """The series of an instant-vector query: [{"metric": {...}, "value": [t, "v"]}, ...]."""
        data = self._get(query)
        if data["resultType"] != "vector":
            raise PrometheusError(f"expected an instant vector, got {data['resultType']}: {query}")
        return data["result"]

    def scalar(self, query: str) -> float | None:
        """The value of a single-series instant vector; None when it is empty."""
        data = self._get(query)
        result = data["result"]
        if data["resultType"] == "scalar":
            return float(result[1])
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"expected one series, got {len(result)}: {query}")
        return float(result[0]["value"][1])


@dataclass(frozen=True)
class Queries:
    requests: str
    errors: str
    p99: str


def build_queries(revision: str, window: str, job: str) -> Queries:
    selector = f'job="{job}", revision="{revision}", route!~"{EXCLUDED_ROUTES}"'
    return Queries(
        requests=f"sum(increase(http_requests_total{{{selector}}}[{window}]))",
        errors=f'sum(increase(http_requests_total{{{selector}, status=~"5.."}}[{window}]))',
        p99=(
            "histogram_quantile(0.99, sum by (le) "
            f"(rate(http_request_duration_seconds_bucket{{{selector}}}[{window}])))"
        ),
    )


@dataclass
class Verdict:
    code: int
    reasons: list[str]

    @property
    def word(self) -> str:
        return {PROMOTE: "PROMOTE", ROLL_BACK: "ROLL BACK", INCONCLUSIVE: "INCONCLUSIVE"}[self.code]


def decide(
    requests: float | None,
    errors: float | None,
    p99_s: float | None,
    *,
    max_error_ratio: float,
    max_p99_ms: float,
    min_requests: float,
) -> Verdict:
    total = requests or 0.0
    if total < min_requests:
        return Verdict(INCONCLUSIVE, [f"only {total:.0f} user-facing requests in the window (< {min_requests:g})"])
    ratio = (errors or 0.0) / total
    reasons = []
    if ratio > max_error_ratio:
        reasons.append(f"5xx ratio {ratio:.4f} > {max_error_ratio:g}")
    if p99_s is None or math.isnan(p99_s):
        if not reasons:
            return Verdict(INCONCLUSIVE, ["p99 latency unknown (no histogram data)"])
    elif p99_s * 1000 > max_p99_ms:
        reasons.append(f"p99 {p99_s * 1000:.0f} ms > {max_p99_ms:g} ms")
    if reasons:
        return Verdict(ROLL_BACK, reasons)
    p99_text = f"{p99_s * 1000:.0f} ms" if p99_s is not None else "n/a"
    return Verdict(PROMOTE, [f"5xx ratio {ratio:.4f} <= {max_error_ratio:g}, p99 {p99_text} <= {max_p99_ms:g} ms"])


def _label(value: str) -> str:
    if not _SAFE_LABEL.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid label value (letters, digits, . _ -)")
    return value


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a Prometheus duration such as 5m or 90s")
    return value


def _fraction(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return number


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = UsageParser(prog="python -m drafty_bird.ops.gate", description=__doc__.split("\n")[0])
    parser.add_argument("--prometheus", required=True, help="base URL of the Prometheus HTTP API")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--token", help="bearer token (prefer --token-file: argv is visible to other processes)")
    auth.add_argument("--token-file", type=Path, help="file holding the bearer token")
    parser.add_argument("--revision", required=True, type=_label, help="value of the revision label to judge")
    parser.add_argument("--job", default="drafty-bird", type=_label, help="scrape job (default drafty-bird)")
    parser.add_argument("--window", default="5m", type=_duration, help="look-back window (default 5m)")
    parser.add_argument(
        "--max-error-ratio", default=0.01, type=_fraction, help="highest 5xx ratio that promotes (default %(default)g)"
    )
    parser.add_argument(
        "--max-p99-ms",
        default=500.0,
        type=_positive,
        help="highest p99 latency in ms that promotes (default %(default)g)",
    )
    parser.add_argument(
        "--min-requests",
        default=100.0,
        type=float,
        help="fewer user-facing requests in the window is inconclusive (default 100)",
    )
    parser.add_argument(
        "--attempts", default=4, type=int, help="tries per query when Prometheus fails (default %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    token = args.token
    if args.token_file:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            # A wrong path is a wrong argument: no query was made, and retrying cannot help.
            print(f"gate: error: cannot read --token-file: {exc.strerror}", file=sys.stderr)
            return USAGE
    queries = build_queries(args.revision, args.window, args.job)
    print(f"release gate: revision={args.revision} job={args.job} window={args.window} prometheus={args.prometheus}")
    prometheus = Prometheus(args.prometheus, token, attempts=max(1, args.attempts))
    try:
        values = {}
        for name in ("requests", "errors", "p99"):
            query = getattr(queries, name)
            values[name] = prometheus.scalar(query)
            shown = "none (no series)" if values[name] is None else f"{values[name]:.6g}"
            print(f"  {name:<8} = {shown:<18} <- {query}")
    except PrometheusError as exc:
        print(f"verdict: INCONCLUSIVE (exit {INCONCLUSIVE}): {exc}")
        return INCONCLUSIVE
    finally:
        prometheus.close()
    verdict = decide(
        values["requests"],
        values["errors"],
        values["p99"],
        max_error_ratio=args.max_error_ratio,
        max_p99_ms=args.max_p99_ms,
        min_requests=args.min_requests,
    )
    print(f"verdict: {verdict.word} (exit {verdict.code}): {'; '.join(verdict.reasons)}")
    return verdict.code


if __name__ == "__main__":
    raise SystemExit(main())
