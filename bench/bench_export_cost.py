"""What trace export costs one route, split into "an exporter at all" and "a kept request".

Five servers in one run, same seeded DB: instrumentation off; on with no exporter; on
with an OTLP/HTTP exporter (to a discarding local sink) and the sampler at 0.0, at 0.1
and at 1.0. Each is driven by wrk
(c16) in turn, in alternating order, and the medians of --reps runs are printed as JSON:
req/s, CPU per request (all threads, and the event loop's thread alone: the rest is
mostly the exporter's) and p99. The kept-request cost is (1.0 - 0.0) CPU; the exporter's
own is (0.0 - none); the issue's bounds compare "no exporter" and "kept 10%" with "off"
(throughput loss, as bench_api.py reports them). Optional variants try the BatchSpanProcessor knobs.

    .venv/bin/python bench/bench_export_cost.py --route /leaderboard --reps 5
"""

import argparse
import json
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import bench_api
from bench_api import BASE_ENV, run_load, seeded_db, wait_healthy
from bench_instrumentation import DiscardingSink

from tests.server import launch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--route", default="/leaderboard")
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--batch-variant", action="store_true", help="also export at 0.1 in batches of 64")
    parser.add_argument("--semconv-variant", action="store_true", help="also export at 0.1 with stable HTTP semconv")
    args = parser.parse_args()
    bench_api.CLIENT = "wrk"

    sink = DiscardingSink()
    export = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    export |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"}
    variants = {
        "instrumentation off": {"INSTRUMENTATION_ENABLED": "false"},
        "no exporter": {},
        "export, kept 0%": {**export, "OTEL_TRACES_SAMPLER_ARG": "0.0"},
        "export, kept 10%": {**export, "OTEL_TRACES_SAMPLER_ARG": "0.1"},
        "export, kept 100%": {**export, "OTEL_TRACES_SAMPLER_ARG": "1.0"},
    }
    if args.semconv_variant:  # contrib's stable HTTP attribute names: fewer of them, no full URL
        variants["export, kept 10%, stable semconv"] = {
            **export,
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
            "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
        }
    if args.batch_variant:
        batches = {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "64", "OTEL_BSP_SCHEDULE_DELAY": "200"}
        variants["export, kept 10%, batches of 64"] = {**export, "OTEL_TRACES_SAMPLER_ARG": "0.1", **batches}

    work = Path(tempfile.mkdtemp(prefix="drafty-export-"))
    servers = {
        name: launch(work, {**BASE_ENV, **extra}, db_path=seeded_db(10_000, work / f"{i}" / "db.sqlite"), name=str(i))
        for i, (name, extra) in enumerate(variants.items())
    }
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    try:
        for server in servers.values():
            wait_healthy(server, timeout=60)
        for rep in range(args.reps):
            order = list(servers.items())
            for name, server in order if rep % 2 == 0 else order[::-1]:
                result = run_load(server.url + args.route, "GET", args.seconds, server.proc.pid)
                runs[name].append(result)
                print(f"rep {rep} {name:<34} {result['rps']:8.0f} req/s", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()

    summary = {
        name: {
            key: round(statistics.median(r[key] for r in results), 1)
            for key in ("rps", "cpu_us_per_req", "loop_cpu_us_per_req", "p99_ms")
        }
        for name, results in runs.items()
    }
    cpu = {name: row["cpu_us_per_req"] for name, row in summary.items()}
    loop = {name: row["loop_cpu_us_per_req"] for name, row in summary.items()}
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "route": args.route,
                "reps": args.reps,
                "results": summary,
                "exporter_itself_us": round(cpu["export, kept 0%"] - cpu["no exporter"], 1),
                "kept_request_us": round(cpu["export, kept 100%"] - cpu["export, kept 0%"], 1),
                "kept_request_loop_us": round(loop["export, kept 100%"] - loop["export, kept 0%"], 1),
                "kept_request_loop_us_at_10pct": round((loop["export, kept 10%"] - loop["export, kept 0%"]) * 10, 1),
                "kept_request_us_at_10pct": round((cpu["export, kept 10%"] - cpu["export, kept 0%"]) * 10, 1),
                "throughput_loss_pct_vs_off": {
                    name: round((1 - row["rps"] / summary["instrumentation off"]["rps"]) * 100, 1)
                    for name, row in summary.items()
                    if name != "instrumentation off"
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
