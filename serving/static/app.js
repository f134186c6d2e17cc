// Kanji Write writing demo: write a kanji from memory, graded stroke by stroke by /v1/score.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  contract: null, // GET /v1/contract: labels, sizes, misses before a hint
  info: null, // KANJIDIC2 table: {kanji, sets, set_labels}
  set: "grade-1",
  queue: [],
  kanji: null,
  ref: null, // /v1/kanji/{kanji}
  // strokes are kept in canvas units (0..1 of the square canvas's side), so that a resize or
  // a rotation redraws them in place; they are sent in pixels of the current canvas
  accepted: [], // strokes accepted so far
  current: null, // the stroke being drawn
  pointerId: null, // the one pointer drawing it (a second finger or the palm is ignored)
  pending: [], // strokes finished while a verdict was on its way, graded in turn
  misses: [], // misses per reference position
  hinted: [],
  busy: false,
  animation: null,
  // daily practice
  token: localStorage.getItem("kanjiwrite-token"), // the learner's bearer token (never in a URL)
  reviewed: false, // this card's review is recorded: a retry is practice, not a second review
  retried: false, // Retry after a miss or a hint: the review counts it as a hint
  skipped: new Set(), // practice cards skipped this session
  rejected: null, // the last rejected stroke, which the learner may overrule ("I was right")
  hintAt: null, // the position whose stroke stays shown in place (after a hint or a miss)
  strictness: "standard", // the learner's setting (practice) or the default
  reps: {}, // reviews so far of the kanji in today's queue (the tracing guide's level)
  more: 0, // "study more": extra new kanji today
  guided: false, // the outline was shown during this attempt (a hint, in practice)
  settingsLoaded: false,
  overridden: [], // log indices of the strokes overruled in this attempt
  log: [], // every stroke drawn for this kanji, wrong ones included
  hintsAsked: 0,
  startedAt: 0,
};

