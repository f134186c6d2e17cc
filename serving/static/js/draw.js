// Drawing on the canvases: the grid and tracing guide, the learner's ink, the stroke shown
// in place, and the stroke-order animation.
import { $, state } from "./state.js";

// colours against the paper (#fffdf7): the hint and the outline >= 3:1 (WCAG 1.4.11)
export const COLOURS = {
  ink: "#1c1917",
  pending: "#57534e",
  wrong: "#dc2626",
  hint: "rgba(29, 78, 216, 0.7)", // the stroke shown in place: 3.6:1
  outline: "rgba(87, 83, 78, 0.7)", // the tracing guide: 3.5:1
  faded: "rgba(87, 83, 78, 0.2)", // a faint scaffold, meant to be hard to see
  animated: "rgba(37, 99, 235, 0.8)",
  animatedDone: "rgba(37, 99, 235, 0.45)",
  tip: "#2563eb",
  grid: "#eadfcb",
  paper: "#fffdf7",
};

export function setupCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const box = canvas.getBoundingClientRect();
  canvas.width = Math.round(box.width * ratio);
  canvas.height = Math.round(box.height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

export function size() {
  const box = $("ink").getBoundingClientRect();
  return { width: box.width, height: box.height };
}

function inkWidth() {
  return Math.max(5, size().width / 40);
}

// the tracing guide: the choice, or in practice (Auto) from the card's history: the outline
// the first time, faded for the next two reviews, then none
export function guideLevel() {
  const chosen = $("guide").value;
  if (chosen !== "auto") return chosen;
  if (state.set !== "practice" || !state.kanji) return "none";
  const reps = state.reps[state.kanji] || 0;
  return reps === 0 ? "outline" : reps < 3 ? "faded" : "none";
}

export function drawGrid() {
  const ctx = setupCanvas($("grid"));
  const { width: w, height: h } = size();
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = COLOURS.grid;
  ctx.lineWidth = 1;
  ctx.setLineDash([6, 6]);
  for (const [x1, y1, x2, y2] of [[w / 2, 0, w / 2, h], [0, h / 2, w, h / 2], [0, 0, w, h], [w, 0, 0, h]]) {
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x2, y2);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  const level = guideLevel();
  if (!state.ref || level === "none") return;
  for (const s of state.ref.strokes) strokePath(ctx, fromReference(s, w, h), COLOURS[level], inkWidth());
}

function strokePath(ctx, points, color, width) {
  if (!points.length) return;
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  if (points.length === 1) {
    ctx.beginPath();
    ctx.arc(points[0][0], points[0][1], width / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(points[0][0], points[0][1]);
  for (const [x, y] of points.slice(1)) ctx.lineTo(x, y);
  ctx.stroke();
}

function toPixels(stroke) {
  const { width, height } = size();
  return stroke.map(([x, y]) => [x * width, y * height]);
}

// the writing canvas: the stroke shown in place, accepted and pending strokes, the stroke
// being drawn and (``extra``) one more, e.g. a rejected stroke in red
export function redraw(extra) {
  const ctx = $("ink").getContext("2d");
  const { width: w, height: h } = size();
  ctx.clearRect(0, 0, w, h);
  if (state.ref && state.hintAt !== null && state.hintAt === state.accepted.length) {
    const stroke = fromReference(state.ref.strokes[state.hintAt], w, h);
    strokePath(ctx, stroke, COLOURS.hint, inkWidth()); // stays until written
  }
  for (const s of state.accepted) strokePath(ctx, toPixels(s), COLOURS.ink, inkWidth());
  for (const s of state.pending) strokePath(ctx, toPixels(s), COLOURS.pending, inkWidth());
  if (state.current) strokePath(ctx, toPixels(state.current), COLOURS.ink, inkWidth());
  if (extra) strokePath(ctx, toPixels(extra.points), extra.color, inkWidth());
}

// the reference (in its box, /v1/kanji's canvas) mapped onto a canvas of the given size,
// with a margin
function fromReference(points, w, h) {
  const margin = 0.06;
  const box = Math.max(state.ref.canvas.width, state.ref.canvas.height);
  const scale = (Math.min(w, h) * (1 - 2 * margin)) / box;
  return points.map(([x, y]) => [w * margin + x * scale, h * margin + y * scale]);
}

// the reference strokes ``indices`` drawn one after the other on ``ctx`` (w x h) over what
// ``base`` draws; ``onDone`` when finished
export function animateStrokes(target, indices, onDone) {
  cancelAnimation();
  const { ctx, width: w, height: h, base } = target;
  const strokes = indices.map((i) => fromReference(state.ref.strokes[i], w, h));
  const width = Math.max(4, w / 40);
  let which = 0;
  let t = 0;
  const step = () => {
    base();
    for (let j = 0; j < which; j++) strokePath(ctx, strokes[j], COLOURS.animatedDone, width);
    const s = strokes[which];
    const shown = s.slice(0, Math.max(1, Math.ceil(t * s.length)));
    strokePath(ctx, shown, COLOURS.animated, width);
    const tip = shown[shown.length - 1];
    ctx.fillStyle = COLOURS.tip;
    ctx.beginPath();
    ctx.arc(tip[0], tip[1], width * 0.8, 0, 2 * Math.PI);
    ctx.fill();
    t += 0.04;
    if (t > 1) {
      which += 1;
      t = 0;
    }
    if (which < strokes.length) {
      state.animation = { frame: requestAnimationFrame(step), base };
      return;
    }
    state.animation = {
      timer: setTimeout(() => {
        state.animation = null;
        base();
        if (onDone) onDone();
      }, 700),
      base,
    };
  };
  state.animation = { frame: requestAnimationFrame(step), base };
}

// the writing canvas as an animation target
export function inkTarget() {
  const { width, height } = size();
  return { ctx: $("ink").getContext("2d"), width, height, base: () => redraw() };
}

export function cancelAnimation() {
  if (state.animation === null) return;
  const { frame, timer, base } = state.animation;
  cancelAnimationFrame(frame);
  clearTimeout(timer);
  state.animation = null;
  base();
}

// a small canvas of the summary (its own pixel size): the reference, or ``strokes`` mapped
// by ``fromCanvas``
export function drawReference(canvas, strokes, fromCanvas) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = COLOURS.paper;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (const s of strokes) {
    const points = fromCanvas ? fromCanvas(s) : fromReference(s, canvas.width, canvas.height);
    strokePath(ctx, points, COLOURS.ink, 5);
  }
}
