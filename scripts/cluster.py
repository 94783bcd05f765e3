"""`make run-cluster`: several app processes on one PostgreSQL database behind HAProxy.

HAProxy (Debian's) pins each browser to one replica with a cookie, because NiceGUI keeps a
page in the memory of the process that served it and its socket must reach that process.
A replica that fails its /readyz check (draining after SIGTERM, database down) is taken
out within ~2 s, its websockets are cut, and its pages reload onto another replica.

Prints one JSON line once everything answers (the URL, each replica's port and pid), then
runs until SIGINT/SIGTERM, which it passes on.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
COOKIE = "DRAFTY_REPLICA"

HAPROXY_CFG = """global
    maxconn 4000

defaults
    mode http
    option forwardfor
    # A request refused by a dead replica is sent to a live one (its cookie points nowhere).
    option redispatch
    retries 2
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # NiceGUI's socket.io websockets stay open for the life of the page.
    timeout tunnel 1h

frontend web
    bind {host}:{port}
    default_backend app

backend app
    balance roundrobin
    cookie {cookie} insert indirect nocache httponly
    option httpchk GET /readyz
    http-check expect status 200
    # Out after 2 failed checks 1 s apart; its open websockets are cut so pages move on.
    default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
    http-response set-header X-Drafty-Replica %s
{servers}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"cluster: {url} exited with {proc.returncode} before answering")
        try:
            with urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"cluster: {url} did not answer within {timeout:.0f}s")


def create_database(url: str) -> None:
    """For `make run-cluster` on a laptop: create the database if it is missing."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    name = str(conninfo_to_dict(libpq)["dbname"])
    with psycopg.connect(make_conninfo(libpq, dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None, help="logs and haproxy.cfg (default: a temp dir)")
    parser.add_argument("--create-db", action="store_true", help="create the database when missing")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra app environment")
    args = parser.parse_args(argv)
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        raise SystemExit("cluster: haproxy is missing: apt-get install haproxy (make system-deps)")
    if args.create_db:
        create_database(args.database_url)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="drafty-cluster-"))
    workdir.mkdir(parents=True, exist_ok=True)

    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NICEGUI_"))}
    extra = dict(item.split("=", 1) for item in args.env)
    # Every replica must verify the run tokens any other replica issued (a page can move after a
    # replica stops), so they share one signing key, as Key Vault gives them in Azure.
    if not (extra.get("RUN_TOKEN_SECRET") or base_env.get("RUN_TOKEN_SECRET")):
        extra["RUN_TOKEN_SECRET"] = secrets.token_urlsafe(32)
    replicas: list[dict] = []
    procs: list[subprocess.Popen] = []
    for i in range(1, args.replicas + 1):
        name, port = f"r{i}", free_port()
        env = {
            **base_env,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": args.database_url,
            "CONTAINER_APP_REPLICA_NAME": name,
            "NICEGUI_STORAGE_PATH": str(workdir / name / ".nicegui"),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        log = (workdir / f"{name}.log").open("w")
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=ROOT, env=env, stdout=log, stderr=log)
        procs.append(proc)
        replicas.append({"name": name, "port": port, "pid": proc.pid})

    def stop(*_: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for proc, replica in zip(procs, replicas, strict=True):
        wait_http(f"http://127.0.0.1:{replica['port']}/readyz", 60, proc)

    servers = "\n".join(f"    server {r['name']} 127.0.0.1:{r['port']} check cookie {r['name']}" for r in replicas)
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(host=args.host, port=args.port, cookie=COOKIE, servers=servers))
    check = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"cluster: haproxy rejected {cfg}: {check.stderr.strip()}")
    proxy = subprocess.Popen(
        [haproxy, "-db", "-f", str(cfg)], stdout=(workdir / "haproxy.log").open("w"), stderr=subprocess.STDOUT
    )
    procs.append(proxy)
    url = f"http://{args.host}:{args.port}"
    wait_http(url + "/healthz", 15, proxy)
    ready = {"url": url, "replicas": replicas, "haproxy_pid": proxy.pid, "workdir": str(workdir)}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    while proxy.poll() is None:
        time.sleep(0.5)
    stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
