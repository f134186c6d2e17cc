// Writing a kanji: strokes graded one by one (in practice, by the card's attempt in progress
// on the server), misses, hints, the stroke order, the summary, "I was right", retry, undo,
// and exam mode (no verdicts until the review).
import { $, resetAttempt, state } from "./state.js";
import { newAttemptId, postJSON } from "./api.js";
import {
  animateStrokes, cancelAnimation, COLOURS, drawGrid, drawReference, guideLevel, inkTarget, redraw, size,
} from "./draw.js";
import { plural, say, showProgress, showPrompt, updateActions } from "./page.js";
import { applyAttempt, attemptPath, nextPractice, openAttempt, recordReview } from "./practice.js";

// load a kanji (a fresh start at it); strokes drawn meanwhile are dropped, or with
// ``keepPending`` (a retry) kept and graded once it is loaded
export async function loadKanji(kanji, { keepPending = false } = {}) {
  cancelAnimation();
  const response = await fetch(`/v1/kanji/${encodeURIComponent(kanji)}`);
  if (!response.ok) {
    say(`Sorry, ${kanji} is not in the stroke data.`, "bad");
    return false;
  }
  const ref = await response.json();
  const reviewed = kanji === state.kanji && state.reviewed;
  const practice = state.set === "practice" && !reviewed;
  const attempt = practice ? await openAttempt(kanji) : null; // the first try of the day
  Object.assign(state, { kanji, ref, reviewed, attempt: practice, attemptId: newAttemptId() });
  const { pending, current, pointerId } = state; // drawn, or being drawn, while it loaded
  resetAttempt();
  if (keepPending) Object.assign(state, { pending, current, pointerId });
  if (attempt) applyAttempt(attempt); // back where it was
  showOverrule(null);
  $("summary").hidden = true;
  $("review-line").hidden = true;
  showGuide();
  showPrompt();
  showProgress();
  redraw();
  updateActions();
  say(state.exam ? `Exam: write all ${plural(state.ref.stroke_count, "stroke")}, then Done.` : "Draw the first stroke.");
  if (state.attempt && state.accepted.length === state.ref.stroke_count) showSummary();
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

// help used while writing, recorded with the attempt in practice (it lowers the rating)
function useAid(aid) {
  if (aid === "hint") state.aids.hints += 1;
  else if (aid === "order") state.aids.order = true;
  else state.aids.guide = aid;
  if (state.attempt) postJSON(attemptPath("aids"), { aid }).catch(() => say("Could not record that.", "bad"));
}

const GUIDE_RANK = { none: 0, faded: 1, outline: 2 };

// the grid and the tracing guide; the most guide seen while writing counts as help
export function showGuide() {
  drawGrid();
  const level = guideLevel();
  if (writing() && GUIDE_RANK[level] > GUIDE_RANK[state.aids.guide]) useAid(level);
}

// the verdict on a stroke after the accepted ones: by the attempt in progress (practice), or
// by /v1/score; as {verdict, complete, claimable} ("I was right" is a claim about a review in
// progress: practice only)
async function grade(stroke) {
  if (state.attempt) {
    const result = await postJSON(attemptPath("strokes"), strokesOnCanvas([stroke]));
    return { verdict: result.strokes[0], complete: result.complete, claimable: result.claimable };
  }
  const body = {
    kanji: state.kanji,
    strictness: state.strictness,
    settled: state.accepted.length, // the accepted strokes stay accepted
    ...strokesOnCanvas([...state.accepted, stroke]),
  };
  // and only the stroke orders that begin as they were accepted are graded (when known)
  if (state.acceptedAs.length === state.accepted.length) body.settled_as = state.acceptedAs;
  const result = await postJSON("/v1/score", body);
  return { verdict: result.strokes[result.strokes.length - 1], complete: result.complete, claimable: false };
}

// a finished stroke: graded now, or queued while an earlier one is being graded; in exam
// mode kept without a verdict (the review grades them all)
export function submitStroke(stroke) {
  if (state.exam) {
    if (!writing()) return;
    state.log.push(stroke);
    state.accepted.push(stroke);
    redraw();
    showProgress();
    updateActions();
    const left = state.ref.stroke_count - state.accepted.length;
    if (left) say(`${plural(left, "stroke")} to go, then Done.`);
    else finishExam();
    return;
  }
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
  const round = state.round;
  state.log.push(stroke);
  state.busy = true;
  updateActions();
  let graded;
  try {
    graded = await grade(stroke);
  } catch {
    if (state.round !== round) return; // started over meanwhile
    state.log.pop();
    state.busy = false;
    state.pending = [];
    redraw();
    updateActions();
    say("Could not reach the grader; try that stroke again.", "bad");
    return;
  }
  if (state.round !== round) return; // a verdict for the start before a retry
  state.busy = false;
  const { verdict } = graded;
  if (verdict.correct) {
    if (state.acceptedAs.length === state.accepted.length) state.acceptedAs.push(verdict.expected_index);
    state.accepted.push(stroke);
    redraw();
    showProgress();
    updateActions();
    if (graded.complete || state.accepted.length === state.ref.stroke_count) {
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
  if (!state.pending.length && graded.claimable) showOverrule({ stroke, position, index: verdict.index });
  nextPending();
  setTimeout(() => {
    if (state.round !== round) return;
    if (state.accepted.length === position && writing()) {
      state.hintAt = position; // the right one, in place
      state.hinted[position] = true;
    }
    redraw();
    updateActions();
    if (state.misses[position] >= state.revealAfter && state.accepted.length === position && writing()) {
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
  useAid("hint");
  showHint(`Here is stroke ${state.accepted.length + 1}: watch, then write it.`);
}

// the whole stroke order: on the writing canvas while writing (help, before the kanji is
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
  if (!state.reviewed && !state.aids.order) useAid("order");
  say("Stroke order", "hint");
  animateStrokes(inkTarget(), all, () => say(
    state.accepted.length ? `Continue with stroke ${state.accepted.length + 1}.` : "Draw the first stroke."));
}

// the help used in this attempt, in words ([] for none)
function helpUsed() {
  const help = [];
  if (state.aids.hints) help.push(plural(state.aids.hints, "hint"));
  if (state.aids.order) help.push("watched the stroke order");
  if (state.aids.guide !== "none") help.push(state.aids.guide === "outline" ? "used the outline" : "used the faded guide");
  if (state.claimed) help.push(`${plural(state.claimed, "stroke")} on your word`);
  return help;
}

// one item per reference stroke: right, its misses, shown, or (exam) what was wrong
function resultItem(i) {
  const item = document.createElement("li");
  const m = state.misses[i];
  const shown = state.hinted[i];
  item.className = shown ? "hinted" : m ? "missed" : "";
  const misses = `${m} ${m === 1 ? "miss" : "misses"}`;
  item.textContent = `${i + 1}: ${m === 0 && !shown ? "✓" : shown ? (m ? `shown after ${misses}` : "hint") : misses}`;
  return item;
}

function showSummary() {
  const help = helpUsed();
  const mistakes = state.misses.reduce((a, b) => a + b, 0);
  const perfect = !mistakes && !help.length;
  $("summary-title").textContent = perfect ? "Perfect! Every stroke right first time" : "Done";
  drawReference($("answer"), state.ref.strokes);
  drawReference($("mine"), state.accepted, (s) => s.map(([x, y]) => [x * 180, y * 180]));
  $("score-line").textContent = [plural(state.ref.stroke_count, "stroke"), plural(mistakes, "mistake"), ...help].join(" · ");
  const items = state.verdicts.length
    ? state.verdicts.map((v) => {
      const item = document.createElement("li");
      item.className = v.correct ? "" : "missed";
      item.textContent = `${v.index + 1}: ${v.correct ? "✓" : v.message}`;
      return item;
    })
    : state.misses.map((_, i) => resultItem(i));
  $("results").replaceChildren(...items);
  say(`${state.kanji} complete.`, "good");
  $("summary").hidden = false;
  $("summary").focus();
  updateActions();
  if (state.attempt && !state.reviewed) recordReview();
}

// exam mode: every stroke written (or Done): the review grades them all and answers with
// each stroke's verdict
export async function finishExam() {
  if (!state.exam || state.reviewed || state.busy || !state.log.length) return;
  state.busy = true;
  updateActions();
  const result = await recordReview(strokesOnCanvas(state.log));
  state.busy = false;
  if (!result) return;
  state.verdicts = result.strokes;
  state.misses = result.misses;
  showProgress();
  showSummary();
}

export function showOverrule(rejected) {
  state.rejected = rejected;
  $("overrule").hidden = rejected === null;
}

// "I was right": the claim about the newest stroke (plausible ones only: the server checks);
// it counts as right here and in the review, which it caps at Good
export async function overrule() {
  const rejected = state.rejected;
  if (!rejected || state.busy) return;
  showOverrule(null);
  try {
    await postJSON("/v1/me/overrides", { kanji: state.kanji, log_index: rejected.index });
  } catch (error) {
    say(`Not counted: ${error.detail || "could not record that"}.`, "bad");
    return;
  }
  state.accepted.push(rejected.stroke);
  state.misses[rejected.position] -= 1;
  state.claimed += 1;
  redraw();
  showProgress();
  updateActions();
  if (state.accepted.length === state.ref.stroke_count) {
    showSummary();
    return;
  }
  say(`Counted as right, thank you. ${state.ref.stroke_count - state.accepted.length} to go.`, "good");
}

// start the kanji over; in practice, before the review, the attempt keeps its misses and help.
// The canvas clears at once; strokes drawn while the fresh start loads wait for it
export async function retry() {
  if (!state.kanji) return;
  state.round += 1; // verdicts still on their way were for the old start
  Object.assign(state, { accepted: [], acceptedAs: [], pending: [], busy: true });
  showOverrule(null);
  redraw();
  try {
    if (state.attempt && !state.reviewed) await postJSON(attemptPath("restart"));
    await loadKanji(state.kanji, { keepPending: true });
  } catch {
    say("Could not start over; try Retry again.", "bad");
  } finally {
    state.busy = false;
    updateActions();
  }
  nextPending();
}

export function undo() {
  if ($("undo").disabled) return;
  state.accepted.pop();
  state.acceptedAs = state.acceptedAs.slice(0, state.accepted.length);
  if (state.exam) state.log.pop(); // no verdict was seen: taking it back is free
  showOverrule(null);
  redraw();
  showProgress();
  updateActions();
  say(`Stroke ${state.accepted.length + 1} taken back: write it again.`);
}
