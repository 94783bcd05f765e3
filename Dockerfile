# Drafty Bird image. Runs with a read-only root FS: only /data (Azure Files) and /tmp are written.

# ---- build stage: resolve the pinned lock into a venv (wheels only, no compilers needed) ----
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# --only-binary keeps the final image free of build tools: a missing wheel fails the build loudly.
RUN /opt/venv/bin/pip install --only-binary=:all: --no-deps -r /tmp/requirements.lock

# ---- final stage: runtime only ----
FROM python:3.11-slim
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_DATA_HOME=/tmp/.local/share \
    NICEGUI_STORAGE_PATH=/tmp/nicegui \
    HOST=0.0.0.0 \
    PORT=8080 \
    SCORE_DB_PATH=/data/db.sqlite \
    STORAGE_FALLBACK=fail
# uid/gid 1000 match the Azure Files mountOptions (uid=1000,gid=1000) in infra/modules/app.bicep.
RUN groupadd --gid 1000 app \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown 1000:1000 /data \
    && chmod 0750 /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Source stays root-owned and read-only for the app user.
COPY main.py ./
COPY drafty_bird ./drafty_bird
USER 1000:1000
EXPOSE 8080
# No curl in the image: the standard library does the probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]
# Exec form: python is PID 1 and receives SIGTERM directly (uvicorn drains, then exits 0).
CMD ["/opt/venv/bin/python", "main.py"]
