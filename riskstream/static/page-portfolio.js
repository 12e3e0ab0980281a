// Portfolio: borrowers ranked by risk, with coverage, open alerts, exposure and
// exposure at risk; a row opens the borrower page.

import { cardsOnNarrow, duration, el, money, moneyShort, pct, utc } from "./format.js";
import { pageTime, refreshOnAlerts, updatedNote } from "./live.js";
import { COMPONENTS, componentLabel } from "./matrix.js";
import { NO_SCORE, noScore, noState, onStateAge } from "./state-age.js";

// the sort and component filter chosen, kept across live refreshes
const view = { sort: "score", component: "", min: 0 };

// A borrower no risk worker has sent yet (`serve --nats`) has no score: the API gives
// null, shown as "—" in no risk colour, never as a low 0.
function noScoreFigure(td) {
  td.append(el("span", "score-value none", NO_SCORE), el("span", "unit", " no live score yet"));
}

function band(score) {
  return score >= 60 ? "high" : score >= 30 ? "medium" : "low";
}

// Behind `serve --nats` a score is the state a risk worker sent. Once that state is older
// than the API's `stale_after_s` the row says so ("STALE · sent 5 min ago", its age
// counting up from the sending while the page stays open, as the borrower page's banner
// does) and its scores turn grey: real, but old. `greyed`: [node, its band class or null].
function markStale(tr, scoreCell, state, greyed, notLive) {
  const mark = el("div", "stale-mark");
  mark.title = "the borrower's risk worker may be down: this score is not live";
  onStateAge(tr, state, ({ stale, age }) => {
    for (const [node, cls] of greyed) {
      if (cls) node.classList.toggle(cls, !stale);
      node.classList.toggle("stale", stale);
    }
    const text = "STALE · sent " + duration(age) + " ago";
    if (stale && mark.textContent !== text) mark.textContent = text;
    if (stale && mark.parentNode !== scoreCell) scoreCell.appendChild(mark);
    if (!stale) mark.remove();
    notLive(stale);
  });
}

function scoreCell(item) {
  const td = el("td", "num score-cell");
  if (noScore(item.live_state, item.score)) {
    noScoreFigure(td);
    td.appendChild(el("div", "stale-mark", "NOT LIVE · no state sent yet"));
    td.lastChild.title = "no risk worker has sent this borrower's state yet: it has no score";
    return td;
  }
  const cls = band(item.score);
  const bar = el("span", "bar");
  const fill = el("span", "fill " + cls);
  fill.style.width = Math.max(2, Math.min(100, item.score)) + "%";
  bar.appendChild(fill);
  td.append(el("span", "score-value " + cls, item.score.toFixed(1)), el("span", "unit", " / 100"), bar);
  return td;
}

function coverageCell(coverage, worst, state) {
  const td = el("td", "num");
  if (noState(state)) {
    td.appendChild(el("span", "no-value", NO_SCORE + " no live state"));
    return td;
  }
  if (coverage === null) {
    td.appendChild(el("span", "muted", "not weighed"));
    return td;
  }
  const cls = coverage < 0.9 ? "bad" : coverage < 1 ? "warn" : "ok";
  td.appendChild(el("span", "coverage " + cls, pct(coverage, 1)));
  if (worst !== null && Math.abs(worst - coverage) > 0.005) {
    td.appendChild(el("div", "sub-figure", "worst lot " + pct(worst, 0)));
  }
  return td;
}

function alertsCell(counts) {
  const td = el("td", "alerts-cell");
  if (counts.total === 0) {
    td.appendChild(el("span", "muted", "none"));
    return td;
  }
  for (const sev of ["critical", "warning", "info"]) {
    if (counts[sev]) td.appendChild(el("span", "count-badge " + sev, counts[sev] + " " + sev));
  }
  return td;
}

function moneyCell(exposures, field, withShare, unknown = false) {
  const td = el("td", "num money");
  if (exposures.length === 0) td.textContent = "–";
  if (unknown) {
    td.appendChild(el("span", "no-value", NO_SCORE + " no live state"));
    return td;
  }
  for (const e of exposures) {
    const line = el("div", null, money(e[field], e.currency));
    if (field === "exposure_at_risk" && e[field] > 0) line.className = "at-risk";
    td.appendChild(line);
    if (withShare && e.principal > 0 && e[field] > 0) {
      td.appendChild(el("div", "sub-figure", pct(e[field] / e.principal, 1) + " of exposure"));
    }
  }
  return td;
}

