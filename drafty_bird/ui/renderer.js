// The canvas renderer: draws one frame of a run. Pure drawing on a 2D context, in the
// board's logical units (physics.js); the caller owns the canvas and the game state.
import * as P from "physics";

// theme: {colors: {navy, green, amber, blue, pale, white}, font}, from ui/palette.py.
// What part of the board a canvas shows. 16:9 or wider: all of it, stretched to fit.
// Taller (a phone in portrait): the full height at one scale, cropped at the sides,
// mostly behind the bird (at most VIEW_CROP_LEFT), so what comes next stays in view.
export const VIEW_CROP_LEFT = 200;

export function viewport(width, height) {
  if (width * P.BOARD_H >= height * P.BOARD_W) {
    return { sx: width / P.BOARD_W, sy: height / P.BOARD_H, left: 0, centre: P.BOARD_W / 2 };
  }
  const s = height / P.BOARD_H;
  const shown = width / s;
  const left = Math.min(P.BOARD_W - shown, VIEW_CROP_LEFT);
  return { sx: s, sy: s, left, centre: left + shown / 2 };
}

export function createRenderer(theme) {
  const C = theme.colors;
  const FONT = theme.font;
  let spin = 0; // the detector's cups keep turning across frames

  function drawHouse(ctx, scroll) {
    // A slow parallax wall with windows and radiators: the house the draft runs through.
    ctx.fillStyle = C.pale;
    ctx.fillRect(0, 0, P.BOARD_W, P.BOARD_H);
    const s = (scroll * 0.25) % 320;
    for (let x = -s; x < P.BOARD_W + 320; x += 320) {
      ctx.fillStyle = C.white;
      ctx.fillRect(x + 40, 120, 150, 190);
      ctx.strokeStyle = C.blue;
      ctx.globalAlpha = 0.35;
      ctx.lineWidth = 8;
      ctx.strokeRect(x + 40, 120, 150, 190);
      ctx.beginPath();
      ctx.moveTo(x + 115, 120);
      ctx.lineTo(x + 115, 310);
      ctx.moveTo(x + 40, 215);
      ctx.lineTo(x + 190, 215);
      ctx.stroke();
      ctx.fillStyle = C.navy;
      ctx.globalAlpha = 0.12;
      for (let i = 0; i < 6; i += 1) ctx.fillRect(x + 215 + i * 14, 400, 9, 80);
      ctx.globalAlpha = 1;
    }
  }

  function drawDuct(ctx, d, x, tick, motion) {
    const top = d.gapY - d.gap / 2;
    const bottom = d.gapY + d.gap / 2;
    ctx.fillStyle = C.navy;
    ctx.fillRect(x, 0, P.DUCT_W, top);
    ctx.fillRect(x, bottom, P.DUCT_W, P.BOARD_H - P.GROUND_H - bottom);
    // Flanges at the gap, and seams: the look of sheet-metal ductwork.
    ctx.fillStyle = C.blue;
    ctx.fillRect(x - 6, top - 18, P.DUCT_W + 12, 18);
    ctx.fillRect(x - 6, bottom, P.DUCT_W + 12, 18);
    ctx.fillStyle = C.white;
    ctx.globalAlpha = 0.18;
    for (let yy = top - 70; yy > 0; yy -= 70) ctx.fillRect(x, yy, P.DUCT_W, 3);
    for (let yy = bottom + 70; yy < P.BOARD_H - P.GROUND_H; yy += 70) ctx.fillRect(x, yy, P.DUCT_W, 3);
    ctx.globalAlpha = 1;
    // The leak: soft streaks drifting in the draft's direction, more for a stronger draft.
    ctx.strokeStyle = d.draftDir < 0 ? C.green : C.amber;
    ctx.lineWidth = 3;
    ctx.globalAlpha = 0.55;
    const drift = motion * ((tick * (1 + d.level)) % 40) * d.draftDir * -1;
    ctx.beginPath();
    for (let i = 0; i < d.level + 1; i += 1) {
      const sx = x + 14 + (i * (P.DUCT_W - 28)) / Math.max(d.level, 1);
      for (let yy = top + 10; yy < bottom - 20; yy += 40) {
        const y0 = yy + ((drift + 400) % 40);
        if (y0 > bottom - 14) continue;
        ctx.moveTo(sx, y0);
        ctx.lineTo(sx, y0 + 12);
      }
    }
    ctx.stroke();
    ctx.globalAlpha = 1;
    // Draft level badge on the lower duct.
    ctx.fillStyle = C.amber;
    ctx.font = `700 20px ${FONT}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillText((d.draftDir < 0 ? "\u2191" : "\u2193").repeat(d.level), x + P.DUCT_W / 2, bottom + 26);
  }

  function drawDetector(ctx, x, y) {
    // The "Draft Detector": an anemometer whose cups spin faster in a stronger draft.
    ctx.save();
    ctx.translate(x, y);
    ctx.strokeStyle = C.navy;
    ctx.lineWidth = 3;
    for (let i = 0; i < 3; i += 1) {
      const a = spin + (i * 2 * Math.PI) / 3;
      const ex = Math.cos(a) * 22;
      const ey = Math.sin(a) * 22;
      ctx.beginPath();
      ctx.moveTo(0, 0);
      ctx.lineTo(ex, ey);
      ctx.stroke();
      ctx.fillStyle = C.blue;
      ctx.beginPath();
      ctx.arc(ex, ey, 7, a, a + Math.PI);
      ctx.fill();
    }
    ctx.fillStyle = C.amber;
    ctx.beginPath();
    ctx.arc(0, 0, P.BIRD_R * 0.7, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
    ctx.fillStyle = C.navy;
    ctx.beginPath();
    ctx.arc(4, -3, 3, 0, 2 * Math.PI);
    ctx.fill();
    ctx.restore();
  }

  // scene: {run, phase, alpha (0-1 between the last two ticks), prevY, motion (0 = reduced),
  // hint (say how to flap on the start screen; not while the name prompt covers the board)}.
  function draw(ctx, width, height, { run, phase, alpha, prevY, motion, hint }) {
    const view = viewport(width, height);
    ctx.setTransform(view.sx, 0, 0, view.sy, -view.left * view.sx, 0);
    const back = phase === "playing" ? P.SCROLL_VX * (1 - alpha) : 0;
    drawHouse(ctx, run.tick * P.SCROLL_VX - back);
    for (const d of run.ducts) drawDuct(ctx, d, d.x + back, run.tick, motion);
    // Floor
    ctx.fillStyle = C.green;
    ctx.fillRect(0, P.BOARD_H - P.GROUND_H, P.BOARD_W, P.GROUND_H);
    ctx.fillStyle = C.navy;
    ctx.globalAlpha = 0.15;
    const off = (run.tick * P.SCROLL_VX) % 48;
    for (let x = -off; x < P.BOARD_W; x += 48) ctx.fillRect(x, P.BOARD_H - P.GROUND_H, 24, 6);
    ctx.globalAlpha = 1;
    const y = prevY + (run.y - prevY) * alpha;
    spin += (0.08 + Math.min(Math.abs(run.vy) * 0.02, 0.25) + Math.abs(run.draft) * 0.03) * (motion ? 1 : 0.25);
    drawDetector(ctx, P.BIRD_X, y);
    // Score
    ctx.font = `700 56px ${FONT}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.lineWidth = 8;
    ctx.strokeStyle = C.white;
    ctx.strokeText(String(run.score), view.centre, 18);
    ctx.fillStyle = C.navy;
    ctx.fillText(String(run.score), view.centre, 18);
    if (phase === "ready" && hint) {
      ctx.font = `700 30px ${FONT}`;
      ctx.fillStyle = C.navy;
      ctx.fillText("Space, click or tap to flap", view.centre, 110);
    }
  }

  return { draw };
}
