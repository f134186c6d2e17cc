// Input: the pointer on the writing canvas (one pointer at a time), buttons, forms, keys.
import { $, state } from "./state.js";
import { cancelAnimation, drawGrid, redraw, setupCanvas } from "./draw.js";
import { addToDeck, saveSettings, studyMore } from "./practice.js";
import {
  askHint, finishExam, loadKanji, nextKanji, overrule, retry, showGuide, showOrder, showOverrule, submitStroke, undo,
} from "./writing.js";

// a pointer position in canvas units, clamped to the canvas (a finger may slide off it)
function pointFrom(event) {
  const box = $("ink").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
}

function setupPointer() {
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
}

function submitted(id, handler) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    handler();
  });
}

// every button and its key (a key does what its button does, and nothing when it is disabled)
const BUTTONS = {
  hint: ["h", askHint],
  order: ["s", showOrder],
  restart: ["r", retry],
  undo: ["u", undo],
  skip: ["n", nextKanji],
  done: ["d", finishExam],
  overrule: [null, overrule],
  next: [null, nextKanji],
  again: [null, retry],
  replay: [null, showOrder],
  more: [null, studyMore],
};

export function setupInput(chooseSet) {
  setupPointer();
  for (const [id, [, action]] of Object.entries(BUTTONS)) $(id).addEventListener("click", action);
  $("guide").addEventListener("change", () => {
    showGuide();
    localStorage.setItem("kanjiwrite-guide", $("guide").value);
  });
  submitted("settings-form", saveSettings);
  submitted("deck-form", addToDeck);
  submitted("typed-form", () => {
    const kanji = $("typed").value.trim();
    if (kanji) loadKanji(kanji);
  });
  $("set").addEventListener("change", (event) => {
    chooseSet(event.target.value);
    localStorage.setItem("kanjiwrite-set", event.target.value);
    state.queue = [];
    nextKanji();
  });
  const keys = Object.fromEntries(Object.entries(BUTTONS).filter(([, [key]]) => key).map(([id, [key]]) => [key, id]));
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return; // the browser's shortcuts
    const id = keys[event.key.toLowerCase()];
    if (id && !$(id).disabled && !$(id).closest("[hidden]")) {
      event.preventDefault();
      BUTTONS[id][1]();
    }
  });
  window.addEventListener("resize", () => {
    setupCanvas($("ink"));
    drawGrid();
    redraw(); // strokes are in canvas units: they keep their place at any size
  });
}
