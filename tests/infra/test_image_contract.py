"""The image's runtime contract, checked without a Docker engine (there is none here).

What Docker would do is reproduced from the Dockerfile itself: the final stage's COPY
sources are copied into a read-only app dir (WORKDIR), its ENV is applied with the image
paths (/opt/venv, /tmp, /data, /app) mapped to temp dirs, and its exact CMD runs as the
USER uid/gid from the Dockerfile. Only /data and /tmp are writable, as with a read-only
root FS. The interpreter is a venv built with the build stage's own pip arguments (see
tests/infra/image_runtime.py). Faked: the container runtime itself (namespaces, image
layers); HOST and PORT are overridden to a loopback free port.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from drafty_bird.replay import physics
from drafty_bird.replay.ticks import encode_ticks
from tests.infra import dockerfile
from tests.infra.image_runtime import ensure_image_venv, map_paths
from tests.server import free_port, wait_until

ROOT = dockerfile.ROOT


def _tree_snapshot(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.fixture
def image_root() -> Iterator[Path]:
    # Not pytest's tmp_path: that lives under a 0700 root-owned dir uid 1000 cannot enter.
    base = Path(tempfile.mkdtemp(prefix="drafty-image-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _layout(image_root: Path, stage: dockerfile.Stage) -> tuple[dict[str, Path], Path]:
    workdir = stage.last("WORKDIR")
    assert workdir, "final stage has no WORKDIR"
    uid, gid = stage.user()
    app_dir = image_root / "app"
    data_dir = image_root / "data"
    tmp_dir = image_root / "tmp"
    app_dir.mkdir()
    # Same ownership/mode the Dockerfile gives /data.
    data_dir.mkdir(mode=0o750)
    os.chown(data_dir, uid, gid)
    tmp_dir.mkdir()
    tmp_dir.chmod(0o1777)
    for sources, dest, flags in stage.copies():
        if any(flag.startswith("--from") for flag in flags):
            continue  # the venv: replaced by the image-equivalent venv
        target = app_dir / dest if not dest.startswith("/") else Path(str(app_dir) + dest[len(workdir) :])
        for src in sources:
            source = ROOT / src
            destination = target / source.name if dest.endswith("/") else target
            if source.is_dir():
                shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
    # Read-only app, as in the image (root-owned, and no write bit for anyone).
    subprocess.run(["chmod", "-R", "a-w", str(app_dir)], check=True)
    mapping = {"/opt/venv": ensure_image_venv(), workdir: app_dir, "/data": data_dir, "/tmp": tmp_dir}
    return mapping, app_dir


def test_image_cmd_runs_as_uid_1000_on_a_read_only_app_and_stops_cleanly_on_sigterm(image_root: Path) -> None:
    stage = dockerfile.final_stage()
    uid, gid = stage.user()
    assert uid != 0, "the image must not run as root"
    mapping, app_dir = _layout(image_root, stage)
    app_before = _tree_snapshot(app_dir)

    port = free_port()
    env = {key: map_paths(value, mapping) for key, value in stage.env().items()}
    env.update(HOST="127.0.0.1", PORT=str(port))
    cmd = [map_paths(part, mapping) for part in stage.cmd()]
    assert Path(cmd[0]).exists(), f"CMD interpreter {stage.cmd()[0]} does not map to a real file: {cmd[0]}"

    log_path = image_root / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT, user=uid, group=gid, extra_groups=[]
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ok(path: str) -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                return httpx.get(url + path, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(lambda: ok("/healthz"), 60, interval=0.2, message="/healthz 200 from the image CMD")
        wait_until(lambda: ok("/readyz"), 30, interval=0.2, message="/readyz 200 from the image CMD")
        page = httpx.get(url + "/", timeout=15)
        assert page.status_code == 200 and "Drafty Bird" in page.text, "the page must render from the image layout"
        # Its scripts (NiceGUI's and our game component) are served from the copied tree and the venv.
        scripts = set(re.findall(r'"(/_nicegui/[^"]+\.m?js)"', page.text))
        assert scripts, "no NiceGUI scripts referenced by the page"
        for script in scripts:
            assert httpx.get(url + script, timeout=15).status_code == 200, script
        # A write proves /data works for uid 1000 (DB file created there, owned by uid 1000).
        # The image verifies runs (SCORE_VERIFICATION=required): post a real, replayable run, a
        # no-flap fall that is over within the token's slack, so the replay worker runs in the image too.
        run = httpx.post(url + "/game-start", timeout=5).json()
        fall = physics.simulate(run["seed"], [])
        entry = {"player": "image", "score": fall.score, "run_id": run["run_id"], "seed": run["seed"]}
        posted = httpx.post(
            url + "/score", json={**entry, "token": run["token"], "ticks": encode_ticks([])}, timeout=15
        )
        assert posted.status_code == 201, posted.text
        db_files = list(mapping["/data"].glob("*.sqlite*"))
        assert db_files, f"no DB file in the data dir: {list(mapping['/data'].iterdir())}"
        assert all(f.stat().st_uid == uid for f in db_files)

        # The HEALTHCHECK command must pass against the running server, with the image's env.
        health = stage.healthcheck_cmd()
        assert "curl" not in " ".join(health) and "wget" not in " ".join(health)
        health_cmd = [map_paths(part, mapping) for part in health]
        health_cmd[0] = shutil.which(health_cmd[0], path=env["PATH"]) or health_cmd[0]
        result = subprocess.run(
            health_cmd, env=env, user=uid, group=gid, extra_groups=[], capture_output=True, timeout=30
        )
        assert result.returncode == 0, result.stderr.decode()

        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        assert code == 0, f"exit code after SIGTERM: {code}\n{log_path.read_text()[-3000:]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert _tree_snapshot(app_dir) == app_before, "the app wrote into its (read-only) code dir"
