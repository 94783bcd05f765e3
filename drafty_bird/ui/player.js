// Player-name rules, mirroring drafty_bird/data/models.py clean_player_name so the
// page rejects exactly what the server would (the server stays the authority).
export const MAX_PLAYER_LEN = 24;
export const DEFAULT_PLAYER = "Guest";
// Control, format (zero-width, bidi), surrogate, private-use, unassigned.
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/u;
// Blank-looking letters, symbols and marks: Hangul fillers, braille blank, combining grapheme
// joiner, Khmer and Mongolian invisibles, musical null notehead (models.py _INVISIBLE).
const INVISIBLE = /[\u115F\u1160\u3164\uFFA0\u2800\u034F\u17B4\u17B5\u180B-\u180D\u180F\u{1D159}]/u;
// Variation selectors draw nothing; only an emoji (So) may take VS15/VS16.
const VARIATION = /[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;
const EMOJI_STYLE = /[\uFE0E\uFE0F]/u;
const SYMBOL = /\p{So}/u;
const MARK = /[\p{Mn}\p{Me}]/u;
export const MAX_MARKS_PER_CHAR = 2;
const LETTER = /\p{L}/u;
// One name keeps to one of these lookalike scripts ("Ada" with a Cyrillic A, U+0410, is refused).
const LOOKALIKE_SCRIPTS = [/\p{Script=Latin}/u, /\p{Script=Cyrillic}/u, /\p{Script=Greek}/u];

// 0 Latin, 1 Cyrillic, 2 Greek for a letter of those scripts, else -1 (models.py letter_script).
export function letterScript(ch) {
  return LETTER.test(ch) ? LOOKALIKE_SCRIPTS.findIndex((script) => script.test(ch)) : -1;
}

// Why a normalised, trimmed name is refused, or null (models.py _name_problem).
function nameProblem(name) {
  let marks = 0;
  let before = "";
  const scripts = new Set();
  for (const ch of name) {
    if (FORBIDDEN.test(ch)) return "no control, zero-width or bidi characters";
    if (INVISIBLE.test(ch)) return "no invisible filler characters";
    if (VARIATION.test(ch) && !(EMOJI_STYLE.test(ch) && SYMBOL.test(before))) return "no invisible filler characters";
    marks = MARK.test(ch) ? marks + 1 : 0;
    if (marks > MAX_MARKS_PER_CHAR) return `at most ${MAX_MARKS_PER_CHAR} accents on one letter`;
    const script = letterScript(ch);
    if (script >= 0) scripts.add(script);
    before = ch;
  }
  if (scripts.size > 1) return "no mixing of Latin, Cyrillic and Greek letters";
  return null;
}
// Python's whitespace (str.isspace), which differs from JS trim(): JS also trims the
// BOM (U+FEFF), Python also trims U+001C-U+001F and U+0085.
const WS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const TRIM = new RegExp(`^[${WS}]+|[${WS}]+$`, "gu");
const RUNS = new RegExp(`[${WS}]+`, "gu");

// Returns {ok: true, name} or {ok: false, error}.
export function cleanPlayerName(raw) {
  if (raw === null || raw === undefined) return { ok: true, name: DEFAULT_PLAYER };
  const name = String(raw).normalize("NFKC").replace(TRIM, "");
  if (!name) return { ok: true, name: DEFAULT_PLAYER };
  // Count code points, as Python's len() does.
  if ([...name].length > MAX_PLAYER_LEN) return { ok: false, error: `at most ${MAX_PLAYER_LEN} characters` };
  const problem = nameProblem(name);
  if (problem) return { ok: false, error: problem };
  if (name.includes("<") || name.includes(">")) return { ok: false, error: "no < or >" };
  return { ok: true, name: name.replace(RUNS, " ") };
}
