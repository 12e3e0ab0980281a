// Credit matrix: the borrower page's card (components, weights, contributions, reasons)
// and the names the portfolio sorts and filters by.

import { cardsOnNarrow, el, pct } from "./format.js";
import { markStaleScore, NO_SCORE, noScore } from "./state-age.js";

export const COMPONENTS = ["collateral", "operations", "conduct", "behaviour", "repayment", "outcome_model"];

export function componentLabel(name) {
  return name.replaceAll("_", " ");
}

// state: the borrower's `live_state`. With none sent yet (`serve --nats`) only the
// segment and the weights are known; the scores (null), weights used and reasons are not.
export function matrixCard(m, state) {
  const box = el("section", "card");
  box.id = "credit-matrix";
  box.appendChild(el("h3", null, "Credit matrix"));
  const unscored = noScore(state, m.score);
  const big = el("div", "big-score");
  if (unscored) big.append(el("span", "score-value none", NO_SCORE), el("span", "unit", " no live score yet · segment " + m.segment));
  else {
    const value = el("span", "score-value", m.score.toFixed(1));
    const age = el("span", "unit score-age");
    big.append(value, el("span", "unit", " / 100 · segment " + m.segment), age);
    markStaleScore(value, age, state);
  }
  box.appendChild(big);
  const table = el("table", "data matrix");
  const hr = el("tr");
  for (const [label, cls] of [["component", ""], ["score", "num"], ["weight", "num"], ["weight used", "num"],
    ["contribution", "num"], ["reasons", ""]]) {
    hr.appendChild(el("th", cls, label));
  }
  table.appendChild(el("thead", null, undefined, hr));
  const body = el("tbody");
  for (const c of m.components) {
    const tr = el("tr", c.has_data && !unscored ? null : "no-data");
    tr.dataset.component = c.component;
    const reasons = el("ul", "reasons-list");
    for (const r of c.reasons) reasons.appendChild(el("li", null, r));
    tr.append(
      el("td", null, componentLabel(c.component)),
      el("td", "num", unscored ? NO_SCORE : c.has_data ? c.score.toFixed(1) + " / 100" : "no data"),
      el("td", "num", pct(c.weight, 0)),
      el("td", "num", unscored ? NO_SCORE : pct(c.weight_used, 0)),
      el("td", "num", unscored ? NO_SCORE : c.contribution.toFixed(1) + " points"),
      unscored ? el("td", "reasons-cell") : el("td", "reasons-cell", undefined, reasons),
    );
    body.appendChild(tr);
  }
  table.appendChild(body);
  box.appendChild(cardsOnNarrow(table));
  if (unscored) box.appendChild(el("p", "footnote matrix-note", NO_SCORE + " not known until the borrower's risk worker sends its first state; the weights are the rules file's."));
  else for (const note of m.notes) box.appendChild(el("p", "footnote matrix-note", note));
  return box;
}
