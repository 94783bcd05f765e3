// The wire format of a run's flap ticks (drafty_bird/replay/ticks.py decodes it):
// each tick as the gap since the previous one minus one, in LEB128 varints, then
// unpadded base64url. A typical gap is one byte, so a MAX_INPUTS run stays far below
// the server's 16 KB body limit.

export function encodeTicks(ticks) {
  const bytes = [];
  let prev = -1;
  for (const t of ticks) {
    if (!Number.isInteger(t) || t <= prev) throw new RangeError("ticks must be strictly increasing integers >= 0");
    let gap = t - prev - 1;
    prev = t;
    while (gap >= 0x80) {
      bytes.push((gap % 0x80) | 0x80); // % and /, not bit ops: no 32-bit wrap-around
      gap = Math.floor(gap / 0x80);
    }
    bytes.push(gap);
  }
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
