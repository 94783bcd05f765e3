"""Reproduce the image's runtime on this machine (no Docker engine here).

The final stage's interpreter is a venv built exactly like the Dockerfile's build stage
(same pip arguments, same lock file), from Debian's /usr/bin/python3.11: the repo's .venv
points at a Python under /root, which uid 1000 cannot traverse.
"""

from __future__ import annotations

import fcntl
import hashlib
import shlex
import subprocess
import sys
from pathlib import Path

from tests.infra import dockerfile

ROOT = dockerfile.ROOT
IMAGE_VENV = ROOT / ".tools" / "image-venv"
BASE_PYTHON = Path("/usr/bin/python3.11")


def build_stage_pip_args() -> tuple[str, list[str]]:
    """(venv path in the image, pip install arguments with the lock mapped to the repo file)."""
    build = dockerfile.parse()[0]
    copies = {dest: srcs[0] for srcs, dest, _ in build.copies()}
    venv_path = None
    for run in build.all("RUN"):
        words = shlex.split(run)
        if words[1:3] == ["-m", "venv"]:
            venv_path = words[3]
        if len(words) > 2 and words[0].endswith("/bin/pip") and words[1] == "install":
            args = [str(ROOT / copies[w]) if w in copies else w for w in words[2:]]
            if venv_path is None:
                raise AssertionError("build stage installs before creating its venv")
            return venv_path, args
    raise AssertionError("build stage has no `<venv>/bin/pip install` step")


def ensure_image_venv() -> Path:
    """Build (or reuse) the image-equivalent venv; rebuilt when the lock or pip args change."""
    if not BASE_PYTHON.exists():
        raise AssertionError(
            f"{BASE_PYTHON} missing: apt-get install python3.11 (Debian) is needed for the image contract test"
        )
    _venv_path, args = build_stage_pip_args()
    key = hashlib.sha256((ROOT / "requirements.lock").read_bytes() + " ".join(args).encode()).hexdigest()
    stamp = IMAGE_VENV / ".stamp"
    IMAGE_VENV.parent.mkdir(parents=True, exist_ok=True)
    # Several pytest runs may share this tree: one builds, the others wait.
    with open(IMAGE_VENV.parent / ".image-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == key:
            return IMAGE_VENV
        _build(args, key)
    return IMAGE_VENV


def _build(args: list[str], key: str) -> None:
    stamp = IMAGE_VENV / ".stamp"
    subprocess.run(["rm", "-rf", str(IMAGE_VENV)], check=True)
    # --without-pip: Debian may lack ensurepip; the test venv's pip installs into it instead.
    subprocess.run([str(BASE_PYTHON), "-m", "venv", "--without-pip", str(IMAGE_VENV)], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(IMAGE_VENV / "bin/python"), "install", "-q", *args],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"building the image venv like the Dockerfile failed:\n{result.stderr[-3000:]}")
    stamp.write_text(key)
    IMAGE_VENV.chmod(0o755)


def map_paths(value: str, mapping: dict[str, Path]) -> str:
    """Rewrite image paths (/opt/venv, /tmp, /data, /app) inside a value; ':'-lists too."""
    parts = []
    for part in value.split(":"):
        for image_path, local in mapping.items():
            if part == image_path or part.startswith(image_path + "/"):
                part = str(local) + part[len(image_path) :]
                break
        parts.append(part)
    return ":".join(parts)
