// Player-name rules, mirroring drafty_bird/data/models.py clean_player_name so the
// page rejects exactly what the server would (the server stays the authority).
export const MAX_PLAYER_LEN = 24;
export const DEFAULT_PLAYER = "Guest";
// Control, format (zero-width, bidi), surrogate, private-use, unassigned.
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/u;
// Python's whitespace (str.isspace), which differs from JS trim(): JS also trims the
// BOM (U+FEFF), Python also trims U+001C-U+001F and U+0085.
const WS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const TRIM = new RegExp(`^[${WS}]+|[${WS}]+$`, "gu");
const RUNS = new RegExp(`[${WS}]+`, "gu");

// Returns {ok: true, name} or {ok: false, error}.
export function cleanPlayerName(raw) {
  if (raw === null || raw === undefined) return { ok: true, name: DEFAULT_PLAYER };
  const name = String(raw).normalize("NFC").replace(TRIM, "");
  if (!name) return { ok: true, name: DEFAULT_PLAYER };
  // Count code points, as Python's len() does.
  if ([...name].length > MAX_PLAYER_LEN) return { ok: false, error: `at most ${MAX_PLAYER_LEN} characters` };
  if (FORBIDDEN.test(name)) return { ok: false, error: "no control, zero-width or bidi characters" };
  if (name.includes("<") || name.includes(">")) return { ok: false, error: "no < or >" };
  return { ok: true, name: name.replace(RUNS, " ") };
}
