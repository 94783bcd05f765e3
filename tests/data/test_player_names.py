"""The player-name rules as a unit (models.clean_player_name), on the shared table."""

import pytest

from drafty_bird.data.models import ScoreCreate, clean_player_name
from tests.name_cases import ACCEPTED, REFUSED


@pytest.mark.parametrize(("raw", "reason"), REFUSED.items(), ids=[ascii(n)[:24] for n in REFUSED])
def test_lookalike_and_invisible_names_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        clean_player_name(raw)


@pytest.mark.parametrize(("raw", "stored"), ACCEPTED.items(), ids=[ascii(n)[:24] for n in ACCEPTED])
def test_honest_names_are_normalised(raw: str, stored: str) -> None:
    assert clean_player_name(raw) == stored
    assert ScoreCreate(player=raw, score=1).player == stored
    assert clean_player_name(stored) == stored, "a stored name passes the rules again unchanged"
