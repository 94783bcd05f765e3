"""The README stays true: every variable it reads is documented, its commands work as written."""

import os
import sqlite3
import subprocess
from pathlib import Path

import httpx

from drafty_bird.settings import Settings
from tests.server import ROOT, start_server

README = ROOT / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    table_rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    documented = "\n".join(table_rows)
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in documented]
    assert missing == [], f"document these variables in README.md's Configuration table: {missing}"


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text


def readme_block_after(heading: str) -> list[str]:
    """The commands of the first ```sh block after `heading` (comments and blanks dropped)."""
    text = README.read_text()
    start = text.index("```sh", text.index(heading)) + len("```sh")
    block = text[start : text.index("```", start)]
    return [line for line in block.strip().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_backup_and_restore_work_right_after_make_run(tmp_path: Path) -> None:
    """Paste the README's commands into a checkout where `make run` serves ./data/db.sqlite."""
    backup_cmd, restore_cmd = readme_block_after("**Backup and restore.**")
    assert " backup " in backup_cmd and " restore " in restore_cmd
    # The checkout: make run's DB path and the venv the commands name (.venv/bin/python).
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    db = tmp_path / "data" / "db.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "SCORE_DB_PATH"))}

    def sh(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    with start_server(tmp_path, db_path=db, cwd=ROOT) as server:  # what `make run` serves
        assert httpx.post(server.url + "/score", json={"score": 7, "run_id": "before"}).status_code == 201
        done = sh(backup_cmd)
        assert done.returncode == 0, done.stderr
        assert httpx.post(server.url + "/score", json={"score": 9, "run_id": "after"}).status_code == 201
    # `make run` stopped (Ctrl+C): the restore puts the backup back.
    restored = sh(restore_cmd)
    assert restored.returncode == 0, restored.stderr
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT run_id FROM scores")] == ["before"]


def test_readme_names_the_tools_db_settings() -> None:
    text = README.read_text()
    assert "`--db`" in text and "SCORE_DB_PATH" in text[text.index("**Backup and restore.**") :]
