// Borrower page: score and reasons, score and coverage over time, exposure, alert
// timeline with the evidence-window charts of the selected alert, collateral by site.

import { chartWidth, legend, lineChart } from "./charts.js";
import {
  cardsOnNarrow, COORDINATE_DIGITS, DEGREES, duration, el, inMassUnit, isBinary, isMass, kindLabel,
  massUnitFor, measured, money, pct, qty, severityBadge, STATES, stateText, utc,
} from "./format.js";
import { refreshOnAlerts } from "./live.js";
import { siteMap } from "./map.js";
import { matrixCard } from "./matrix.js";
import { fromEngine, markStaleScore, NO_SCORE, noScore, noState, pageMarker, stateAgeNote } from "./state-age.js";
import { noHistoryYet, noScoreFigures, unknownExposure } from "./unscored.js";

const METRIC_UNITS = {
  kg: "kg", t: "t", c: "°C", kw: "kW", count: "count", deg: "°", kmh: "km/h", km: "km", pct: "%", mms: "mm/s", a: "A",
};

export function unitOf(metric) {
  const suffix = metric.includes("_") ? metric.slice(metric.lastIndexOf("_") + 1) : "";
  return METRIC_UNITS[suffix] || "";
}

function metricLabel(metric) {
  if (isBinary(metric)) return STATES[metric][0];
  const unit = unitOf(metric);
  const base = unit ? metric.slice(0, metric.lastIndexOf("_")) : metric;
  return base.replaceAll("_", " ");
}

function card(title, ...children) {
  const box = el("section", "card");
  if (title) box.appendChild(el("h3", null, title));
  box.append(...children);
  return box;
}

function steps(points, end) {
  const out = [];
  points.forEach((p, i) => {
    if (i > 0) out.push([p.ts, points[i - 1].value]);
    out.push([p.ts, p.value]);
  });
  if (points.length && end > points[points.length - 1].ts) out.push([end, points[points.length - 1].value]);
  return out;
}

function scoreCard(d) {
  const reasons = el("ul", "reasons-list");
  let shown;
  if (noScore(d.live_state, d.score)) shown = noScoreFigures(); // the API's score is null
  else {
    const band = d.score >= 60 ? "high" : d.score >= 30 ? "medium" : "low";
    const value = el("span", "score-value " + band, d.score.toFixed(1));
    const big = el("div", "big-score", undefined, value, el("span", "unit", " / 100 borrower risk score"));
    const age = el("span", "score-age");
    markStaleScore(value, age, d.live_state);
    shown = [big, el("div", "sub-figure", "as of " + utc(d.computed_at) + " UTC (event time)", age)];
    for (const r of d.reasons) reasons.appendChild(el("li", null, r));
  }
  const box = card("Borrower risk score", ...shown, reasons);
  // the one explanation of both scores, as on the live feed
  const legend = document.getElementById("score-legend");
  if (legend) {
    const copy = legend.cloneNode(true);
    copy.id = "score-legend-borrower";
    copy.open = false;
    box.appendChild(copy);
  }
  return box;
}

function exposureCard(d) {
  const dl = el("dl", "figures");
  const add = (label, value, cls) => dl.append(el("dt", null, label), el("dd", cls || null, value));
  if (noState(d.live_state)) return card("Exposure", ...unknownExposure(d));
  for (const e of d.exposure) {
    add("exposure (" + e.currency + ")", money(e.principal, e.currency));
    add("pledged value, weighed lots", money(e.pledged_value, e.currency));
    add("value on hand", money(e.value_on_hand, e.currency));
    add("coverage", e.pledged_value > 0 ? pct(e.value_on_hand / e.pledged_value, 1) : "not weighed");
    add("value shortfall", money(e.value_shortfall, e.currency), e.value_shortfall > 0 ? "warn" : "");
    add("exposure at risk", money(e.exposure_at_risk, e.currency), e.exposure_at_risk > 0 ? "at-risk" : "");
  }
  const loans = el("div", "sub-figure", d.loans.map((l) => "loan " + l.id + ": " + money(l.principal, l.currency)).join(" · "));
  return card("Exposure", dl, loans);
}

