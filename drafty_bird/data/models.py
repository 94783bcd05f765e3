"""Table models and the API schemas built on them, side by side.

The input rules here (name cleaning, score ceiling) are the single source of truth:
the REST routes and the NiceGUI page both validate through ScoreCreate.
"""

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import Boolean, Column, DateTime, Index, String, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

MAX_PLAYER_LEN = 24
# No honest run gets near this: one point per duct at ~1.5 s per duct is ~40 h of play.
MAX_SCORE = 100_000
MAX_INPUTS = 5_000
MAX_LEADERBOARD_LIMIT = 100
MAX_TOKEN_LEN = 200
MAX_TICKS_LEN = 16 * 1024  # the body limit caps it anyway; the decoder says "more than MAX_INPUTS"
DEFAULT_PLAYER = "Guest"
RUN_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"

# What a 422 says about each field, whatever the validator's complaint: the page shows
# it to the player as is (ops/errors.py). Beside the rules, so both change together.
FIELD_RULES = {
    "score": f"score must be a whole number from 0 to {MAX_SCORE:,}",
    "run_id": "run_id must be 1 to 64 letters, digits, dots, dashes or underscores",
    "inputs": f"inputs must be a list of at most {MAX_INPUTS:,} whole numbers, none below 0",
    "limit": f"limit must be a whole number from 1 to {MAX_LEADERBOARD_LIMIT}",
}

# Control, format (zero-width, bidi overrides, BOM), surrogate, private-use, unassigned.
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
# Blank-looking characters no category rule catches (they are letters, symbols or marks):
# Hangul fillers, braille blank, combining grapheme joiner, Khmer and Mongolian invisibles,
# musical null notehead. Mirrored in ui/player.js.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f\U0001d159")
# Variation selectors draw nothing; only an emoji may take VS15/VS16 (text or emoji style).
_VARIATION = (("\ufe00", "\ufe0f"), ("\U000e0100", "\U000e01ef"))
_EMOJI_STYLE = frozenset("\ufe0e\ufe0f")
# Combining marks (Mn, Me) in a row on one base character; Vietnamese needs 2.
MAX_MARKS_PER_CHAR = 2
# Letters of these scripts look alike ("Ada" with a Cyrillic A, U+0410): one name keeps to one of them.
_LOOKALIKE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})
# Script is read from the character's name; these Latin letters' names do not say so
# (Unicode's Script property, which player.js uses, does). Checked by tests/ui/test_player_names.py.
_UNNAMED_LATIN = frozenset("\u1d2f\u1d3b\u1d4e\u2132\u214e\u2183\U00010780")


def letter_script(ch: str) -> str | None:
    """LATIN, CYRILLIC or GREEK for a letter of those scripts, else None."""
    if ch in _UNNAMED_LATIN:
        return "LATIN"
    script = unicodedata.name(ch, "").split(" ", 1)[0]
    return script if script in _LOOKALIKE_SCRIPTS and unicodedata.category(ch).startswith("L") else None


def _is_invisible(ch: str, before: str) -> bool:
    if ch in _INVISIBLE:
        return True
    if any(lo <= ch <= hi for lo, hi in _VARIATION):
        return not (ch in _EMOJI_STYLE and before and unicodedata.category(before) == "So")
    return False


