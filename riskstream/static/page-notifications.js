// Notifications: the lender's webhook endpoints (add, test, enable or disable, remove,
// delivery log), its dead letters (resend), e-mail recipients and alerts over MQTT.
// Risk admins change them; other roles see the endpoints; risk admins and auditors read
// the delivery log. Everything shown comes from /api/notifications/...; no HTML is built
// from text (el() sets textContent).

import { el, utc } from "./format.js";

const BASE = "/api/notifications";
const SEVERITIES = ["info", "warning", "critical"];
const EVENTS = ["opened", "escalated", "updated", "acknowledged", "resolved"];

function api(path, options) {
  return window.riskstream.api(BASE + path, options);
}

function json(method, body) {
  return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

function when(ts) {
  return ts === null || ts === undefined ? "–" : utc(ts, true) + " UTC";
}

function list(values) {
  return values.length ? values.join(", ") : "any";
}

function filterText(f) {
  return "severity " + list(f.severities) + "; kind " + list(f.kinds) + "; event " + list(f.events)
    + "; borrower " + list(f.borrowers);
}

function words(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

function button(text, onClick, className) {
  const b = el("button", className || "small", text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

function table(heads, rows) {
  const t = el("table", "cards-narrow");
  const tr = el("tr");
  for (const h of heads) tr.appendChild(el("th", null, h));
  t.appendChild(el("thead", null, undefined, tr));
  const body = el("tbody");
  for (const cells of rows) {
    const row = el("tr");
    cells.forEach((cell, i) => {
      const td = el("td");
      td.dataset.label = heads[i];
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      row.appendChild(td);
    });
    body.appendChild(row);
  }
  t.appendChild(body);
  return t;
}

function checkboxes(name, values) {
  const box = el("span", "checks");
  for (const value of values) {
    const input = el("input");
    input.type = "checkbox";
    input.name = name;
    input.value = value;
    box.appendChild(el("label", null, undefined, input, document.createTextNode(" " + value + " ")));
  }
  return box;
}

function checked(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

function field(label, input) {
  return el("label", null, label + " ", input);
}

function input(name, placeholder, type) {
  const i = el("input");
  i.name = name;
  if (placeholder) i.placeholder = placeholder;
  if (type) i.type = type;
  return i;
}

function filtersOf(form) {
  return {
    severities: checked(form, "severities"),
    events: checked(form, "events"),
    kinds: words(form.elements.kinds.value),
    borrowers: words(form.elements.borrowers.value),
  };
}

function filterFields() {
  return [
    field("Severities", checkboxes("severities", SEVERITIES)),
    field("Events", checkboxes("events", EVENTS)),
    field("Kinds", input("kinds", "e.g. inventory_below_pledge, device_silent")),
    field("Borrowers", input("borrowers", "e.g. b001 b007")),
  ];
}

function message(box, text, isError) {
  box.replaceChildren(el("p", isError ? "error" : "ok", text));
  if (isError) box.firstChild.setAttribute("role", "alert");
}

function deliveryLog(deliveries) {
  const rows = deliveries.map((d) => [
    String(d.id), d.event, d.alert_id, d.state, String(d.attempts), when(d.created_at),
    d.attempt_log.map((a) => when(a.at) + ": " + (a.status_code === null ? "no answer" : "HTTP " + a.status_code)
      + ", " + a.latency_ms.toFixed(1) + " ms" + (a.error ? " (" + a.error + ")" : "")).join("\n"),
  ]);
  const t = table(["delivery", "event", "alert", "state", "attempts", "queued (UTC)", "attempts: status, latency, error"], rows);
  t.id = "delivery-log";
  return t;
}

async function webhooksCard(me, refresh) {
  const admin = me.role === "risk_admin";
  const reader = admin || me.role === "auditor";
  const hooks = await api("/webhooks");
  const card = el("section", "card", undefined, el("h3", null, "Webhooks"));
  card.id = "webhooks";
  const status = el("div", "status");
  const detail = el("div");
  const rows = hooks.map((h) => {
    const actions = el("span", "actions");
    if (reader) {
      actions.appendChild(button("deliveries", async () => {
        detail.replaceChildren(el("h4", null, "Deliveries to " + h.url), deliveryLog(await api("/webhooks/" + h.id + "/deliveries")));
      }));
    }
    if (admin) {
      actions.append(
        button("send test", async () => {
          const r = await api("/webhooks/" + h.id + "/test", { method: "POST" });
          message(status, r.error ? "Test failed: " + r.error + " (" + r.latency_ms.toFixed(1) + " ms)"
            : "Test delivered: HTTP " + r.status_code + " in " + r.latency_ms.toFixed(1) + " ms", Boolean(r.error));
        }),
        button(h.enabled ? "disable" : "enable", async () => {
          await api("/webhooks/" + h.id, json("PUT", { enabled: !h.enabled }));
          refresh();
        }),
        button("remove", async () => {
          if (!window.confirm("Remove the webhook to " + h.url + "?")) return;
          await api("/webhooks/" + h.id, { method: "DELETE" });
          refresh();
        }),
      );
    }
    return [h.url, h.description || "–", filterText(h.filters), h.enabled ? "on" : "off", when(h.created_at) + " by " + h.created_by, actions];
  });
  card.appendChild(hooks.length ? table(["URL", "description", "filters", "enabled", "created", ""], rows)
    : el("p", "muted", "No webhooks yet."));
  if (admin) {
    const form = el("form", "notify-form");
    form.id = "webhook-form";
    form.append(
      field("URL", input("url", "https://hooks.example/riskstream")),
      field("Description", input("description", "core banking")),
      ...filterFields(),
      el("button", null, "Add webhook"),
    );
    form.elements.url.required = true;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const created = await api("/webhooks", json("POST", {
          url: form.elements.url.value, description: form.elements.description.value, filters: filtersOf(form),
        }));
        await refresh();
        const secret = el("code", "secret", created.secret);
        secret.id = "webhook-secret";
        const shown = document.getElementById("webhook-status");
        shown.replaceChildren(el("p", "ok", "Webhook added. Its signing secret, shown this once: ", secret));
      } catch (err) {
        message(status, err.message, true);
      }
    });
    card.appendChild(form);
  }
  status.id = "webhook-status";
  card.append(status, detail);
  return card;
}

async function deadLettersCard(me, refresh) {
  const dead = await api("/dead-letters");
  const card = el("section", "card", undefined, el("h3", null, "Dead letters"),
    el("p", "hint", "Deliveries that failed their last attempt. Resending puts one back in the outbox with a fresh count of attempts."));
  card.id = "dead-letters";
  const rows = dead.map((d) => [String(d.id), d.event, d.alert_id, String(d.attempts), d.last_error || "–", when(d.finished_at),
    me.role === "risk_admin" ? button("resend", async () => { await api("/dead-letters/" + d.id + "/resend", { method: "POST" }); refresh(); }) : ""]);
  card.appendChild(dead.length ? table(["delivery", "event", "alert", "attempts", "last error", "dead since (UTC)", ""], rows)
    : el("p", "muted", "None."));
  return card;
}

async function emailCard(me, refresh) {
  const admin = me.role === "risk_admin";
  const recipients = await api("/email");
  const card = el("section", "card", undefined, el("h3", null, "E-mail"));
  card.id = "email";
  const status = el("div", "status");
  const rows = recipients.map((r) => [r.address, r.digest_minutes ? "at most one mail per " + r.digest_minutes + " min" : "a mail per change",
    filterText(r.filters), r.enabled ? "on" : "off", when(r.last_sent_at),
    admin ? button("remove", async () => { await api("/email/" + r.id, { method: "DELETE" }); refresh(); }) : ""]);
  card.appendChild(recipients.length ? table(["address", "digest", "filters", "enabled", "last mail (UTC)", ""], rows)
    : el("p", "muted", "No recipients yet."));
  if (admin) {
    const form = el("form", "notify-form");
    form.id = "email-form";
    const digest = input("digest", "0", "number");
    digest.min = "0";
    digest.value = "0";
    form.append(field("Address", input("address", "risk-desk@bank.example", "email")),
      field("Digest (minutes, 0: every change)", digest), ...filterFields(), el("button", null, "Add recipient"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("/email", json("POST", { address: form.elements.address.value, digest_minutes: Number(digest.value), filters: filtersOf(form) }));
        refresh();
      } catch (err) {
        message(status, err.message, true);
      }
    });
    card.appendChild(form);
  }
  card.appendChild(status);
  return card;
}

async function mqttCard(me, refresh) {
  const m = await api("/mqtt");
  const card = el("section", "card", undefined, el("h3", null, "MQTT"),
    el("p", null, m.enabled ? "Alert changes go to " + m.topic + " (QoS 1)" + (m.retained ? "; open alerts retained at " + m.alert_topic : "") + "."
      : "Off: alert changes are not published to the broker."));
  card.id = "mqtt";
  if (me.role === "risk_admin") {
    card.appendChild(button(m.enabled ? "turn off" : "turn on (with retained alerts)", async () => {
      await api("/mqtt", json("PUT", { enabled: !m.enabled, retained: !m.enabled }));
      refresh();
    }));
  }
  return card;
}

export async function renderNotifications(section) {
  const me = window.riskstream.user();
  const refresh = () => renderNotifications(section);
  const reader = me.role === "risk_admin" || me.role === "auditor";
  const cards = [await webhooksCard(me, refresh)];
  if (reader) cards.push(await deadLettersCard(me, refresh));
  cards.push(await emailCard(me, refresh), await mqttCard(me, refresh));
  section.replaceChildren(el("h2", null, "Notifications"), ...cards);
}