// the history, in time order and inside the window, ends on the score shown above it,
// so chart and figure agree
function withCurrent(d) {
  const points = d.score_history.filter((p) => p.ts <= d.window_end).sort((a, b) => a.ts - b.ts);
  const last = points[points.length - 1];
  if (d.score !== null && d.computed_at !== null && (!last || d.computed_at >= last.ts)) points.push({ ts: d.computed_at, value: d.score });
  return points;
}

function historyCharts(d) {
  const unscored = noState(d.live_state);
  // from the first figure on record (or the window start), not a day of empty axis
  const times = [...withCurrent(d).map((p) => p.ts), ...d.coverage_history.flatMap((s) => s.points.map((p) => p.ts))];
  const start = times.length ? Math.max(d.window_start, Math.min(...times)) : d.window_start;
  const score = lineChart({
    title: "borrower risk score", unit: "points of 100", start, end: d.window_end, yMin: 0, yMax: 100, width: chartWidth(),
    series: [{ label: "score", points: steps(withCurrent(d), d.window_end) }],
  });
  const series = d.coverage_history.map((s) => ({
    label: "lot " + s.collateral_id, points: s.points.map((p) => [p.ts, p.value * 100]),
  }));
  const coverage = lineChart({
    title: "coverage", unit: "% of pledge", start, end: d.window_end, series, width: chartWidth(),
    thresholds: [{ value: 100, label: "pledged" }, { value: d.coverage_alert_below * 100, label: "alert below" }],
  });
  const coverageCard = unscored ? card("Coverage over time", noHistoryYet("coverage history"))
    : series.length ? card("Coverage over time", coverage, legend(series))
      : card("Coverage over time", el("p", "muted", "No weighed collateral: coverage is not measured for this borrower."));
  coverageCard.id = "coverage-chart";
  const scoreBox = card("Borrower risk score over time", unscored ? noHistoryYet("live score") : score);
  scoreBox.id = "score-chart";
  return el("div", "grid-2", undefined, scoreBox, coverageCard);
}

// "alert score 86.4 / 100 · EUR 676,239 at risk, 100 % of the loan" (hover: how).
function alertFigures(alert) {
  const box = el("div", "alert-figures");
  const score = el("span", "alert-score", "alert score " + alert.score.toFixed(1) + " / 100");
  if (alert.score_basis) score.title = alert.score_basis;
  box.appendChild(score);
  if (alert.currency && alert.money_at_risk !== null && alert.money_at_risk !== undefined) {
    const share = alert.exposure && alert.money_at_risk >= alert.exposure ? "the whole loan or more"
      : (alert.money_at_risk_pct || 0) + " % of the loan";
    box.appendChild(el("span", "money-at-risk", " · " + money(alert.money_at_risk, alert.currency) + " at risk, " + share));
  }
  return box;
}

function timelineItem(alert, selected, onSelect) {
  const li = el("li", "tl-item sev-" + alert.severity + (selected ? " selected" : ""));
  li.dataset.alertId = alert.id;
  li.tabIndex = 0;
  const end = alert.resolved_at || alert.updated_at;
  const lasted = end > alert.opened_at ? ", after " + duration(end - alert.opened_at) : "";
  const head = el("div", "tl-head", undefined, severityBadge(alert.severity), el("b", null, " " + kindLabel(alert.kind)),
    el("span", "status " + alert.status, " " + alert.status));
  const when = el("div", "tl-time",
    "opened " + utc(alert.opened_at) + " UTC · " + (alert.status === "resolved"
      ? "resolved " + utc(end) + " UTC" + lasted : "ongoing, last update " + utc(alert.updated_at) + " UTC"));
  li.append(el("span", "tl-dot"), head, when, alertFigures(alert), el("div", "tl-reason", alert.reasons[0] || ""));
  li.addEventListener("click", () => onSelect(alert.id));
  li.addEventListener("keydown", (e) => { if (e.key === "Enter") onSelect(alert.id); });
  return li;
}