// ---------- drawing ----------
function setupCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const box = canvas.getBoundingClientRect();
  canvas.width = Math.round(box.width * ratio);
  canvas.height = Math.round(box.height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

function size() {
  const box = $("ink").getBoundingClientRect();
  return { width: box.width, height: box.height };
}

function drawGrid() {
  const canvas = $("grid");
  const ctx = setupCanvas(canvas);
  const { width: w, height: h } = size();
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#eadfcb";
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
  if (state.ref && level !== "none") {
    state.guided = state.guided || level === "outline"; // tracing the outline is not recall
    const color = level === "outline" ? "rgba(87, 83, 78, 0.3)" : "rgba(87, 83, 78, 0.1)";
    for (const s of state.ref.strokes) strokePath(ctx, fromReference(s, w, h), color, inkWidth());
  }
}

// the tracing guide: the choice, or in practice (Auto) from the card's history: the outline
// the first time (rated as a hint: the card stays in its learning steps), faded for the next
// two reviews (a light scaffold, not counted), then none
function guideLevel() {
  const chosen = $("guide").value;
  if (chosen !== "auto") return chosen;
  if (state.set !== "practice" || !state.kanji) return "none";
  const reps = state.reps[state.kanji] || 0;
  return reps === 0 ? "outline" : reps < 3 ? "faded" : "none";
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

function inkWidth() {
  return Math.max(5, size().width / 40);
}

function redraw(extra) {
  const ctx = $("ink").getContext("2d");
  const { width: w, height: h } = size();
  ctx.clearRect(0, 0, w, h);
  if (state.ref && state.hintAt !== null && state.hintAt === state.accepted.length) {
    const stroke = fromReference(state.ref.strokes[state.hintAt], w, h);
    strokePath(ctx, stroke, "rgba(29, 78, 216, 0.25)", inkWidth()); // stays until written
  }
  for (const s of state.accepted) strokePath(ctx, toPixels(s), "#1c1917", inkWidth());
  for (const s of state.pending) strokePath(ctx, toPixels(s), "#57534e", inkWidth());
  if (state.current) strokePath(ctx, toPixels(state.current), "#1c1917", inkWidth());
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

function animateStrokes(indices, onDone) {
  cancelAnimation();
  const ctx = $("ink").getContext("2d");
  const { width: w, height: h } = size();
  const strokes = indices.map((i) => fromReference(state.ref.strokes[i], w, h));
  let which = 0;
  let t = 0;
  const step = () => {
    redraw();
    for (let j = 0; j < which; j++) strokePath(ctx, strokes[j], "rgba(37, 99, 235, 0.35)", inkWidth());
    const s = strokes[which];
    const shown = s.slice(0, Math.max(1, Math.ceil(t * s.length)));
    strokePath(ctx, shown, "rgba(37, 99, 235, 0.8)", inkWidth());
    const tip = shown[shown.length - 1];
    ctx.fillStyle = "#2563eb";
    ctx.beginPath();
    ctx.arc(tip[0], tip[1], inkWidth() * 0.8, 0, 2 * Math.PI);
    ctx.fill();
    t += 0.04;
    if (t > 1) {
      which += 1;
      t = 0;
    }
    if (which < strokes.length) {
      state.animation = requestAnimationFrame(step);
      return;
    }
    state.animation = setTimeout(() => {
      state.animation = null;
      redraw();
      if (onDone) onDone();
    }, 700);
  };
  state.animation = requestAnimationFrame(step);
}

function cancelAnimation() {
  if (state.animation === null) return;
  cancelAnimationFrame(state.animation);
  clearTimeout(state.animation);
  state.animation = null;
  redraw();
}

// ---------- prompt, progress, feedback ----------
function say(text, kind) {
  const el = $("feedback");
  el.textContent = text;
  el.className = "feedback" + (kind ? " " + kind : "");
}

const KANA = /^[\u3040-\u30ff]$/;

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function showPrompt() {
  const entry = state.info.kanji[state.kanji];
  const kana = KANA.test(state.kanji);
  const fallback = kana ? `The kana ${state.kanji}` : `The kanji ${state.kanji}`;
  $("meaning").textContent = entry ? entry.meanings.join("; ") : fallback;
  $("meaning").lang = entry ? "en" : "ja";
  $("on").textContent = entry && entry.on.length ? entry.on.join("、") : "–";
  // KANJIDIC writes okurigana after a dot (か.く): show it as か(く)
  const kun = entry ? entry.kun.map((r) => (r.includes(".") ? r.replace(".", "(") + ")" : r)) : [];
  $("kun").textContent = kun.length ? kun.join("、") : "–";
  $("stroke-count").textContent = plural(state.ref.stroke_count, "stroke");
  const level = [];
  // KANJIDIC grades: 1-6 school years, 8 secondary school (Jōyō), 9-10 Jinmeiyō (names)
  const grades = { 8: "Jōyō secondary", 9: "Jinmeiyō", 10: "Jinmeiyō" };
  if (entry && entry.grade) level.push(grades[entry.grade] || `School grade ${entry.grade}`);
  if (entry && entry.jlpt) level.push(`JLPT ${entry.jlpt}`);
  $("level").textContent = level.join(" · ");
}

function showProgress() {
  const box = $("progress");
  box.replaceChildren();
  const missed = state.misses.filter((m) => m > 0).length;
  box.setAttribute("aria-label", `Stroke ${Math.min(state.accepted.length + 1, state.ref.stroke_count)} of ` +
    `${state.ref.stroke_count}: ${state.accepted.length} done` + (missed ? `, ${missed} with mistakes` : ""));
  for (let i = 0; i < state.ref.stroke_count; i++) {
    const dot = document.createElement("span");
    if (i < state.accepted.length) dot.className = state.misses[i] ? "missed" : "done";
    else if (i === state.accepted.length) dot.className = "current";
    box.appendChild(dot);
  }
}

// ---------- flow ----------
async function loadKanji(kanji) {
  cancelAnimation();
  const response = await fetch(`/v1/kanji/${encodeURIComponent(kanji)}`);
  if (!response.ok) {
    say(`Sorry, ${kanji} is not in the stroke data.`, "bad");
    return false;
  }
  if (kanji !== state.kanji) {
    state.reviewed = false;
    state.retried = false;
  }
  state.kanji = kanji;
  state.ref = await response.json();
  state.accepted = [];
  state.current = null;
  state.pointerId = null;
  state.pending = [];
  state.hintAt = null;
  state.guided = false;
  state.misses = new Array(state.ref.stroke_count).fill(0);
  state.hinted = new Array(state.ref.stroke_count).fill(false);
  state.log = [];
  state.overridden = [];
  showOverrule(null);
  state.claims = []; // per stroke of the log: whether it was accepted (the review sends these)
  state.attemptId = newAttemptId();
  state.hintsAsked = 0;
  state.startedAt = performance.now();
  $("summary").hidden = true;
  $("review-line").hidden = true;
  enableActions(true);
  drawGrid();
  showPrompt();
  showProgress();
  redraw();
  say("Draw the first stroke.");
  return true;
}

function nextKanji() {
  if (state.set === "typed") {
    $("typed").focus();
    return;
  }
  if (state.set === "practice") {
    if (state.kanji && !state.reviewed) state.skipped.add(state.kanji); // skip: come back later
    nextPractice();
    return;
  }
  if (!state.queue.length) {
    state.queue = [...(state.info.sets[state.set] || [])];
    for (let i = state.queue.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [state.queue[i], state.queue[j]] = [state.queue[j], state.queue[i]];
    }
  }
  loadKanji(state.queue.pop());
}

// strokes in canvas pixels, rounded to 0.1 px, with the canvas they were drawn on
function strokesOnCanvas(strokes) {
  const { width, height } = size();
  const round = (v) => Math.round(v * 10) / 10;
  return {
    strokes: strokes.map((s) => s.map(([x, y]) => [round(x * width), round(y * height)])),
    canvas: { width, height },
  };
}

function grade(stroke) {
  const body = { kanji: state.kanji, strictness: state.strictness };
  return postJSON("/v1/score", { ...body, ...strokesOnCanvas([...state.accepted, stroke]) });
}

// a finished stroke: graded now, or queued while an earlier one is being graded
function submitStroke(stroke) {
  if (state.busy) {
    state.pending.push(stroke);
    redraw();
    return;
  }
  finishStroke(stroke);
}

function nextPending() {
  if (state.pending.length && $("summary").hidden) finishStroke(state.pending.shift());
  else state.pending = [];
}

async function finishStroke(stroke) {
  const position = state.accepted.length;
  state.log.push(stroke);
  state.busy = true;
  let result;
  try {
    result = await grade(stroke);
  } catch {
    state.log.pop();
    state.busy = false;
    state.pending = [];
    redraw();
    say("Could not reach the grader; try that stroke again.", "bad");
    return;
  }
  state.busy = false;
  const verdict = result.strokes[result.strokes.length - 1];
  state.claims.push(verdict.correct);
  if (verdict.correct) {
    state.accepted.push(stroke);
    redraw();
    showProgress();
    // complete when every stroke is accepted (an overruled stroke included: the server,
    // seeing it rejected, would not call the request complete)
    if (result.complete || state.accepted.length === state.ref.stroke_count) {
      state.pending = [];
      showSummary();
      return;
    }
    say(`${verdict.message} ${state.ref.stroke_count - state.accepted.length} to go.`, "good");
    nextPending();
    return;
  }
  state.misses[position] += 1;
  redraw({ points: stroke, color: "#dc2626" });
  say(verdict.message, "bad");
  showProgress();
  if (!state.pending.length) {
    showOverrule({ stroke, position, logIndex: state.log.length - 1, sent: [...state.accepted, stroke] });
  }
  nextPending();
  setTimeout(() => {
    if (state.accepted.length === position) state.hintAt = position; // the right one, in place
    redraw();
    if (state.misses[position] >= state.contract.misses_before_hint && !state.hinted[position]) showHint();
  }, 900);
}

function showHint() {
  const position = state.accepted.length;
  if (position >= state.ref.stroke_count) return;
  state.hinted[position] = true;
  state.hintAt = position; // and it stays until that stroke is written
  say(`Here is stroke ${position + 1}: watch, then write it.`, "hint");
  animateStrokes([position]);
}

function askHint() {
  if (!state.ref || !$("summary").hidden) return;
  state.hintsAsked += 1;
  showHint();
}

function showOrder() {
  if (!state.ref) return;
  // watching the order before the kanji is written is a hint (it is not one afterwards)
  if (!state.reviewed && $("summary").hidden) state.hintsAsked += 1;
  say("Stroke order", "hint");
  animateStrokes([...Array(state.ref.stroke_count).keys()], () => say(
    state.accepted.length ? `Continue with stroke ${state.accepted.length + 1}.` : "Draw the first stroke."));
}

function drawReference(canvas, strokes, fromCanvas) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#fffdf7";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (const s of strokes) strokePath(ctx, fromCanvas ? fromCanvas(s) : fromReference(s, canvas.width, canvas.height), "#1c1917", 5);
}

function showSummary() {
  const mistakes = state.misses.reduce((a, b) => a + b, 0);
  const hints = Math.max(state.hinted.filter(Boolean).length, state.hintsAsked);
  const perfect = mistakes === 0 && hints === 0;
  $("summary-title").textContent = perfect ? "Perfect! Every stroke right first time" : "Done";
  drawReference($("answer"), state.ref.strokes);
  drawReference($("mine"), state.accepted, (s) => s.map(([x, y]) => [x * 180, y * 180]));
  $("score-line").textContent = `${plural(state.ref.stroke_count, "stroke")} · ${plural(mistakes, "mistake")}` +
    (hints ? ` · ${plural(hints, "hint")}` : "");
  const list = $("results");
  list.replaceChildren();
  state.misses.forEach((m, i) => {
    const item = document.createElement("li");
    item.className = state.hinted[i] ? "hinted" : m ? "missed" : "";
    item.textContent = `${i + 1}: ${m === 0 ? "✓" : state.hinted[i] ? `hint after ${m} misses` : `${m} ${m === 1 ? "miss" : "misses"}`}`;
    list.appendChild(item);
  });
  say(`${state.kanji} complete.`, "good");
  $("summary").hidden = false;
  $("summary").focus();
  if (state.set === "practice" && !state.reviewed) recordReview();
}

function showOverrule(rejected) {
  state.rejected = rejected;
  $("overrule").hidden = rejected === null;
}

// "I was right": the service stores the claim (labelled data for the ML side) and the
// stroke counts as right, here and in the practice review
async function overrule() {
  const rejected = state.rejected;
  if (!rejected || state.busy) return;
  showOverrule(null);
  try {
    await ensureToken();
    await postJSON("/v1/me/overrides", {
      kanji: state.kanji,
      strictness: state.strictness,
      ...strokesOnCanvas(rejected.sent),
      attempt_id: state.attemptId,
      log_index: rejected.logIndex,
    });
  } catch {
    say("Could not record that; the stroke still counts as a miss.", "bad");
    return;
  }
  state.accepted.push(rejected.stroke);
  state.claims[rejected.logIndex] = true;
  state.misses[rejected.position] -= 1;
  state.overridden.push(rejected.logIndex);
  redraw();
  showProgress();
  if (state.accepted.length === state.ref.stroke_count) {
    showSummary();
    return;
  }
  say(`Counted as right, thank you. ${state.ref.stroke_count - state.accepted.length} to go.`, "good");
}

function retry() {
  if (!state.kanji) return;
  // in practice, starting over after a miss or a hint still counts against the rating
  const slipped = state.misses.some((m) => m > 0) || state.hintsAsked > 0;
  if (state.set === "practice" && !state.reviewed && slipped) state.retried = true;
  loadKanji(state.kanji);
}

function enableActions(enabled) {
  for (const id of ["hint", "order", "restart"]) $(id).disabled = !enabled;
  // in practice every stroke drawn is part of the review: nothing to take back
  $("undo").disabled = !enabled || state.set === "practice";
}

function undo() {
  if (state.set === "practice" || state.busy || !state.accepted.length || !$("summary").hidden) return;
  state.accepted.pop();
  showOverrule(null);
  redraw();
  showProgress();
  say(`Stroke ${state.accepted.length + 1} taken back: write it again.`);
}

// ---------- the API ----------
function authHeaders() {
  return state.token ? { authorization: `Bearer ${state.token}` } : {};
}

async function api(path, options = {}) {
  const headers = { "content-type": "application/json", ...authHeaders() };
  const response = await fetch(path, { headers, ...options });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// an id per attempt: a review sent twice (a retried request) is stored once
function newAttemptId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function postJSON(path, body) {
  return api(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });
}

// ---------- daily practice (FSRS on the server) ----------
// a learner token (a new learner when there is none or it is unknown); true when new
async function ensureToken() {
  if (state.token) {
    const check = await fetch("/v1/me/stats", { headers: authHeaders() });
    if (check.ok) return false;
  }
  state.token = (await postJSON("/v1/learners")).learner_token;
  localStorage.setItem("kanjiwrite-token", state.token);
  return true;
}

async function ensureLearner() {
  if (await ensureToken()) await postJSON("/v1/me/cards", { set: "grade-1" });
  if (!state.settingsLoaded) {
    const settings = await api("/v1/me/settings");
    state.strictness = settings.strictness;
    $("daily-new").value = settings.daily_new;
    $("strictness").value = settings.strictness;
    state.settingsLoaded = true;
  }
}

function showStats(stats) {
  const retention = stats.retention_30d === null ? "–" : `${Math.round(stats.retention_30d * 100)}%`;
  $("stats-line").textContent = `${stats.cards} kanji in your deck · ` +
    `${plural(stats.reviews, "review")} · 30-day retention ${retention} · ` +
    `streak ${plural(stats.streak_days, "day")}`;
  const most = Math.max(1, ...stats.forecast);
  const names = ["today", "tomorrow", "in 2 days", "in 3 days", "in 4 days", "in 5 days", "in 6 days"];
  $("forecast").replaceChildren(...stats.forecast.map((count, day) => {
    const bar = document.createElement("span");
    bar.style.height = `${(100 * count) / most}%`;
    bar.dataset.count = count;
    bar.title = `${count} due ${names[day]}`;
    return bar;
  }));
  $("forecast").setAttribute("aria-label", "Reviews due: " +
    stats.forecast.map((count, day) => `${count} ${names[day]}`).join(", "));
  $("hardest").textContent = stats.hardest.length
    ? "Hardest: " + stats.hardest.map((h) => `${h.kanji} (${h.again} of ${h.reviews} Again)`).join(", ")
    : "No kanji rated Again yet.";
}

function dueText(iso) {
  if (!iso) return "none scheduled";
  const date = new Date(iso);
  const days = (date - Date.now()) / 86400000;
  if (days < 1 / 24) return "in a few minutes";
  if (days < 1) return `in ${Math.round(days * 24)} h`;
  return `on ${date.toLocaleDateString(undefined, { month: "short", day: "numeric" })}`;
}

async function nextPractice() {
  await ensureLearner();
  const queue = await api(`/v1/me/queue?more=${state.more}`);
  const stats = await api("/v1/me/stats");
  state.reps = queue.reps;
  showStats(stats);
  const count = queue.due.length + queue.new.length;
  $("practice-status").textContent = `Today: ${queue.due.length} to review · ${queue.new.length} new · ` +
    `streak ${stats.streak_days} ${stats.streak_days === 1 ? "day" : "days"} · next due ${dueText(queue.next_due)}`;
  const waiting = [...queue.due, ...queue.new];
  if (waiting.every((k) => state.skipped.has(k))) state.skipped.clear(); // round again
  const kanji = waiting.find((k) => !state.skipped.has(k));
  if (!kanji) {
    cancelAnimation();
    state.ref = null;
    state.kanji = null;
    state.accepted = [];
    enableActions(false);
    drawGrid();
    redraw();
    $("summary").hidden = true;
    $("meaning").textContent = "All done for today";
    for (const id of ["on", "kun", "stroke-count", "level"]) $(id).textContent = "";
    $("progress").replaceChildren();
    say(`Nothing due now. Next review ${dueText(queue.next_due)}.`, "good");
    return;
  }
  if (count) await loadKanji(kanji);
}

async function recordReview() {
  const body = {
    ...strokesOnCanvas(state.log),
    hints: state.hintsAsked + (state.retried ? 1 : 0) + (state.guided ? 1 : 0),
    strictness: state.strictness,
    duration_ms: Math.round(performance.now() - state.startedAt),
    attempt_id: state.attemptId,
    accepted: state.claims,
    overridden: state.overridden,
  };
  try {
    const path = `/v1/me/cards/${encodeURIComponent(state.kanji)}/reviews`;
    const result = await postJSON(path, body);
    state.reviewed = true;
    $("review-line").textContent = `Rated ${result.rating} · next review ${dueText(result.due)}`;
  } catch {
    $("review-line").textContent = "Could not record this review.";
  }
  $("review-line").hidden = false;
}

// ---------- input ----------
// a pointer position in canvas units, clamped to the canvas (a finger may slide off it)
function pointFrom(event) {
  const box = $("ink").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
}

function setupInput() {
  const ink = $("ink");
  ink.addEventListener("pointerdown", (event) => {
    if (!state.ref || !$("summary").hidden || state.current) return; // one pointer at a time
    cancelAnimation();
    event.preventDefault();
    try {
      ink.setPointerCapture(event.pointerId); // moves off the canvas still reach us
    } catch {
      // a pointer the browser no longer tracks: the stroke works without capture
    }
    state.pointerId = event.pointerId;
    showOverrule(null); // a new stroke: the last verdict stands
    state.current = [pointFrom(event)];
    redraw();
  });
  ink.addEventListener("pointermove", (event) => {
    if (!state.current || event.pointerId !== state.pointerId) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) state.current.push(pointFrom(e));
    redraw();
  });
  const end = (event) => {
    if (!state.current || event.pointerId !== state.pointerId) return;
    event.preventDefault();
    const stroke = state.current;
    state.current = null;
    state.pointerId = null;
    submitStroke(stroke);
  };
  ink.addEventListener("pointerup", end);
  ink.addEventListener("pointercancel", end);
  ink.addEventListener("touchmove", (event) => event.preventDefault(), { passive: false });

  $("hint").addEventListener("click", askHint);
  $("overrule").addEventListener("click", overrule);
  $("undo").addEventListener("click", undo);
  $("guide").addEventListener("change", () => {
    drawGrid();
    localStorage.setItem("kanjiwrite-guide", $("guide").value);
  });
  $("settings-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { daily_new: Number($("daily-new").value), strictness: $("strictness").value };
    try {
      await api("/v1/me/settings", { method: "PUT", body: JSON.stringify(body) });
    } catch {
      say("Could not save the settings.", "bad");
      return;
    }
    state.strictness = body.strictness;
    await nextPractice();
    say("Settings saved.", "good");
  });
  $("more").addEventListener("click", async () => {
    state.more += 10;
    await nextPractice();
    say("Ten more new kanji for today.", "good");
  });
  $("order").addEventListener("click", showOrder);
  $("replay").addEventListener("click", () => {
    $("summary").hidden = true;
    showOrder();
  });
  $("restart").addEventListener("click", retry);
  $("again").addEventListener("click", retry);
  $("skip").addEventListener("click", nextKanji);
  $("next").addEventListener("click", nextKanji);
  $("set").addEventListener("change", (event) => {
    chooseSet(event.target.value);
    localStorage.setItem("kanjiwrite-set", event.target.value);
    state.queue = [];
    nextKanji();
  });
  $("deck-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await ensureLearner();
    const added = await postJSON("/v1/me/cards", { set: $("deck").value });
    await nextPractice();
    say(`Added ${added.added} kanji (${added.total} in your deck).`, "good");
  });
  $("typed-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const kanji = $("typed").value.trim();
    if (kanji) loadKanji(kanji);
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return; // the browser's shortcuts
    const actions = { h: askHint, s: showOrder, r: retry, n: nextKanji, u: undo };
    const action = actions[event.key.toLowerCase()];
    if (action && state.ref) {
      event.preventDefault();
      action();
    }
  });
  window.addEventListener("resize", () => {
    setupCanvas($("ink"));
    drawGrid();
    redraw(); // strokes are in canvas units: they keep their place at any size
  });
}

