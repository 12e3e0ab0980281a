// A borrower no risk worker has sent yet (`serve --nats`): the API gives it no score
// (null) and the on-hand figures of a borrower without data (nothing on hand). Those are
// placeholders, not computed values, so the borrower page shows "—" and says why instead.

import { el, money } from "./format.js";
import { NO_SCORE } from "./state-age.js";

// the score card's figure: no number, no risk colour
export function noScoreFigures() {
  const big = el("div", "big-score");
  big.append(el("span", "score-value none", NO_SCORE), el("span", "unit", " no live score yet"));
  return [big, el("div", "sub-figure", "no risk worker has scored this borrower yet")];
}

// The exposure card's content: the loans are the registry's, what is on hand comes with
// the first state.
export function unknownExposure(d) {
  const dl = el("dl", "figures");
  const add = (label, value, cls) => dl.append(el("dt", null, label), el("dd", cls || null, value));
  for (const e of d.exposure) {
    add("exposure (" + e.currency + ")", money(e.principal, e.currency));
    for (const label of ["pledged value, weighed lots", "value on hand", "coverage", "value shortfall", "exposure at risk"]) {
      add(label, NO_SCORE, "no-value");
    }
  }
  const loans = d.loans.map((l) => "loan " + l.id + ": " + money(l.principal, l.currency)).join(" · ");
  return [dl, el("p", "sub-figure", NO_SCORE + " not known until a risk worker sends this borrower's state"),
    el("div", "sub-figure", loans)];
}

// what an over-time chart shows until there is a first point
export function noHistoryYet(what) {
  return el("p", "muted", "No " + what + " yet: it starts with the first state a risk worker sends.");
}