const QUANTITY_KEYS = new Set(["on_hand", "pledged_quantity", "quantity"]);

// A figure in the page's units: masses in its one mass unit, coordinates with 5 decimals.
function figure(value, unit, massUnit) {
  const [v, u] = inMassUnit(value, unit, massUnit);
  return isMass(u) ? qty(v, u) : measured(v, u);
}

function evidenceFacts(alert, currency, massUnit) {
  const dl = el("dl", "figures compact");
  const evidence = alert.evidence || {};
  for (const [key, value] of Object.entries(evidence)) {
    if (value === null || typeof value === "object" || key === "ts" || key === "unit") continue;
    let text;
    let label = key;
    if (typeof value !== "number") text = String(value);
    else if (key.includes("coverage")) text = pct(value, 1);
    else if (key.endsWith("_s")) { text = duration(value); label = key.slice(0, -2); }
    else if (key.endsWith("_value")) text = money(value, currency);
    else if (key === "last_seen" || key === "since") text = utc(value) + " UTC";
    else if (QUANTITY_KEYS.has(key) && evidence.unit) text = figure(value, evidence.unit, massUnit);
    else if (isBinary(key)) { text = stateText(key, value); label = "state"; }
    else {
      const unit = unitOf(key);
      text = figure(value, unit, massUnit);
      if (unit) label = key.slice(0, key.lastIndexOf("_"));
    }
    dl.append(el("dt", null, label.replaceAll("_", " ")), el("dd", null, text));
  }
  return dl;
}

// How to draw one evidence series: masses in the page's mass unit, coordinates with 5
// decimals, a binary reading (door, ignition) from its off state (0) to its on state (1).
function evidenceChartOptions(spec, data, win, massUnit) {
  const [, unit] = inMassUnit(1, spec.unit, massUnit);
  const scale = (v) => inMassUnit(v, spec.unit, massUnit)[0];
  const options = {
    title: spec.title, unit, start: win.start, end: win.end, width: chartWidth(),
    series: [{ label: spec.device_id, points: data.points.map((p) => [p.ts, scale(p.value)]) }],
    thresholds: spec.thresholds.map((t) => ({ value: scale(t.value), label: t.label })),
    shade: [win.breach_start, win.breach_end],
  };
  if (unit === DEGREES) options.digits = COORDINATE_DIGITS;
  if (isBinary(spec.metric)) {
    const [name, off, on] = STATES[spec.metric];
    Object.assign(options, {
      title: spec.title === spec.metric.replaceAll("_", " ") ? name : spec.title, unit: "",
      yMin: -0.1, yMax: 1.1, yTicks: [0, 1], yFormat: (v) => (v >= 1 ? on : off),
      labelFormat: (v) => (v <= 0 ? off : v >= 1 ? on : on + " " + Math.round(v * 100) + " % of the time"),
    });
  }
  return options;
}