def _name_problem(name: str) -> str | None:
    """Why a normalised, trimmed name is refused, or None (the rules of ui/player.js nameProblem)."""
    marks = 0
    before = ""
    scripts: set[str] = set()
    for ch in name:
        category = unicodedata.category(ch)
        if category in _FORBIDDEN_CATEGORIES:
            return "player must not contain control, zero-width or bidi characters"
        if _is_invisible(ch, before):
            return "player must not contain invisible filler characters"
        marks = marks + 1 if category in ("Mn", "Me") else 0
        if marks > MAX_MARKS_PER_CHAR:
            return f"player must not stack more than {MAX_MARKS_PER_CHAR} combining marks on one character"
        script = letter_script(ch)
        if script:
            scripts.add(script)
        before = ch
    if len(scripts) > 1:
        return "player must not mix Latin, Cyrillic and Greek letters (lookalike names)"
    return None


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_millis(value: datetime) -> str:
    """The original client's format: JavaScript's Date.toISOString()."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.") + f"{as_utc(value).microsecond // 1000:03d}Z"


def clean_player_name(raw: str | None) -> str:
    """NFKC-normalise, trim and check a player name; blank means Guest. Raises ValueError on a bad name.

    NFKC folds fullwidth and other compatibility forms (fullwidth "Ada" is "Ada", U+FF1C is "<"), so
    the stored name is the one the rules were checked on.
    """
    if raw is None:
        return DEFAULT_PLAYER
    name = unicodedata.normalize("NFKC", raw).strip()
    if not name:
        return DEFAULT_PLAYER
    if len(name) > MAX_PLAYER_LEN:
        raise ValueError(f"player must be at most {MAX_PLAYER_LEN} characters")
    problem = _name_problem(name)
    if problem:
        raise ValueError(problem)
    if "<" in name or ">" in name:
        raise ValueError("player must not contain < or >")
    return re.sub(r"\s+", " ", name)


# ---------------------------------------------------------------- tables


class Score(SQLModel, table=True):
    __tablename__ = "scores"
    # Leaderboard order: score desc, then first achieved first. This index serves both
    # the top-N read and the "scores above S" count without a table scan.
    __table_args__ = (
        Index("ix_scores_rank", text("score DESC"), "created_at"),
        UniqueConstraint("run_id", name="uq_scores_run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    player: str = Field(sa_column=Column(String(MAX_PLAYER_LEN), nullable=False))
    score: int = Field(nullable=False)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    run_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # Which process committed the row: lets crash tests prove there was one writer at a time.
    writer_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    # True when the server replayed the run to this score (issue 11); rows from before,
    # and scores taken with SCORE_VERIFICATION=off, are False.
    verified: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false(), default=False)
    )
    # The run's encoded flap ticks (replay/ticks.py), kept so a retry can be told from a
    # reused token and a run can be replayed again later.
    ticks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ScoreCount(SQLModel, table=True):
    """How many rows hold each score: rank = 1 + rows above, summed over distinct scores.

    Distinct scores are few (a game rarely passes a few hundred ducts), so a rank query
    reads a handful of rows however many scores are stored.
    """

    __tablename__ = "score_counts"

    score: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    n: int = Field(default=0, nullable=False)


# ---------------------------------------------------------------- API schemas

StrictScore = Annotated[int, PydanticField(strict=True, ge=0, le=MAX_SCORE)]


class ScoreCreate(BaseModel):
    """POST /score body, as the original web client sends it."""

    model_config = ConfigDict(extra="ignore")

    player: str | None = PydanticField(
        None, validate_default=True, description=f"Blank or missing means {DEFAULT_PLAYER!r}."
    )
    score: StrictScore
    run_id: str | None = PydanticField(None, pattern=RUN_ID_PATTERN, description="Retries with the same id store once.")
    inputs: list[Annotated[int, PydanticField(strict=True, ge=0)]] | None = PydanticField(
        None, max_length=MAX_INPUTS, description="Legacy: flap ticks as a JSON list (not replayed; use ticks)."
    )
    # Replay verification (SCORE_VERIFICATION=required): what /game-start gave, and the flaps.
    token: str | None = PydanticField(None, max_length=MAX_TOKEN_LEN, description="The run token from /game-start.")
    seed: int | None = PydanticField(None, strict=True, ge=0, le=2**32 - 1, description="The run's seed.")
    ticks: str | None = PydanticField(
        None, max_length=MAX_TICKS_LEN, description="Flap ticks, encoded as drafty_bird/ui/ticks.js does."
    )

    @field_validator("player", mode="before")
    @classmethod
    def _clean_player(cls, value: object) -> object:
        if value is None or isinstance(value, str):
            return clean_player_name(value)
        raise ValueError(f"player must be text, or left out to play as {DEFAULT_PLAYER}")


class ScoreRead(BaseModel):
    player: str
    score: int
    createdAt: datetime

    @field_serializer("createdAt")
    def _iso(self, value: datetime) -> str:
        return iso_millis(value)


class ScoreResult(BaseModel):
    stored: ScoreRead
    highScore: int
    rank: int
    total: int = PydanticField(description="Scores on the board, for 'rank #N of M'.")
    duplicate: bool = PydanticField(False, description="True when this run_id was stored before.")
    verified: bool = PydanticField(False, description="True when the server replayed the run to this score.")


class Leaderboard(BaseModel):
    leaderboard: list[ScoreRead]


class GameStart(BaseModel):
    accepted: bool = True
    run_id: str
    seed: int
    token: str = PydanticField(description="Send back with the run's score: binds run_id, seed and start time.")


class ErrorBody(BaseModel):
    error: str
    request_id: str
