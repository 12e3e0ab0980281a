// Where a borrower page's engine figures come from and how old they are. Behind
// `serve --nats` they are the state the borrower's risk worker last sent; a state older
// than the API's `stale_after_s` means that worker may be down, and the page says so
// plainly, so a stale score is never taken for a live one. A borrower no worker has sent
// yet has no score at all: the API's figures for it are placeholders, shown as "—".

import { duration, el } from "./format.js";
import { pageTime, updatedNote } from "./live.js";

const TICK_MS = 1000;
const DISCARDED_AFTER_MS = 60000;
export const NO_SCORE = "—";

// The age grows on screen from the API's `age_s` by the browser's monotonic clock, so
// a page left open does not keep saying "12 s ago"; the browser's wall clock (which may
// differ from the servers') plays no part.
function ageAt(state, fetchedAt) {
  return state.age_s + (performance.now() - fetchedAt) / 1000;
}

// one process's own engine (`serve`, `demo`): live, as it always was
export function fromEngine(state) {
  return !state || state.source === "engine";
}

// behind `serve --nats`, no risk worker has sent this borrower yet: the API gives it no
// score (null) and its coverage figures are placeholders, not computed values
export function noState(state) {
  return !fromEngine(state) && (state.source !== "risk_worker" || state.age_s === null);
}

// no score to show: none sent yet, or the API gave none (null)
export function noScore(state, score) {
  return noState(state) || score === null || score === undefined;
}

// Calls show({ stale, age }) now and every second while `node` is on the page (or until
// a refresh that never reached the page is discarded).
function ticking(node, state, show) {
  const fetchedAt = performance.now();
  const update = () => {
    const age = ageAt(state, fetchedAt);
    show({ stale: state.stale_after_s !== null && age > state.stale_after_s, age });
  };
  update();
  let wasShown = false;
  const timer = setInterval(() => {
    if (node.isConnected) wasShown = true;
    else if (wasShown || performance.now() - fetchedAt > DISCARDED_AFTER_MS) clearInterval(timer);
    update();
  }, TICK_MS);
}

// For a state a risk worker sent: calls show({ stale, age }) now and every second while
// `node` is on the page, with the age counted from the state's sending as the banner
// counts it. Nothing for one process's engine or a borrower with no state sent.
export function onStateAge(node, state, show) {
  if (fromEngine(state) || noState(state)) return;
  ticking(node, state, show);
}

// The page-head note (and, when stale, a banner) for `state`; null for one process's
// own engine (the page is live as it always was).
export function stateAgeNote(state) {
  if (fromEngine(state)) return null;
  if (noState(state)) {
    const note = el("div", "state-age stale", "NOT LIVE · no risk worker has sent this borrower's state yet: "
      + "there is no live score, matrix or coverage to show.");
    note.id = "state-age";
    note.setAttribute("role", "status");
    return note;
  }
  const note = el("div", "state-age");
  note.id = "state-age";
  note.setAttribute("role", "status");
  note.dataset.source = state.source;
  const line = el("span", "state-age-text");
  const hint = el("span", "state-age-hint");
  note.append(line, hint);
  ticking(note, state, ({ stale, age }) => {
    const text = "from risk worker " + state.worker + ", " + duration(age) + " ago";
    note.classList.toggle("stale", stale);
    note.dataset.stale = String(stale);
    line.textContent = stale ? "STALE · " + text : text;
    hint.textContent = stale ? " Older than " + duration(state.stale_after_s) + ": this borrower's risk worker "
      + "may be down. The score, coverage and matrix below are as it last sent them, not live." : "";
  });
  return note;
}

// The page head's marker of when the page loaded its figures. Green only while they are
// live; for a stale state or none it says what the time is and how old the state is.
export function pageMarker(state) {
  if (fromEngine(state)) return el("span", "live-note", "live · " + updatedNote());
  const checked = "page checked " + pageTime();
  if (noState(state)) return el("span", "live-note not-live", checked + " · no state yet");
  const updated = "page " + updatedNote(); // when it loaded, not the time of each tick
  const marker = el("span", "live-note");
  ticking(marker, state, ({ stale, age }) => {
    marker.classList.toggle("not-live", stale);
    marker.textContent = stale ? checked + " · state " + duration(age) + " old" : updated;
  });
  return marker;
}

// Greys `value` (a score) once the state is stale and says its age in `ageNote`.
export function markStaleScore(value, ageNote, state) {
  onStateAge(value, state, ({ stale, age }) => {
    value.classList.toggle("stale", stale);
    ageNote.textContent = stale ? " · sent " + duration(age) + " ago, not live" : "";
  });
}
