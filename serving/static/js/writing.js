// Writing a kanji: strokes graded one by one, misses, hints, the stroke order, the summary,
// "I was right", retry and undo.
import { $, resetAttempt, state } from "./state.js";
import { ensureToken, newAttemptId, postJSON } from "./api.js";
import {
  animateStrokes, cancelAnimation, COLOURS, drawGrid, drawReference, inkTarget, redraw, size,
} from "./draw.js";
import { plural, say, showProgress, showPrompt, updateActions } from "./page.js";
import { nextPractice, recordReview } from "./practice.js";

export async function loadKanji(kanji) {
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
  resetAttempt();
  state.attemptId = newAttemptId();
  showOverrule(null);
  $("summary").hidden = true;
  $("review-line").hidden = true;
  drawGrid();
  showPrompt();
  showProgress();
  redraw();
  updateActions();
  say("Draw the first stroke.");
  return true;
}

export function nextKanji() {
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
export function strokesOnCanvas(strokes) {
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
export function submitStroke(stroke) {
  if (state.busy) {
    state.pending.push(stroke);
    redraw();
    return;
  }
  finishStroke(stroke);
}

function writing() {
  return state.ref !== null && $("summary").hidden && state.accepted.length < state.ref.stroke_count;
}

function nextPending() {
  if (state.pending.length && writing()) finishStroke(state.pending.shift());
  else state.pending = [];
}

async function finishStroke(stroke) {
  if (!writing()) return; // the kanji is complete: nothing more to grade
  const position = state.accepted.length;
  state.log.push(stroke);
  state.busy = true;
  updateActions();
  let result;
  try {
    result = await grade(stroke);
  } catch {
    state.log.pop();
    state.busy = false;
    state.pending = [];
    redraw();
    updateActions();
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
    updateActions();
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
  redraw({ points: stroke, color: COLOURS.wrong });
  say(verdict.message, "bad");
  showProgress();
  updateActions();
  if (!state.pending.length) {
    showOverrule({ stroke, position, logIndex: state.log.length - 1, sent: [...state.accepted, stroke] });
  }
  nextPending();
  setTimeout(() => {
    if (state.accepted.length === position && writing()) {
      state.hintAt = position; // the right one, in place
      state.hinted[position] = true;
    }
    redraw();
    updateActions();
    if (state.misses[position] >= state.contract.misses_before_hint && state.accepted.length === position) {
      showHint(`Here is stroke ${position + 1}: watch, then write it.`);
    }
  }, 900);
}

function showHint(message) {
  const position = state.accepted.length;
  if (position >= state.ref.stroke_count) return;
  state.hinted[position] = true;
  state.hintAt = position; // and it stays until that stroke is written
  updateActions();
  say(message, "hint");
  animateStrokes(inkTarget(), [position]);
}

export function askHint() {
  if ($("hint").disabled) return;
  state.aids.hints += 1;
  showHint(`Here is stroke ${state.accepted.length + 1}: watch, then write it.`);
}

// the whole stroke order: on the writing canvas while writing (a hint, before the kanji is
// written), on the summary's reference once it is done
export function showOrder() {
  if (!state.ref) return;
  const all = [...Array(state.ref.stroke_count).keys()];
  if (!$("summary").hidden) {
    const canvas = $("answer");
    const base = () => drawReference(canvas, []);
    animateStrokes({ ctx: canvas.getContext("2d"), width: canvas.width, height: canvas.height, base }, all,
      () => drawReference(canvas, state.ref.strokes));
    return;
  }
  if (!state.reviewed) state.aids.order = true;
  say("Stroke order", "hint");
  animateStrokes(inkTarget(), all, () => say(
    state.accepted.length ? `Continue with stroke ${state.accepted.length + 1}.` : "Draw the first stroke."));
}

// the help used in this attempt, in words ([] for none)
function helpUsed() {
  const help = [];
  if (state.aids.hints) help.push(plural(state.aids.hints, "hint"));
  if (state.aids.order) help.push("watched the stroke order");
  if (state.aids.guide !== "none") help.push(`traced the ${state.aids.guide === "outline" ? "outline" : "faded guide"}`);
  if (state.overridden.length) help.push(`${plural(state.overridden.length, "stroke")} overruled`);
  return help;
}

function showSummary() {
  const help = helpUsed();
  const mistakes = state.misses.reduce((a, b) => a + b, 0);
  const perfect = !mistakes && !help.length;
  $("summary-title").textContent = perfect ? "Perfect! Every stroke right first time" : "Done";
  drawReference($("answer"), state.ref.strokes);
  drawReference($("mine"), state.accepted, (s) => s.map(([x, y]) => [x * 180, y * 180]));
  $("score-line").textContent = [plural(state.ref.stroke_count, "stroke"), plural(mistakes, "mistake"), ...help].join(" · ");
  const list = $("results");
  list.replaceChildren();
  state.misses.forEach((m, i) => {
    const item = document.createElement("li");
    const shown = state.hinted[i];
    item.className = shown ? "hinted" : m ? "missed" : "";
    const misses = `${m} ${m === 1 ? "miss" : "misses"}`;
    item.textContent = `${i + 1}: ${m === 0 && !shown ? "✓" : shown ? (m ? `shown after ${misses}` : "hint") : misses}`;
    list.appendChild(item);
  });
  say(`${state.kanji} complete.`, "good");
  $("summary").hidden = false;
  $("summary").focus();
  updateActions();
  if (state.set === "practice" && !state.reviewed) recordReview();
}

export function showOverrule(rejected) {
  state.rejected = rejected;
  $("overrule").hidden = rejected === null;
}

// "I was right": the service stores the claim (labelled data for the ML side) and the
// stroke counts as right, here and in the practice review
export async function overrule() {
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
  updateActions();
  if (state.accepted.length === state.ref.stroke_count) {
    showSummary();
    return;
  }
  say(`Counted as right, thank you. ${state.ref.stroke_count - state.accepted.length} to go.`, "good");
}

export function retry() {
  if (!state.kanji) return;
  // in practice, starting over after a miss or a hint still counts against the rating
  const slipped = state.misses.some((m) => m > 0) || state.aids.hints > 0;
  if (state.set === "practice" && !state.reviewed && slipped) state.retried = true;
  loadKanji(state.kanji);
}

export function undo() {
  if ($("undo").disabled) return;
  state.accepted.pop();
  showOverrule(null);
  redraw();
  showProgress();
  updateActions();
  say(`Stroke ${state.accepted.length + 1} taken back: write it again.`);
}