// the set choosers, from the sets of kanji-info.json: grouped in the page's chooser (between
// "Daily practice" and "A kanji I type"), flat in the deck form
function fillSetChoosers() {
  const typed = $("set").querySelector('option[value="typed"]');
  const groups = {};
  for (const { id, group, label } of state.info.set_labels) {
    if (!groups[group]) {
      groups[group] = document.createElement("optgroup");
      groups[group].label = group;
      $("set").insertBefore(groups[group], typed);
    }
    groups[group].appendChild(new Option(label, id));
    $("deck").appendChild(new Option(group === "JLPT" ? `JLPT ${label}` : label, id));
  }
}

function chooseSet(name) {
  state.set = name;
  $("set").value = name;
  $("typed-form").hidden = name !== "typed";
  $("practice-bar").hidden = name !== "practice";
}

async function start() {
  setupCanvas($("ink"));
  drawGrid();
  setupInput();
  [state.contract, state.info] = await Promise.all([api("/v1/contract"), api("/static/kanji-info.json")]);
  fillSetChoosers();
  const params = new URLSearchParams(location.search);
  const wanted = params.get("kanji");
  const remembered = localStorage.getItem("kanjiwrite-set");
  $("guide").value = localStorage.getItem("kanjiwrite-guide") || "auto";
  const known = (name) => name === "practice" || name === "typed" || name in state.info.sets;
  if (params.get("mode") === "practice") {
    chooseSet("practice");
    await nextPractice();
  } else if (wanted) {
    chooseSet("typed");
    $("typed").value = wanted;
    await loadKanji(wanted);
  } else {
    chooseSet(remembered && known(remembered) && remembered !== "typed" ? remembered : state.set);
    nextKanji();
  }
}

start();
