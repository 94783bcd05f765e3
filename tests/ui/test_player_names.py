"""The page's name rules (ui/player.js, under the machine's Node.js) against the server's
(models.clean_player_name), on the shared table of lookalike and invisible names."""

import unicodedata

import pytest

from drafty_bird.data.models import clean_player_name, letter_script
from tests.name_cases import ACCEPTED, REFUSED
from tests.ui.helpers import run_js

SCRIPTS = {0: "LATIN", 1: "CYRILLIC", 2: "GREEK"}


def test_the_page_refuses_and_accepts_what_the_server_does() -> None:
    raws = [*REFUSED, *ACCEPTED]
    results = run_js(*({"op": "cleanName", "raw": raw} for raw in raws))
    for raw, js in zip(raws, results, strict=True):
        if raw in REFUSED:
            assert js["ok"] is False, f"player.js accepts {raw!a}"
        else:
            assert js == {"ok": True, "name": ACCEPTED[raw]}, ascii(raw)
            assert clean_player_name(raw) == js["name"]


def test_the_lookalike_scripts_are_the_same_letters_in_both() -> None:
    """Python reads a letter's script from its name, JS from Unicode's Script property:
    every assigned letter below U+30000 that NFKC keeps (names are checked after NFKC) must be
    filed the same way."""
    (js,) = run_js({"op": "letterScripts", "below": 0x30000})
    js_scripts = {int(cp): SCRIPTS[i] for cp, i in js.items()}
    py_scripts = {cp: s for cp in range(0x30000) if (s := letter_script(chr(cp)))}
    assigned = {
        cp
        for cp in js_scripts.keys() | py_scripts.keys()
        if unicodedata.category(chr(cp)) != "Cn" and unicodedata.normalize("NFKC", chr(cp)) == chr(cp)
    }
    differ = sorted(hex(cp) for cp in assigned if js_scripts.get(cp) != py_scripts.get(cp))
    assert differ == [], differ
    assert len(py_scripts) > 1500  # the sweep really covered the scripts


@pytest.mark.parametrize("raw", ["\u3164", "x\u2800", "q\u0301\u0301\u0301", "\u0410da"])
def test_each_refusal_has_a_reason_for_the_player(raw: str) -> None:
    (js,) = run_js({"op": "cleanName", "raw": raw})
    assert js["ok"] is False and js["error"]
