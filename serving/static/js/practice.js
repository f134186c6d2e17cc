// Daily practice (FSRS on the server): the learner, today's queue, settings and statistics,
// and the review of each card.
import { $, state } from "./state.js";
import { api, ensureToken, postJSON } from "./api.js";
import { cancelAnimation, drawGrid, redraw } from "./draw.js";
import { plural, say, updateActions } from "./page.js";
import { loadKanji } from "./writing.js";

async function ensureLearner() {
  if (await ensureToken()) await postJSON("/v1/me/cards", { set: "grade-1" });
  if (!state.settingsLoaded) {
    const settings = await api("/v1/me/settings");
    state.strictness = settings.strictness;
    $("daily-new").value = settings.daily_new;
    $("strictness").value = settings.strictness;
    $("exam").value = settings.exam;
    $("reveal-after").value = settings.reveal_after;
    state.settingsLoaded = true;
  }
}

const DAYS = ["today", "tomorrow", "in 2 days", "in 3 days", "in 4 days", "in 5 days", "in 6 days"];

// the statistics, and the forecast as labelled bars (each count above its own bar)
function showStats(stats) {
  const retention = stats.retention_30d === null ? "–" : `${Math.round(stats.retention_30d * 100)}%`;
  $("stats-line").textContent = `${stats.cards} kanji in your deck · ` +
    `${plural(stats.reviews, "review")} · 30-day retention ${retention} · ` +
    `streak ${plural(stats.streak_days, "day")}`;
  const most = Math.max(1, ...stats.forecast);
  $("forecast").replaceChildren(...stats.forecast.map((count, day) => {
    const column = document.createElement("span");
    column.className = "day";
    column.title = `${count} due ${DAYS[day]}`;
    const label = document.createElement("span");
    label.className = "count";
    label.textContent = count;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.height = `${(4 * count) / most}rem`;
    column.append(label, bar);
    return column;
  }));
  $("forecast").setAttribute("aria-label", "Reviews due: " +
    stats.forecast.map((count, day) => `${count} ${DAYS[day]}`).join(", "));
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

// today's line: due now, due later today (the forecast's "today" counts both), new
function statusText(queue, stats) {
  const later = Math.max(0, stats.forecast[0] - queue.due.length);
  return `Today: ${queue.due.length} to review now` + (later ? ` (${later} more later today)` : "") +
    ` · ${queue.new.length} new · streak ${plural(stats.streak_days, "day")} · next due ${dueText(queue.next_due)}`;
}

export async function nextPractice() {
  await ensureLearner();
  const queue = await api(`/v1/me/queue?more=${state.more}`);
  const stats = await api("/v1/me/stats");
  state.reps = queue.reps;
  showStats(stats);
  $("practice-status").textContent = statusText(queue, stats);
  const waiting = [...queue.due, ...queue.new];
  if (waiting.every((k) => state.skipped.has(k))) state.skipped.clear(); // round again
  const kanji = waiting.find((k) => !state.skipped.has(k));
  if (!kanji) {
    cancelAnimation();
    state.ref = null;
    state.kanji = null;
    state.accepted = [];
    drawGrid();
    redraw();
    $("summary").hidden = true;
    updateActions();
    $("meaning").textContent = "All done for today";
    for (const id of ["on", "kun", "stroke-count", "level"]) $(id).textContent = "";
    $("progress").replaceChildren();
    say(`Nothing due now. Next review ${dueText(queue.next_due)}.`, "good");
    return;
  }
  await loadKanji(kanji);
}

// the card's attempt in progress on the server (path: "" for the attempt itself)
export function attemptPath(part, kanji = state.kanji) {
  return `/v1/me/cards/${encodeURIComponent(kanji)}/attempt${part ? "/" + part : ""}`;
}

// open the attempt at ``kanji``, or come back to today's
export function openAttempt(kanji) {
  return postJSON(attemptPath("", kanji));
}

// the attempt's state into the page's: its accepted strokes, misses, help, exam mode
export function applyAttempt(attempt) {
  const { width, height } = attempt.canvas;
  state.accepted = attempt.strokes.map((s) => s.map(([x, y]) => [x / width, y / height]));
  state.misses = attempt.misses;
  state.aids = { hints: attempt.hints, order: attempt.order, guide: attempt.guide };
  state.claimed = attempt.claims;
  state.exam = attempt.exam;
  state.revealAfter = attempt.reveal_after;
}

// record the review of the card's attempt (exam mode: with its strokes); the result, or
// null when it could not be recorded
export async function recordReview(strokes) {
  const body = { duration_ms: Math.round(performance.now() - state.startedAt), attempt_id: state.attemptId, ...strokes };
  let result = null;
  try {
    result = await postJSON(`/v1/me/cards/${encodeURIComponent(state.kanji)}/reviews`, body);
    state.reviewed = true;
    $("review-line").textContent = `Rated ${result.explanation} · next review ${dueText(result.due)}`;
  } catch {
    $("review-line").textContent = "Could not record this review.";
  }
  $("review-line").hidden = false;
  return result;
}

// the settings form: saved on the server, then today's queue again
export async function saveSettings() {
  const body = {
    daily_new: Number($("daily-new").value),
    strictness: $("strictness").value,
    exam: $("exam").value,
    reveal_after: Number($("reveal-after").value),
  };
  try {
    await api("/v1/me/settings", { method: "PUT", body: JSON.stringify(body) });
  } catch {
    say("Could not save the settings.", "bad");
    return;
  }
  state.strictness = body.strictness;
  await nextPractice();
  say("Settings saved.", "good");
}

export async function studyMore() {
  state.more += 10;
  await nextPractice();
  say("Ten more new kanji for today.", "good");
}

export async function addToDeck() {
  await ensureLearner();
  const added = await postJSON("/v1/me/cards", { set: $("deck").value });
  await nextPractice();
  say(`Added ${added.added} kanji (${added.total} in your deck).`, "good");
}
