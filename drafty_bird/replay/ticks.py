"""The wire format of a run's flap ticks: gap varints in unpadded base64url.

Ticks are strictly increasing, so each is sent as the gap since the previous one minus
one (the first as itself), in LEB128 varints: a typical gap of 10-40 ticks is one byte.
A MAX_INPUTS run is at most about 6.7 KB raw, 9 KB encoded (the gaps sum to less than
MAX_TICKS), well under the 16 KB body limit; the JSON list it replaces needed up to
35 KB. drafty_bird/ui/ticks.js is the browser's encoder; tests/replay/test_ticks.py
checks the two agree.

decode_ticks is strict: one encoding per tick list, so anything else is malformed.
"""

import base64
import re
from collections.abc import Iterable

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_MAX_VARINT_BYTES = 5  # 35 bits: far above any tick count this game can reach


class MalformedTicks(ValueError):
    """The encoded ticks are not the canonical encoding of a tick list within the limits."""


def encode_ticks(ticks: Iterable[object]) -> str:
    """Refuses (ValueError) anything but strictly increasing ints >= 0: the format has no other."""
    out = bytearray()
    prev = -1
    for t in ticks:
        if isinstance(t, bool) or not isinstance(t, int) or t <= prev:
            raise ValueError("ticks must be strictly increasing non-negative integers")
        gap = t - prev - 1
        prev = t
        while gap >= 0x80:
            out.append((gap & 0x7F) | 0x80)
            gap >>= 7
        out.append(gap)
    return base64.urlsafe_b64encode(bytes(out)).rstrip(b"=").decode("ascii")


def decode_ticks(text: str, *, max_count: int, max_tick: int) -> list[int]:
    """Ticks from their encoding; MalformedTicks (saying why) unless canonical, at most
    max_count ticks and every tick below max_tick."""
    # 4/3 chars per byte and at most _MAX_VARINT_BYTES per tick: refuse huge input before decoding.
    if len(text) > (max_count * _MAX_VARINT_BYTES * 4 + 2) // 3:
        raise MalformedTicks(f"more than {max_count} ticks")
    if not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedTicks("not unpadded base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    ticks: list[int] = []
    prev = -1
    gap = shift = 0
    for i, byte in enumerate(raw):
        gap |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift >= 7 * _MAX_VARINT_BYTES:
                raise MalformedTicks("gap too long")
            continue
        if byte == 0 and shift:
            raise MalformedTicks(f"overlong gap at byte {i}")
        prev += gap + 1
        if prev >= max_tick:
            raise MalformedTicks(f"tick {prev} is not below {max_tick}")
        ticks.append(prev)
        if len(ticks) > max_count:
            raise MalformedTicks(f"more than {max_count} ticks")
        gap = shift = 0
    if shift:
        raise MalformedTicks("truncated: the last gap is incomplete")
    # Unused low bits in the last character must be zero, or two strings decode alike.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise MalformedTicks("not canonical base64url")
    return ticks
