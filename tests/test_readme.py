"""The README stays true: every environment variable the service reads is documented."""

from pathlib import Path

from drafty_bird.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    table_rows = [line for line in README.read_text().splitlines() if line.startswith("| `")]
    documented = "\n".join(table_rows)
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in documented]
    assert missing == [], f"document these variables in README.md's Configuration table: {missing}"


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make run" in text and "make test" in text
