// Where a borrower page's engine figures come from and how old they are. Behind
// `serve --nats` they are the state the borrower's risk worker last sent; a state older
// than the API's `stale_after_s` means that worker may be down, and the page says so
// plainly, so a stale score is never taken for a live one.

import { duration, el } from "./format.js";

const TICK_MS = 1000;
const DISCARDED_AFTER_MS = 60000;

// The age grows on screen from the API's `age_s` by the browser's monotonic clock, so
// a page left open does not keep saying "12 s ago"; the browser's wall clock (which may
// differ from the servers') plays no part.
function ageAt(state, fetchedAt) {
  return state.age_s + (performance.now() - fetchedAt) / 1000;
}

function describe(state, age) {
  const stale = state.stale_after_s !== null && age > state.stale_after_s;
  const text = "from risk worker " + state.worker + ", " + duration(age) + " ago";
  if (!stale) return { stale, text, hint: "" };
  return {
    stale,
    text: "STALE · " + text,
    hint: "Older than " + duration(state.stale_after_s) + ": this borrower's risk worker may be down. "
      + "The score, coverage and matrix below are as it last sent them, not live.",
  };
}

// The page-head note (and, when stale, a banner) for `state`; null for one process's
// own engine (the page is live as it always was).
export function stateAgeNote(state) {
  if (!state || state.source === "engine") return null;
  if (state.source !== "risk_worker" || state.age_s === null) {
    const note = el("div", "state-age stale", "NOT LIVE · no risk worker has sent this borrower's state yet: "
      + "the figures below are those of a borrower without data.");
    note.id = "state-age";
    note.setAttribute("role", "status");
    return note;
  }
  const fetchedAt = performance.now();
  const note = el("div", "state-age");
  note.id = "state-age";
  note.setAttribute("role", "status");
  note.dataset.source = state.source;
  const line = el("span", "state-age-text");
  const hint = el("span", "state-age-hint");
  note.append(line, hint);
  const show = () => {
    const shown = describe(state, ageAt(state, fetchedAt));
    note.classList.toggle("stale", shown.stale);
    note.dataset.stale = String(shown.stale);
    line.textContent = shown.text;
    hint.textContent = shown.hint ? " " + shown.hint : "";
  };
  show();
  // stops once the note has left the page (or never reached it: a discarded refresh)
  let wasShown = false;
  const timer = setInterval(() => {
    if (note.isConnected) wasShown = true;
    else if (wasShown || performance.now() - fetchedAt > DISCARDED_AFTER_MS) clearInterval(timer);
    show();
  }, TICK_MS);
  return note;
}
