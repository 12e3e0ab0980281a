// Credit matrix: the borrower page's card (components, weights, contributions, reasons)
// and the names the portfolio sorts and filters by.

import { cardsOnNarrow, el, pct } from "./format.js";

export const COMPONENTS = ["collateral", "operations", "conduct", "behaviour", "repayment", "outcome_model"];

export function componentLabel(name) {
  return name.replaceAll("_", " ");
}

export function matrixCard(m) {
  const box = el("section", "card");
  box.id = "credit-matrix";
  box.appendChild(el("h3", null, "Credit matrix"));
  const big = el("div", "big-score");
  big.append(el("span", "score-value", m.score.toFixed(1)), el("span", "unit", " / 100 · segment " + m.segment));
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
    const tr = el("tr", c.has_data ? null : "no-data");
    tr.dataset.component = c.component;
    const reasons = el("ul", "reasons-list");
    for (const r of c.reasons) reasons.appendChild(el("li", null, r));
    tr.append(
      el("td", null, componentLabel(c.component)),
      el("td", "num", c.has_data ? c.score.toFixed(1) + " / 100" : "no data"),
      el("td", "num", pct(c.weight, 0)),
      el("td", "num", pct(c.weight_used, 0)),
      el("td", "num", c.contribution.toFixed(1) + " points"),
      el("td", "reasons-cell", undefined, reasons),
    );
    body.appendChild(tr);
  }
  table.appendChild(body);
  box.appendChild(cardsOnNarrow(table));
  for (const note of m.notes) box.appendChild(el("p", "footnote matrix-note", note));
  return box;
}