async function renderEvidence(box, alert, detail) {
  const { api } = window.riskstream;
  const win = await api("/api/alerts/" + encodeURIComponent(alert.id) + "/evidence");
  const currency = detail.loans.length ? detail.loans[0].currency : "";
  const head = el("div", "evidence-head", undefined, severityBadge(alert.severity),
    el("b", null, " " + kindLabel(alert.kind)), el("span", "muted", " · " + alert.subject + " · rule " + alert.rule));
  const reasons = el("ul", "reasons-list");
  for (const r of alert.reasons) reasons.appendChild(el("li", null, r));
  const windowNote = el("p", "sub-figure",
    "Evidence window " + utc(win.start) + " – " + utc(win.end) + " UTC; shaded: breach " +
    utc(win.breach_start) + " – " + utc(win.breach_end) + " UTC (" + duration(win.breach_end - win.breach_start) + ").");
  const charts = el("div", "evidence-charts");
  const jobs = win.charts.map(async (spec) => {
    const q = new URLSearchParams({ metric: spec.metric, start: win.start, end: win.end, points: 240 });
    const data = await api("/api/devices/" + encodeURIComponent(spec.device_id) + "/telemetry?" + q);
    const chart = lineChart(evidenceChartOptions(spec, data, win, detail.massUnit));
    chart.dataset.device = spec.device_id;
    chart.dataset.metric = spec.metric;
    const unitNote = isBinary(spec.metric) ? "share of the time " + STATES[spec.metric][2]
      : "in " + (inMassUnit(1, spec.unit, detail.massUnit)[1] || "units");
    return el("figure", "evidence-chart", undefined, chart,
      el("figcaption", null, spec.device_id + " · " + metricLabel(spec.metric) + " " + unitNote +
        " · mean per " + duration(data.every_s)));
  });
  const tracks = win.track_device_ids.map(async (deviceId) => {
    const q = new URLSearchParams({ start: win.start, end: win.end, limit: 500 });
    const track = await api("/api/devices/" + encodeURIComponent(deviceId) + "/positions?" + q);
    const site = detail.sites.find((s) => s.devices.some((dv) => dv.id === deviceId));
    return el("figure", "evidence-chart", undefined,
      siteMap({ geofence: site ? site.site.geofence : null, tracks: [track], width: chartWidth(), height: 260 }),
      el("figcaption", null, deviceId + " · " + track.positions.length + " GPS fixes in the window"));
  });
  charts.append(...(await Promise.all([...jobs, ...tracks])));
  if (!charts.childElementCount) charts.appendChild(el("p", "muted", "No telemetry series belongs to this alert."));
  box.replaceChildren(el("h3", null, "Evidence"), head, reasons, alertFigures(alert),
    evidenceFacts(alert, currency, detail.massUnit), windowNote, charts);
}

function alertsSection(d, selectedId) {
  const list = el("ol", "timeline");
  list.id = "alert-timeline";
  const evidence = card("Evidence", el("p", "muted", "Select an alert to see the telemetry behind it."));
  evidence.id = "evidence";
  const select = (id) => {
    const alert = d.alerts.find((a) => a.id === id);
    if (!alert) return;
    for (const li of list.children) li.classList.toggle("selected", li.dataset.alertId === id);
    history.replaceState(null, "", "#/borrower/" + encodeURIComponent(d.borrower_id) + "?alert=" + encodeURIComponent(id));
    evidence.replaceChildren(el("h3", null, "Evidence"), el("p", "muted", "loading telemetry…"));
    return renderEvidence(evidence, alert, d).catch((err) => {
      evidence.replaceChildren(el("h3", null, "Evidence"), el("p", "error", "Could not load the evidence: " + err.message));
    });
  };
  list.append(...d.alerts.map((a) => timelineItem(a, a.id === selectedId, select)));
  const title = "Alerts (" + d.alerts_total + ", newest first)";
  const timeline = card(title, d.alerts.length ? list : el("p", "muted", "No alerts for this borrower."));
  const node = el("div", "grid-alerts", undefined, timeline, evidence);
  node.ready = (selectedId && select(selectedId)) || Promise.resolve();
  return node;
}

function readingsText(device, massUnit) {
  if (!device.last_readings.length) return "no readings stored";
  return device.last_readings.map((r) => (isBinary(r.metric) ? stateText(r.metric, r.value)
    : metricLabel(r.metric) + " " + figure(r.value, unitOf(r.metric), massUnit))).join(" · ");
}

