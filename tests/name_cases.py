"""One table of lookalike and invisible player names (issue 17, item 6), shared by the API test
(tests/api/test_hostile_input.py), the model unit (tests/data/test_player_names.py) and the
page's rules under Node (tests/ui/test_player_names.py), so the three cannot drift apart."""

# name -> a word of the reason; every one must be a 4xx and store nothing.
REFUSED = {
    "\u3164": "invisible",  # Hangul filler only: looks like an empty name
    "\u3164\u3164\u3164": "invisible",
    "Ada\u3164": "invisible",
    "\u115f\u1160": "invisible",
    "\uffa0Ada": "invisible",  # halfwidth Hangul filler
    "\u2800": "invisible",  # braille blank
    "Ada\u2800Bob": "invisible",
    "A\u034fda": "invisible",  # combining grapheme joiner
    "Ada\ufe0f": "invisible",  # emoji style on a letter
    "Ada\U000e0100": "invisible",
    "\u17b5Ada": "invisible",
    "Ada\u180b": "invisible",
    "A\u200bda": "zero-width",
    "A\u2060da": "zero-width",
    "\u200d": "zero-width",
    "q" + "\u0301" * 3: "combining",  # q has no precomposed form: all three marks stay
    "Z" + "".join(chr(0x0300 + i) for i in range(22)): "combining",  # the 1 letter + 22 marks
    "\u0410da": "Cyrillic",  # Cyrillic A + Latin "da": looks like "Ada"
    "Ad\u0430": "Cyrillic",
    "\u0391da": "Greek",  # Greek Alpha
    "\uff1cscript\uff1e": "<",  # fullwidth < > fold to < > under NFKC
    "x" * 25: "24",
}

# raw -> the name stored (NFKC, trimmed, spaces collapsed).
ACCEPTED = {
    "\uff21\uff44\uff41": "Ada",  # fullwidth folds to the name it imitates
    "\uff27\uff55\uff45\uff53\uff54": "Guest",
    "Zoe\u0308": "Zo\u00eb",
    "Nguye\u0302\u0303n": "Nguy\u1ec5n",
    "q\u0301\u0308": "q\u0301\u0308",  # two marks on one letter is the limit
    "\u0410\u043b\u0451\u043d\u0430": "\u0410\u043b\u0451\u043d\u0430",  # all Cyrillic
    "\u03a3\u03c9\u03ba\u03c1\u03ac\u03c4\u03b7\u03c2": "\u03a3\u03c9\u03ba\u03c1\u03ac\u03c4\u03b7\u03c2",  # all Greek
    "\u2764\ufe0f fan": "\u2764\ufe0f fan",  # emoji style on an emoji
    "\ufb01nn": "finn",  # ligature
    "\uff71\uff72": "\u30a2\u30a4",  # halfwidth katakana
    "  J\u00fcrgen   42 ": "J\u00fcrgen 42",
    "Ada\u3000Bob": "Ada Bob",  # ideographic space is a space
}