function matrixCell(item) {
  const td = el("td", "num matrix-cell");
  if (noScore(item.live_state, item.matrix_score)) {
    noScoreFigure(td);
    td.appendChild(el("div", "sub-figure", "segment " + item.segment));
    return td;
  }
  td.appendChild(el("span", "score-value", item.matrix_score.toFixed(1)));
  td.appendChild(el("span", "unit", " / 100"));
  const shown = view.component || (COMPONENTS.includes(view.sort) ? view.sort : "");
  if (shown) {
    const part = item.component_scores[shown];
    td.appendChild(el("div", "sub-figure", componentLabel(shown) + " " + (part === null ? "no data" : part.toFixed(1) + " / 100")));
  } else {
    td.appendChild(el("div", "sub-figure", "segment " + item.segment));
  }
  return td;
}

function controls(section) {
  const bar = el("form", "portfolio-controls");
  const sort = el("select");
  sort.id = "portfolio-sort";
  for (const [value, label] of [["score", "risk score"], ["matrix", "credit matrix"], ...COMPONENTS.map((c) => [c, componentLabel(c)]),
    ["exposure_at_risk", "exposure at risk"], ["coverage", "coverage"], ["open_alerts", "open alerts"]]) {
    const option = el("option", null, label);
    option.value = value;
    sort.appendChild(option);
  }
  sort.value = view.sort;
  const component = el("select");
  component.id = "portfolio-component";
  const any = el("option", null, "any component");
  any.value = "";
  component.appendChild(any);
  for (const c of COMPONENTS) {
    const option = el("option", null, componentLabel(c));
    option.value = c;
    component.appendChild(option);
  }
  component.value = view.component;
  const min = el("input");
  min.id = "portfolio-component-min";
  min.type = "number";
  min.min = "0";
  min.max = "100";
  min.step = "1";
  min.value = String(view.min);
  const apply = () => {
    view.sort = sort.value;
    view.component = component.value;
    const n = Number(min.value);
    view.min = Number.isFinite(n) ? Math.max(0, Math.min(100, n)) : 0;
    renderPortfolio(section);
  };
  sort.addEventListener("change", apply);
  component.addEventListener("change", apply);
  min.addEventListener("change", apply);
  bar.addEventListener("submit", (e) => { e.preventDefault(); apply(); });
  bar.append(el("label", null, "sort by "), sort, el("label", null, " · only "), component,
    el("label", null, " ≥ "), min, el("span", "unit", " / 100"));
  return bar;
}

function query() {
  const params = new URLSearchParams({ limit: "1000", sort: view.sort });
  if (view.component) {
    params.set("component", view.component);
    params.set("component_min", String(view.min));
  }
  return "/api/portfolio?" + params.toString();
}

// notLive(borrowerId, stale): told at once and at every tick whether a sent state is stale
function row(item, notLive) {
  const unscored = noState(item.live_state);
  const tr = el("tr", "clickable");
  tr.dataset.borrowerRow = item.borrower_id;
  tr.tabIndex = 0;
  const open = () => { location.hash = "#/borrower/" + encodeURIComponent(item.borrower_id); };
  tr.addEventListener("click", open);
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  const who = el("td", "who-cell");
  const link = el("a", "borrower-link", item.name || item.borrower_id);
  link.href = "#/borrower/" + encodeURIComponent(item.borrower_id);
  who.append(link, el("div", "sub-figure", item.borrower_id + (item.industry ? " · " + item.industry : "")));
  const score = scoreCell(item);
  const matrix = matrixCell(item);
  tr.append(
    el("td", "num rank", String(item.rank)),
    who,
    score,
    matrix,
    coverageCell(item.coverage, item.worst_lot_coverage, item.live_state),
    alertsCell(item.open_alerts),
    moneyCell(item.exposure, "principal", false),
    moneyCell(item.exposure, "exposure_at_risk", true, unscored),
    unscored ? el("td", "reason muted-cell", "no risk worker has scored this borrower yet")
      : el("td", "reason", readable(item.reasons.length > 1 ? item.reasons[1] : item.reasons[0] || "")),
  );
  if (!noScore(item.live_state, item.score)) {
    const cls = band(item.score);
    const greyed = [[score.querySelector(".score-value"), cls], [score.querySelector(".fill"), cls]];
    if (!noScore(item.live_state, item.matrix_score)) greyed.push([matrix.querySelector(".score-value"), null]);
    markStale(tr, score, item.live_state, greyed, (stale) => notLive(item.borrower_id, stale));
  }
  return tr;
}

// "inventory_below_pledge" reads "inventory below pledge"
function readable(text) {
  return text.replace(/\b[a-z]+(?:_[a-z]+)+\b/g, (word) => word.replaceAll("_", " "));
}

function tile(label, value, note, cls) {
  const box = el("div", "tile" + (cls ? " " + cls : ""));
  box.append(el("span", "label", label), el("span", "value", value));
  if (note) box.appendChild(el("span", "note", note));
  return box;
}