// cluster: behind `serve --nats`, { unscored: no state sent yet }. An API process there
// reads no telemetry store, so it does not know the devices' last readings.
function siteBlock(s, lots, eventTime, massUnit, cluster) {
  const unscored = cluster && cluster.unscored;
  const kindName = s.site.kind.replaceAll("_", " ");
  const head = el("div", "site-head", undefined, el("b", null, s.site.name || s.site.id),
    el("span", "muted", " · " + kindName + " · " + s.site.id + (s.site.timezone !== "UTC" ? " · " + s.site.timezone : "")));
  const lotTable = el("table", "data inner");
  lotTable.appendChild(el("thead", null, undefined, el("tr", null, undefined,
    ...["lot", "pledged", "on hand", "coverage", "pledged value", "value on hand"].map((h, i) => el("th", i ? "num" : "", h)))));
  const lotBody = el("tbody");
  for (const id of s.collateral_ids) {
    const c = lots.get(id);
    // with no state sent, "not weighed" would be a guess: nothing has weighed it yet
    const cov = unscored ? NO_SCORE + " no live state" : c.coverage === null ? "not weighed" : pct(c.coverage, 1);
    lotBody.appendChild(el("tr", null, undefined,
      el("td", null, c.id + (c.description ? " · " + c.description : "")),
      el("td", "num", figure(c.quantity, c.unit, massUnit)),
      unscored ? el("td", "num no-value", NO_SCORE) : el("td", "num", c.on_hand === null ? "–" : figure(c.on_hand, c.unit, massUnit)),
      el("td", "num coverage " + (unscored ? "no-value" : c.coverage === null ? "" : c.coverage < 0.9 ? "bad" : c.coverage < 1 ? "warn" : "ok"), cov),
      el("td", "num", money(c.pledged_value, c.currency)),
      unscored ? el("td", "num no-value", NO_SCORE) : el("td", "num", money(c.value_on_hand, c.currency))));
  }
  lotTable.appendChild(lotBody);
  cardsOnNarrow(lotTable);
  const devTable = el("table", "data inner devices");
  devTable.appendChild(el("thead", null, undefined, el("tr", null, undefined,
    ...["device", "kind", "reports every", "last seen (UTC)", "last readings"].map((h) => el("th", null, h)))));
  const devBody = el("tbody");
  for (const dv of s.devices) {
    const age = dv.last_seen !== null && eventTime ? eventTime - dv.last_seen : null;
    const late = age !== null && age > 5 * dv.interval_s;
    devBody.appendChild(el("tr", late ? "late" : null, undefined,
      el("td", null, dv.id), el("td", null, dv.kind.replaceAll("_", " ")), el("td", null, duration(dv.interval_s)),
      cluster ? el("td", "no-value", NO_SCORE)
        : el("td", null, dv.last_seen === null ? "never" : utc(dv.last_seen) + (age !== null ? " (" + duration(Math.max(0, age)) + " before event time)" : "")),
      cluster ? el("td", "no-value", NO_SCORE) : el("td", null, readingsText(dv, massUnit))));
  }
  devTable.appendChild(devBody);
  cardsOnNarrow(devTable);
  const block = el("div", "site-block", undefined, head);
  if (s.collateral_ids.length) block.appendChild(lotTable);
  block.appendChild(s.devices.length ? devTable : el("p", "muted", "No devices at this site."));
  return block;
}

// The page's one mass unit: t when its largest lot or load cell reading is 10 t or more.
function pageMassUnit(d) {
  const kg = d.collateral.filter((c) => isMass(c.unit)).map((c) => inMassUnit(c.quantity, c.unit, "kg")[0]);
  for (const s of d.sites) {
    for (const dv of s.devices) for (const r of dv.last_readings) if (unitOf(r.metric) === "kg") kg.push(r.value);
  }
  return massUnitFor(kg);
}

