// Live alert feed: loads the current alerts, then follows /api/alerts/stream (SSE).
"use strict";

const alerts = new Map();
let lastEventId = 0;
let source = null;
let token = sessionStorage.getItem("riskstream-token");
let me = null;
const FOLLOW_RETRY_MS = 3000;

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {}, { Authorization: "Bearer " + token });
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    showLogin("Your session ended: log in again.");
    throw new Error("not authenticated");
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    // FastAPI's 422 lists its problems; everything else has a sentence in `detail`
    const detail = Array.isArray(body.detail)
      ? body.detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ")
      : body.detail;
    const error = new Error(detail || response.statusText);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  if (response.status === 204) return null;
  return response.json();
}

const $ = (id) => document.getElementById(id);

function fmtTime(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return "–";
  return new Date(epochSeconds * 1000).toISOString().slice(0, 16).replace("T", " ");
}

function matchesFilters(alert) {
  const sev = $("f-severity").value;
  const status = $("f-status").value;
  const borrower = $("f-borrower").value.trim();
  const statusOk = status === "active" ? alert.status !== "resolved"
    : (!status || alert.status === status);
  return (!sev || alert.severity === sev) && statusOk
    && (!borrower || alert.borrower_id === borrower);
}

function cell(text, className, label) {
  const td = document.createElement("td");
  if (className) td.className = className;
  // a narrow screen shows each row as a card, every value under its column's name
  if (label) td.dataset.label = label;
  td.textContent = text;
  return td;
}

const SEVERITY_RANK = { critical: 2, warning: 1, info: 0 };
const wholeNumber = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

// The alert score's order (severity, then share of the loan at risk, then age) without
// comparing scores served at different event times: the feed gets them over minutes.
function byScore(a, b) {
  return (SEVERITY_RANK[b.severity] ?? -1) - (SEVERITY_RANK[a.severity] ?? -1)
    || (b.money_at_risk_pct || 0) - (a.money_at_risk_pct || 0)
    || a.opened_at - b.opened_at
    || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function moneyCell(alert) {
  const td = cell("", "num money", "money at risk");
  if (alert.money_at_risk === null || alert.money_at_risk === undefined || !alert.currency) {
    td.textContent = "–";
    return td;
  }
  const amount = document.createElement("span");
  amount.className = "nowrap";
  amount.textContent = alert.currency + " " + wholeNumber.format(alert.money_at_risk);
  const share = document.createElement("span");
  share.className = "share";
  share.textContent = alert.exposure
    ? (alert.money_at_risk >= alert.exposure ? "≥ the whole loan" : (alert.money_at_risk_pct || 0) + " % of the loan")
    : "no loan concerned";
  td.append(amount, share);
  return td;
}

function row(alert, flash) {
  const tr = document.createElement("tr");
  tr.dataset.id = alert.id;
  tr.dataset.kind = alert.kind;
  tr.dataset.borrower = alert.borrower_id;
  tr.className = "clickable sev-row-" + alert.severity + (flash ? " flash" : "");
  tr.title = "open the borrower page with this alert";
  tr.addEventListener("click", (event) => {
    if (event.target.closest("button")) return;
    location.hash = "#/borrower/" + encodeURIComponent(alert.borrower_id) + "?alert=" + encodeURIComponent(alert.id);
  });
  const sev = cell("", "severity", "severity");
  const badge = document.createElement("span");
  badge.className = "sev " + alert.severity;
  badge.textContent = alert.severity;
  sev.appendChild(badge);
  tr.appendChild(sev);
  tr.appendChild(cell(alert.status, "status " + alert.status, "status"));
  tr.appendChild(cell(alert.borrower_id, "borrower", "borrower"));
  tr.appendChild(cell(alert.kind.replaceAll("_", " "), "kind", "kind"));
  tr.appendChild(cell(alert.subject, "nowrap subject", "subject"));
  tr.appendChild(cell(fmtTime(alert.opened_at), "nowrap since", "since (UTC)"));
  const score = cell(alert.score.toFixed(1), "num nowrap score", "alert score");
  score.title = "alert score: " + (alert.score_basis || alert.severity + " band");
  const unit = document.createElement("span");
  unit.className = "unit";
  unit.textContent = " / 100";
  score.appendChild(unit);
  tr.appendChild(score);
  tr.appendChild(moneyCell(alert));
  const reasons = cell("", "reasons-cell", "reasons");
  const ul = document.createElement("ul");
  ul.className = "reasons";
  for (const r of alert.reasons) {
    const li = document.createElement("li");
    li.textContent = r;
    ul.appendChild(li);
  }
  reasons.appendChild(ul);
  tr.appendChild(reasons);
  const actions = cell("", "actions", "action");
  if (me && me.role !== "auditor" && alert.status !== "resolved") {
    if (alert.status === "open") actions.appendChild(actionButton(alert, "ack", "acknowledge"));
    actions.appendChild(actionButton(alert, "resolve", "resolve"));
  }
  tr.appendChild(actions);
  return tr;
}

function actionButton(alert, path, label) {
  const button = document.createElement("button");
  button.className = "act";
  button.textContent = label;
  button.dataset.action = path;
  button.addEventListener("click", async () => {
    const comment = window.prompt(label + " alert " + alert.kind.replaceAll("_", " ") + " of " + alert.borrower_id + " — comment (kept in the audit log):");
    if (!comment) return;
    try {
      const updated = await api("/api/alerts/" + alert.id + "/" + path, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ comment }),
      });
      alerts.set(updated.id, updated);
      render(updated.id);
      loadAudit();
    } catch (err) {
      window.alert("could not " + label + ": " + err.message);
    }
  });
  return button;
}