export async function renderPortfolio(section) {
  const { api } = window.riskstream;
  const page = await api(query());
  const head = el("div", "page-head");
  const marker = portfolioMarker(page);
  head.append(
    el("h2", null, "Portfolio"),
    el("span", "sub", page.total + " borrowers ranked by " + (view.sort === "score" ? "risk score" : componentLabel(view.sort)) + " · event time " + utc(page.event_time) + " UTC"),
    marker.node,
  );
  section.dataset.fromCluster = fromCluster(page) ? "1" : "";
  const tiles = el("div", "tiles");
  for (const t of page.totals) {
    tiles.append(
      tile("exposure", moneyShort(t.principal, t.currency), "sum of loan principals"),
      tile("exposure at risk", moneyShort(t.exposure_at_risk, t.currency),
        t.principal > 0 ? pct(t.exposure_at_risk / t.principal, 1) + " of exposure" : "", "on-hand" + (t.exposure_at_risk > 0 ? " crit" : "")),
      tile("collateral on hand", moneyShort(t.value_on_hand, t.currency),
        "of " + moneyShort(t.pledged_value, t.currency) + " pledged (weighed lots)", "on-hand"),
      tile("value shortfall", moneyShort(t.value_shortfall, t.currency), "goods missing × unit value", "on-hand" + (t.value_shortfall > 0 ? " warn" : "")),
    );
  }
  const unscored = page.items.filter((item) => noState(item.live_state)).length;
  if (unscored) {
    // their on-hand figures are not known: they add nothing to these sums
    const without = "without " + unscored + (unscored === 1 ? " borrower" : " borrowers") + " not live yet";
    for (const box of tiles.querySelectorAll(".tile.on-hand")) box.appendChild(el("span", "note no-value", without));
  }
  const c = page.open_alerts;
  tiles.append(tile("open alerts", String(c.total), c.critical + " critical · " + c.warning + " warning · " + c.info + " info", c.critical ? "crit" : ""));
  const table = el("table", "data portfolio");
  table.id = "portfolio-table";
  const thead = el("thead");
  const hr = el("tr");
  for (const [label, cls] of [["#", "num"], ["borrower", ""], ["risk score", "num"], ["credit matrix", "num"], ["coverage", "num"],
    ["open alerts", ""], ["exposure", "num"], ["exposure at risk", "num"], ["main reason", ""]]) {
    hr.appendChild(el("th", cls, label));
  }
  thead.appendChild(hr);
  const tbody = el("tbody");
  tbody.append(...page.items.map((item) => row(item, marker.notLive)));
  table.append(thead, tbody);
  cardsOnNarrow(table);
  const note = el("p", "footnote",
    "Coverage: value on hand of the weighed lots / their pledged value. Exposure at risk per loan: " +
    "principal × (1 − min(coverage, 1)). Lots that are not weighed (vehicles, machines) are watched by alerts, not by coverage.");
  section.replaceChildren(head, tiles, controls(section), table, note);
}

// scores a cluster's risk workers sent (`serve --nats`), not this process's engine
function fromCluster(page) {
  return page.items.some((item) => item.live_state && item.live_state.source !== "engine");
}

// When the page loaded its figures: green only while every score on it is live. The
// count of scores not live follows the rows' ticks: a state that ages past stale on
// screen counts at once. notLive(borrowerId, stale) is what the rows call.
function portfolioMarker(page) {
  const node = el("span", "live-note");
  if (!fromCluster(page)) {
    node.textContent = "live · " + updatedNote();
    return { node, notLive: () => {} };
  }
  const updated = "page " + updatedNote();
  const checked = "page checked " + pageTime();
  const stale = new Set(page.items.filter((item) => noState(item.live_state)).map((item) => item.borrower_id));
  const n = page.items.length;
  const show = () => {
    node.classList.toggle("not-live", stale.size > 0);
    const text = stale.size ? checked + " · " + stale.size + " of " + n + (n === 1 ? " score" : " scores") + " not live" : updated;
    if (node.textContent !== text) node.textContent = text;
  };
  show();
  return {
    node,
    notLive: (borrowerId, isStale) => {
      if (isStale === stale.has(borrowerId)) return;
      if (isStale) stale.add(borrowerId);
      else stale.delete(borrowerId);
      show();
    },
  };
}

// a new or changed alert re-ranks the portfolio (at most every 2 s, while shown)
const refreshPortfolio = refreshOnAlerts("page-portfolio", () => true, (section) => renderPortfolio(section));

// behind `serve --nats` the scores change without alerts: fetched again every 10 s
const STATE_REFRESH_MS = 10000;
setInterval(() => {
  if (document.getElementById("page-portfolio")?.dataset.fromCluster === "1") refreshPortfolio();
}, STATE_REFRESH_MS);
