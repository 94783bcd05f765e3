#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real, when missing.
# Tests never skip for a missing tool: they fail with a clear message instead.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# The game's pure JS modules (physics, name rules) are tested under Node.
command -v node >/dev/null 2>&1 || need+=(nodejs)
# The image-contract test builds a venv from Debian's Python, as the image does.
/usr/bin/python3.11 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3.11-venv)
# The API benchmark drives the server with wrk.
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# make run-cluster and its test put the replicas behind Debian's HAProxy; the PostgreSQL
# tests start their own server with initdb/pg_ctl.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "missing Debian packages: ${need[*]} (run as root, or install them: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