function render(flashId) {
  const tbody = document.querySelector("#alerts tbody");
  const order = $("f-order").value === "newest"
    ? (a, b) => b.opened_at - a.opened_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    : byScore;
  const sorted = [...alerts.values()].filter(matchesFilters).sort(order);
  tbody.replaceChildren(...sorted.map((a) => row(a, a.id === flashId)));
  $("empty").hidden = sorted.length > 0;
}

async function loadAlerts() {
  const page = await api("/api/alerts?limit=1000");
  alerts.clear(); // after a new login: only what this user may see
  for (const a of page.items) alerts.set(a.id, a);
  lastEventId = page.last_event_id;
  render(null);
}

function follow() {
  if (source) source.close();
  source = new EventSource("/api/alerts/stream?after=" + lastEventId + "&access_token=" + encodeURIComponent(token));
  source.addEventListener("open", () => { $("feed-state").textContent = "live"; $("feed-state").className = "pill live"; });
  source.addEventListener("error", () => {
    $("feed-state").textContent = "reconnecting…";
    $("feed-state").className = "pill down";
    // the browser retries by itself (sending Last-Event-ID); when it gave up, start over
    if (source.readyState === EventSource.CLOSED && token) setTimeout(follow, FOLLOW_RETRY_MS);
  });
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    lastEventId = Math.max(lastEventId, Number(event.lastEventId) || 0);
    alerts.set(alert.id, alert);
    render(alert.id);
    document.dispatchEvent(new CustomEvent("riskstream:alert", { detail: { eventId: event.lastEventId, alert } }));
  });
}

async function refreshStats() {
  try {
    const s = await api("/api/stats");
    $("rate").textContent = Math.round(s.readings_per_s).toLocaleString();
    for (const sev of ["critical", "warning", "info"]) {
      $("open-" + sev).textContent = (s.open_alerts_by_severity[sev] || 0).toLocaleString();
    }
    $("event-time").textContent = fmtTime(s.event_time) + (s.event_time ? " UTC" : "");
    $("rejected").textContent = s.rejected_total.toLocaleString();
  } catch (err) {
    $("feed-state").textContent = "server unreachable";
    $("feed-state").className = "pill down";
  }
}

for (const id of ["f-severity", "f-status", "f-borrower", "f-order"]) {
  $(id).addEventListener("input", () => render(null));
}

async function loadAudit() {
  if (!me || (me.role !== "auditor" && me.role !== "risk_admin")) return;
  const entries = await api("/api/audit?limit=50");
  const rows = entries.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.action = e.action;
    tr.appendChild(cell(new Date(e.at * 1000).toISOString().slice(0, 19).replace("T", " "), "nowrap", "when (UTC)"));
    tr.appendChild(cell(e.actor, null, "who"));
    tr.appendChild(cell(e.action.replaceAll("_", " "), null, "action"));
    tr.appendChild(cell(e.target, "target", "target"));
    const d = e.detail || {};
    const note = d.comment || (e.target === "rules" && d.version !== undefined ? "version " + d.version
      : e.target === "rules" && d.kept_version !== undefined ? "refused; version " + d.kept_version + " kept: " + d.message : "");
    tr.appendChild(cell(note, null, "comment or detail"));
    return tr;
  });
  document.querySelector("#audit-table tbody").replaceChildren(...rows);
  $("audit").hidden = false;
}

function showLogin(message) {
  if (source) source.close();
  $("main").hidden = true;
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  // nothing of this user stays on the page for the next one
  me = null;
  window.riskstream.ready = false;
  $("audit").hidden = true;
  document.querySelector("#audit-table tbody").replaceChildren();
  for (const section of document.querySelectorAll("#main > .page:not(#page-alerts)")) section.replaceChildren();
}

async function start() {
  me = await api("/api/me");
  $("who").textContent = me.username + " (" + me.role.replace("_", " ") + ", " + me.tenant + ")";
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = false;
  $("nav").hidden = false;
  await loadAlerts();
  follow();
  refreshStats();
  loadAudit();
  window.riskstream.ready = true;
  document.dispatchEvent(new CustomEvent("riskstream:ready"));
}

// What the page modules (router.js and the pages) use; `follow` and `closeFeed`
// let a test drop and resume the live feed.
window.riskstream = {
  api, ready: false, user: () => me, follow,
  closeFeed: () => { if (source) source.close(); },
};

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new URLSearchParams();
  form.set("username", $("login-user").value);
  form.set("password", $("login-password").value);
  const response = await fetch("/api/token", { method: "POST", body: form });
  if (!response.ok) {
    const wait = response.headers.get("Retry-After");
    $("login-error").textContent = (response.status === 429 || response.status === 503) && wait
      ? "Too many attempts: try again in " + wait + " s."
      : "Wrong user name or password.";
    return;
  }
  token = (await response.json()).access_token;
  sessionStorage.setItem("riskstream-token", token);
  start().catch(() => showLogin("Could not load alerts."));
});

$("logout").addEventListener("click", () => {
  const ended = token;
  sessionStorage.removeItem("riskstream-token");
  token = null;
  if (source) source.close();
  showLogin("");
  if (ended) {
    // the session ends on the server too: the token is refused from now on
    fetch("/api/logout", { method: "POST", headers: { Authorization: "Bearer " + ended } })
      .catch(() => {});
  }
});

if (token) {
  start().catch(() => showLogin(""));
} else {
  showLogin("");
}
setInterval(() => { if (me && token) refreshStats(); }, 1000);
