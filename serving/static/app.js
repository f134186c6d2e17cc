// Kanji Write writing demo: write a kanji from memory, graded stroke by stroke by /v1/score.
// ES modules, no build step (js/): state.js holds the one state object.
import { $, state } from "./js/state.js";
import { api } from "./js/api.js";
import { drawGrid, guideLevel, setupCanvas } from "./js/draw.js";
import { setupInput } from "./js/input.js";
import { say, updateActions } from "./js/page.js";
import { nextPractice } from "./js/practice.js";
import { loadKanji, nextKanji, strokesOnCanvas } from "./js/writing.js";

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
  for (const id of ["practice-bar", "practice-tools"]) $(id).hidden = name !== "practice";
  updateActions();
}

async function start() {
  setupCanvas($("ink"));
  drawGrid();
  updateActions();
  setupInput(chooseSet);
  [state.contract, state.info] = await Promise.all([api("/v1/contract"), api("/static/kanji-info.json")]);
  state.strictness = state.contract.default_strictness;
  state.revealAfter = state.contract.misses_before_hint;
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

// the page's state and a few functions, for the browser tests and the console
window.kanjiwrite = { state, say, drawGrid, guideLevel, strokesOnCanvas };

start();
