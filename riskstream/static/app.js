// Live alert feed: loads the current alerts, then follows /api/alerts/stream (SSE).
"use strict";

const alerts = new Map();
let lastEventId = 0;
let source = null;

const $ = (id) => document.getElementById(id);

function fmtTime(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return "–";
  return new Date(epochSeconds * 1000).toISOString().slice(0, 16).replace("T", " ");
}

function matchesFilters(alert) {
  const sev = $("f-severity").value;
  const status = $("f-status").value;
  const borrower = $("f-borrower").value.trim();
  return (!sev || alert.severity === sev) && (!status || alert.status === status)
    && (!borrower || alert.borrower_id === borrower);
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function row(alert, flash) {
  const tr = document.createElement("tr");
  tr.dataset.id = alert.id;
  tr.dataset.kind = alert.kind;
  tr.dataset.borrower = alert.borrower_id;
  if (flash) tr.className = "flash";
  const sev = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = "sev " + alert.severity;
  badge.textContent = alert.severity;
  sev.appendChild(badge);
  tr.appendChild(sev);
  tr.appendChild(cell(alert.status, "status " + alert.status));
  tr.appendChild(cell(alert.borrower_id));
  tr.appendChild(cell(alert.kind.replaceAll("_", " ")));
  tr.appendChild(cell(alert.subject));
  tr.appendChild(cell(fmtTime(alert.opened_at)));
  tr.appendChild(cell(alert.score.toFixed(1)));
  const reasons = document.createElement("td");
  const ul = document.createElement("ul");
  ul.className = "reasons";
  for (const r of alert.reasons) {
    const li = document.createElement("li");
    li.textContent = r;
    ul.appendChild(li);
  }
  reasons.appendChild(ul);
  tr.appendChild(reasons);
  return tr;
}

function render(flashId) {
  const tbody = document.querySelector("#alerts tbody");
  const sorted = [...alerts.values()].filter(matchesFilters)
    .sort((a, b) => b.opened_at - a.opened_at);
  tbody.replaceChildren(...sorted.map((a) => row(a, a.id === flashId)));
  $("empty").hidden = sorted.length > 0;
}

async function loadAlerts() {
  const response = await fetch("/api/alerts?limit=1000");
  const page = await response.json();
  for (const a of page.items) alerts.set(a.id, a);
  lastEventId = page.last_event_id;
  render(null);
}

function follow() {
  source = new EventSource("/api/alerts/stream?after=" + lastEventId);
  source.addEventListener("open", () => { $("feed-state").textContent = "live"; $("feed-state").className = "pill live"; });
  source.addEventListener("error", () => { $("feed-state").textContent = "reconnecting…"; $("feed-state").className = "pill down"; });
  source.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    alerts.set(alert.id, alert);
    render(alert.id);
  });
}

async function refreshStats() {
  try {
    const s = await (await fetch("/api/stats")).json();
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

for (const id of ["f-severity", "f-status", "f-borrower"]) {
  $(id).addEventListener("input", () => render(null));
}

loadAlerts().then(follow);
refreshStats();
setInterval(refreshStats, 1000);
