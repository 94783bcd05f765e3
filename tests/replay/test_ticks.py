"""The flap-tick wire format: the browser's encoder (ui/ticks.js, under Node) and the
server's strict decoder (replay/ticks.py) agree, and a MAX_INPUTS run fits the body limit."""

import base64
import json
import random

import pytest

from drafty_bird.replay.physics import MAX_INPUTS, MAX_TICKS
from drafty_bird.replay.ticks import MalformedTicks, decode_ticks, encode_ticks
from tests.ui.parity import node

BODY_LIMIT = 16 * 1024  # ops/body_limit.py


def _decode(text: str) -> list[int]:
    return decode_ticks(text, max_count=MAX_INPUTS, max_tick=MAX_TICKS)


def _lists() -> list[list[int]]:
    rng = random.Random(7)
    lists: list[list[int]] = [[], [0], [1], [127], [128], [0, 1, 2, 3], [MAX_TICKS - 1], [0, MAX_TICKS - 1]]
    for _ in range(300):
        n = rng.randrange(1, 400)
        lists.append(sorted(rng.sample(range(rng.choice([500, 20_000, MAX_TICKS])), n)))
    lists.append(list(range(MAX_INPUTS)))  # a flap on every tick
    # MAX_INPUTS flaps spread over the longest run: the largest honest encoding.
    lists.append([round(i * (MAX_TICKS - 1) / (MAX_INPUTS - 1)) for i in range(MAX_INPUTS)])
    return lists


def test_the_browser_encoder_and_the_server_agree_both_ways() -> None:
    lists = _lists()
    from_js = node({"op": "encode", "lists": lists})
    assert from_js == [encode_ticks(t) for t in lists]
    assert [_decode(s) for s in from_js] == lists


def test_a_max_inputs_run_is_far_below_the_body_limit() -> None:
    worst = max(len(encode_ticks(t)) for t in _lists() if len(t) == MAX_INPUTS)
    body = json.dumps({"player": "x" * 24, "score": 99, "run_id": "f" * 32, "seed": 2**31 - 1, "token": "t" * 100})
    assert worst + len(body) < BODY_LIMIT * 0.7, worst
    # The JSON list the old client sent could not carry it at all.
    assert len(json.dumps(list(range(200_000, 200_000 + MAX_INPUTS)))) > BODY_LIMIT


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("AA=", "not unpadded base64url"),  # padding
        ("A+8", "not unpadded base64url"),  # standard alphabet
        ("AA A", "not unpadded base64url"),
        ("A", "not unpadded base64url"),  # impossible length
        ("AB", "not canonical"),  # unused low bits set
        ("gA", "truncated"),  # 0x80: a continuation with nothing after
        ("gAA", "overlong"),  # 0x80 0x00: zero written in two bytes
        (base64.urlsafe_b64encode(b"\xff" * 5 + b"\x01").decode().rstrip("="), "gap too long"),
        (encode_ticks([MAX_TICKS]), f"not below {MAX_TICKS}"),
        (encode_ticks(list(range(MAX_INPUTS + 1))), f"more than {MAX_INPUTS}"),
        ("A" * 40_000, f"more than {MAX_INPUTS}"),  # refused before decoding
    ],
)
def test_malformed_encodings_are_refused_saying_why(text: str, why: str) -> None:
    with pytest.raises(MalformedTicks, match=why):
        _decode(text)


def test_the_encoder_refuses_what_the_format_cannot_say() -> None:
    for bad in ([3, 3], [5, 2], [-1], [1.5], [True]):
        with pytest.raises(ValueError, match="strictly increasing"):
            encode_ticks(bad)
    assert node({"op": "encode", "lists": [[3, 3], [-1], [0.5]]}) == [{"error": "RangeError"}] * 3