// Whether the address bar still shows this borrower (a live refresh may finish late).
function showing(borrowerId) {
  const prefix = "#/borrower/" + encodeURIComponent(borrowerId);
  return location.hash === prefix || location.hash.startsWith(prefix + "?");
}

// live: a refresh of the page on screen, built off screen and swapped in when ready.
export async function renderBorrower(section, borrowerId, params, live = false) {
  const { api } = window.riskstream;
  if (!live) {
    section.dataset.borrower = borrowerId;
    section.replaceChildren(el("p", "muted", "loading " + borrowerId + "…"));
  }
  const d = await api("/api/borrowers/" + encodeURIComponent(borrowerId));
  d.massUnit = pageMassUnit(d);
  section.dataset.fromCluster = fromEngine(d.live_state) ? "" : "1";
  const crumbs = el("nav", "crumbs");
  const back = el("a", null, "Portfolio");
  back.href = "#/portfolio";
  crumbs.append(back, el("span", null, " › " + (d.name || d.borrower_id)));
  const head = el("div", "page-head", undefined, el("h2", null, d.name || d.borrower_id),
    el("span", "sub", d.borrower_id + (d.industry ? " · " + d.industry : "") + " · lender " + d.tenant),
    pageMarker(d.live_state));
  const mapLink = el("a", "button-link", "Vehicles and yards on the map");
  mapLink.href = "#/map?borrower=" + encodeURIComponent(d.borrower_id);
  if (d.sites.some((s) => s.site.geofence || s.site.kind === "vehicle" || s.site.kind === "yard")) head.appendChild(mapLink);
  const lots = new Map(d.collateral.map((c) => [c.id, c]));
  const unscored = noState(d.live_state);
  const cluster = fromEngine(d.live_state) ? null : { unscored };
  const sites = card("Collateral, sites and devices", ...d.sites.map((s) => siteBlock(s, lots, unscored ? null : d.computed_at, d.massUnit, cluster)));
  if (cluster && d.sites.some((s) => s.devices.length)) {
    sites.appendChild(el("p", "sub-figure", NO_SCORE + " last seen, last readings: the API processes of a cluster do not read the "
      + "telemetry store (the ingest workers' stores hold them)."));
  }
  sites.id = "collateral";
  const alerts = alertsSection(d, params.get("alert"));
  const parts = [crumbs, head, stateAgeNote(d.live_state), el("div", "grid-2", undefined, scoreCard(d), exposureCard(d)), matrixCard(d.matrix, d.live_state),
    historyCharts(d), alerts, sites].filter(Boolean);
  if (!live) {
    section.replaceChildren(...parts);
    return;
  }
  await alerts.ready;
  if (!showing(borrowerId) || section.dataset.borrower !== borrowerId) return;
  const scrollers = [...section.querySelectorAll("ol.timeline")].map((n) => n.scrollTop);
  section.replaceChildren(...parts);
  section.querySelectorAll("ol.timeline").forEach((n, i) => { n.scrollTop = scrollers[i] || 0; });
}

// an alert of the borrower on screen refreshes the page (at most every 2 s)
const refreshBorrower = refreshOnAlerts(
  "page-borrower",
  (alert) => alert.borrower_id === document.getElementById("page-borrower").dataset.borrower,
  (section) => {
    const id = section.dataset.borrower;
    if (!id || !showing(id)) return Promise.resolve();
    const query = location.hash.includes("?") ? location.hash.slice(location.hash.indexOf("?") + 1) : "";
    return renderBorrower(section, id, new URLSearchParams(query), true);
  },
);

// Behind `serve --nats` the figures are a risk worker's state, sent again when they
// change and at least every 30 s: the page fetches them again every STATE_REFRESH_MS,
// so a page left open stays as live as the worker is (its age shows if it is not).
const STATE_REFRESH_MS = 10000;
setInterval(() => {
  if (document.getElementById("page-borrower")?.dataset.fromCluster === "1") refreshBorrower();
}, STATE_REFRESH_MS);
