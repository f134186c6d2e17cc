// The demo's one state object (everything the page knows), and its elements by id.

export const $ = (id) => document.getElementById(id);

export const state = {
  contract: null, // GET /v1/contract: labels, sizes, misses before a hint, default strictness
  info: null, // KANJIDIC2 table: {kanji, sets, set_labels}
  set: "grade-1",
  queue: [],
  kanji: null,
  ref: null, // /v1/kanji/{kanji}
  // strokes are kept in canvas units (0..1 of the square canvas's side), so that a resize or
  // a rotation redraws them in place; they are sent in pixels of the current canvas
  accepted: [], // strokes accepted so far
  acceptedAs: [], // the reference stroke each was accepted as (expected_index), for settled_as
  current: null, // the stroke being drawn
  pointerId: null, // the one pointer drawing it (a second finger or the palm is ignored)
  pending: [], // strokes finished while a verdict was on its way, graded in turn
  misses: [], // misses per reference position
  hinted: [], // per reference position: the stroke was shown (a hint, or after misses)
  busy: false,
  round: 0, // counts the starts of a kanji: a verdict that arrives after a retry is dropped
  animation: null, // the animation running: {frame or timer, base: what it draws over}
  log: [], // every stroke drawn for this kanji in this page, wrong ones included
  claimed: 0, // strokes counted right on the learner's word ("I was right")
  rejected: null, // the last rejected stroke, which the learner may claim right
  hintAt: null, // the position whose stroke stays shown in place (after a hint or a miss)
  aids: { hints: 0, order: false, guide: "none" }, // help used in this attempt (the rating)
  revealAfter: 3, // misses on a stroke before it is revealed (the learner's setting)
  attemptId: null, // the client's id for this card's review (a retried request is stored once)
  startedAt: 0,
  // daily practice: the server keeps the attempt in progress (the first try of the day)
  token: localStorage.getItem("kanjiwrite-token"), // the learner's bearer token (never in a URL)
  attempt: false, // this card's strokes are graded by its attempt in progress (not reviewed yet)
  exam: false, // exam mode: no verdicts until the review
  verdicts: [], // exam mode: the review's verdict of every stroke
  reviewed: false, // this card's review is recorded: a retry is practice, not a second review
  skipped: new Set(), // practice cards skipped this session
  strictness: null, // the learner's setting (practice), else the contract's default
  reps: {}, // reviews so far of the kanji in today's queue (the tracing guide's level)
  more: 0, // "study more": extra new kanji today
  settingsLoaded: false,
};

// a fresh attempt at the loaded kanji: nothing drawn, no help used
export function resetAttempt() {
  const count = state.ref.stroke_count;
  Object.assign(state, {
    accepted: [],
    acceptedAs: [],
    current: null,
    pointerId: null,
    pending: [],
    misses: new Array(count).fill(0),
    hinted: new Array(count).fill(false),
    log: [],
    claimed: 0,
    rejected: null,
    hintAt: null,
    aids: { hints: 0, order: false, guide: "none" },
    exam: false,
    verdicts: [],
    startedAt: performance.now(),
  });
}
