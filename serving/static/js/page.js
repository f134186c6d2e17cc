// The page's text: the prompt, the progress dots, the feedback line, the buttons' state.
import { $, state } from "./state.js";

export function say(text, kind) {
  const el = $("feedback");
  el.textContent = text;
  el.className = "feedback" + (kind ? " " + kind : "");
}

export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

const KANA = /^[\u3040-\u30ff]$/;

// readings as words that never break inside (ジュッ stays whole), separated by 、
function showReadings(element, readings) {
  if (!readings.length) {
    element.textContent = "–";
    return;
  }
  element.replaceChildren(...readings.flatMap((reading, i) => {
    const word = document.createElement("span");
    word.className = "reading";
    word.textContent = reading;
    return i ? [document.createTextNode("、"), document.createElement("wbr"), word] : [word];
  }));
}

export function showPrompt() {
  const entry = state.info.kanji[state.kanji];
  const kana = KANA.test(state.kanji);
  const fallback = kana ? `The kana ${state.kanji}` : `The kanji ${state.kanji}`;
  $("meaning").textContent = entry ? entry.meanings.join("; ") : fallback;
  $("meaning").lang = entry ? "en" : "ja";
  showReadings($("on"), entry ? entry.on : []);
  // KANJIDIC writes okurigana after a dot (か.く): show it as か(く)
  showReadings($("kun"), entry ? entry.kun.map((r) => (r.includes(".") ? r.replace(".", "(") + ")" : r)) : []);
  $("stroke-count").textContent = plural(state.ref.stroke_count, "stroke");
  const level = [];
  // KANJIDIC grades: 1-6 school years, 8 secondary school (Jōyō), 9-10 Jinmeiyō (names)
  const grades = { 8: "Jōyō secondary", 9: "Jinmeiyō", 10: "Jinmeiyō" };
  if (entry && entry.grade) level.push(grades[entry.grade] || `School grade ${entry.grade}`);
  if (entry && entry.jlpt) level.push(`JLPT ${entry.jlpt}`);
  $("level").textContent = level.join(" · ");
}

export function showProgress() {
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

// the writing actions are enabled only when they would do something
export function updateActions() {
  const writing = state.ref !== null && $("summary").hidden;
  const left = writing && state.accepted.length < state.ref.stroke_count;
  const shownInPlace = left && state.hintAt === state.accepted.length;
  $("hint").disabled = !left || shownInPlace || state.busy;
  $("order").disabled = state.ref === null;
  $("restart").disabled = state.ref === null;
  // in practice every stroke drawn is part of the review (but in exam mode none was graded yet)
  const takeBack = state.set !== "practice" || state.exam;
  $("undo").disabled = !writing || !takeBack || !state.accepted.length || state.busy;
  $("done").hidden = !state.exam;
  $("done").disabled = !writing || !state.log.length || state.busy;
  $("skip").disabled = state.set === "practice" && state.ref === null;
}
