// Rules: the version in force (and a refused edit, loudly), its text with line
// numbers, the version history with a line diff against the rules in force, and a
// dry-run editor (rules-editor.js). Polls GET /api/rules while shown, so an edit of
// the file on disk, applied or refused, shows up without a reload.

import { diffLines, diffStats, hunks } from "./diff.js";
import { duration, el, utc } from "./format.js";
import { dryRunCard } from "./rules-editor.js";

export const POLL_MS = 5000;
const HISTORY_PAGE = 20;

let view = null; // what is on screen: {section, rules, slots, editor}
let polling = false;

export function when(ts) {
  return utc(ts, true) + " UTC";
}

function ago(ts) {
  return duration(Math.max(0, Date.now() / 1000 - ts)) + " ago";
}

export function shortSha(sha) {
  return sha ? sha.slice(0, 12) : "–";
}

function how(v) {
  if (v.source === "api") return "saved in the dashboard by " + (v.actor || "an unknown user");
  if (v.source === "file") return "rules file changed on disk, reloaded";
  return "read when the service started";
}

function card(title, id, ...children) {
  const box = el("section", "card", undefined, title ? el("h3", null, title) : null, ...children);
  if (id) box.id = id;
  return box;
}

// Text with line numbers; TOML comments and [tables] set apart.
export function codeView(text, className) {
  const lines = text.replace(/\n$/, "").split("\n");
  const box = el("div", "code" + (className ? " " + className : ""));
  lines.forEach((line, i) => {
    const trimmed = line.trim();
    const kind = trimmed.startsWith("#") ? " comment" : trimmed.startsWith("[") ? " table" : "";
    box.appendChild(el("div", "code-line" + kind, undefined,
      el("span", "ln", String(i + 1)), el("span", "tx", line || " ")));
  });
  return box;
}

function errorBanner(rules, me) {
  const e = rules.last_error;
  const box = el("section", "rules-error");
  box.id = "rules-error";
  box.setAttribute("role", "alert");
  const where = e.line ? "line " + e.line : "the file";
  box.append(
    el("h3", null, "The last edit of the rules was refused: version " + rules.version + " is still in force"),
    el("p", null, "At " + when(e.at) + " (" + ago(e.at) + "), " + (e.source === "file" ? "the edited rules file" : "the rules")
      + " could not be used because of a problem on " + where + ". Nothing changed: alerts are still raised by version "
      + rules.version + ", applied " + when(rules.applied_at) + "."),
  );
  const dl = el("dl", "figures compact");
  const add = (label, value) => dl.append(el("dt", null, label), el("dd", null, value));
  add("file", e.file);
  add("line", e.line ? String(e.line) : "–");
  add("field", e.field || "–");
  add("problem", e.reason);
  box.append(dl, el("p", "hint", me.role === "risk_admin"
    ? "Fix the file and save it (it is reloaded at once), or correct the text in the editor below and apply it."
    : "A risk admin has to correct the rules file; until then the rules above stay in force."));
  return box;
}

function statusCard(rules) {
  const big = el("div", "version-big", undefined, el("span", "version-number", "version " + rules.version),
    el("span", "in-force", "in force"));
  const dl = el("dl", "figures compact");
  dl.id = "rules-status";
  const add = (label, value, title) => {
    const dd = el("dd", null, value);
    if (title) dd.title = title;
    dl.append(el("dt", null, label), dd);
  };
  add("applied", when(rules.applied_at) + " (" + ago(rules.applied_at) + ")");
  add("how", how(rules));
  add("sha256", shortSha(rules.sha256), rules.sha256);
  add("file", rules.path || "built-in rules (start the service with --rules FILE to edit them)");
  const box = card("Rules in force", "rules-current", big, dl);
  if (rules.warnings.length) {
    const ul = el("ul", "warnings");
    for (const w of rules.warnings) ul.appendChild(el("li", null, w));
    box.append(el("div", "sub-figure", "Warnings of this version:"), ul);
  }
  return box;
}

function textCard(rules) {
  const lines = rules.text.replace(/\n$/, "").split("\n").length;
  const box = card("Rules text, version " + rules.version, "rules-text",
    el("div", "sub-figure", lines + " lines · TOML · sha256 " + shortSha(rules.sha256)),
    codeView(rules.text, "scroll"));
  return box;
}

function diffView(oldText, newText) {
  const edits = diffLines(oldText.replace(/\n$/, "").split("\n"), newText.replace(/\n$/, "").split("\n"));
  const { hunks: parts, skippedAfter } = hunks(edits, 3);
  const box = el("div", "code diff");
  const gap = (count) => el("div", "code-line gap", undefined, el("span", "ln", "…"), el("span", "ln", "…"),
    el("span", "sign", ""), el("span", "tx", count + " unchanged line" + (count === 1 ? "" : "s")));
  for (const part of parts) {
    if (part.skippedBefore) box.appendChild(gap(part.skippedBefore));
    for (const e of part.lines) {
      box.appendChild(el("div", "code-line " + e.op, undefined,
        el("span", "ln", e.oldLine === null ? "" : String(e.oldLine)),
        el("span", "ln", e.newLine === null ? "" : String(e.newLine)),
        el("span", "sign", e.op === "add" ? "+" : e.op === "del" ? "−" : ""),
        el("span", "tx", e.text || " ")));
    }
  }
  if (parts.length && skippedAfter) box.appendChild(gap(skippedAfter));
  return { box, stats: diffStats(edits) };
}

async function showVersion(panel, version, rules) {
  const { api } = window.riskstream;
  panel.replaceChildren(el("p", "muted", "loading version " + version + "…"));
  const v = await api("/api/rules/history/" + version);
  const head = el("h4", null, "Version " + v.version + " · applied " + when(v.applied_at) + " · " + how(v));
  if (v.version === rules.version && v.sha256 === rules.sha256) {
    panel.replaceChildren(head, el("p", "muted", "This is the version in force."), codeView(v.text, "scroll"));
    return;
  }
  const { box, stats } = diffView(v.text, rules.text);
  const summary = stats.added + stats.removed === 0
    ? "Same text as the rules in force (version " + rules.version + ")."
    : "Changes from version " + v.version + " to the rules in force (version " + rules.version + "): "
      + stats.removed + " line" + (stats.removed === 1 ? "" : "s") + " removed (−), "
      + stats.added + " line" + (stats.added === 1 ? "" : "s") + " added (+). Left: line in version "
      + v.version + "; right: line in version " + rules.version + ".";
  const whole = el("details", "whole-text", undefined, el("summary", null, "whole text of version " + v.version),
    codeView(v.text, "scroll"));
  panel.replaceChildren(head, el("p", "sub-figure diff-summary", summary), box, whole);
}

async function historyCard(rules) {
  const { api } = window.riskstream;
  const table = el("table", "data inner history");
  table.id = "rules-history";
  table.appendChild(el("thead", null, undefined, el("tr", null, undefined,
    ...["version", "applied (UTC)", "how", "sha256"].map((h) => el("th", null, h)))));
  const body = el("tbody");
  table.appendChild(body);
  const panel = el("section", "card version-panel");
  panel.id = "rules-version";
  panel.hidden = true;
  const more = el("button", "secondary", "show older versions");
  const count = el("div", "sub-figure");
  let loaded = 0;
  let total = 0;
  const select = (version) => {
    for (const tr of body.children) tr.classList.toggle("selected", Number(tr.dataset.version) === version);
    panel.hidden = false;
    showVersion(panel, version, rules).catch((err) => {
      panel.replaceChildren(el("p", "error", "Could not load version " + version + ": " + err.message));
    });
  };
  const loadPage = async () => {
    const page = await api("/api/rules/history?limit=" + HISTORY_PAGE + "&offset=" + loaded);
    total = page.total;
    for (const v of page.items) {
      const tr = el("tr", "clickable");
      tr.dataset.version = v.version;
      tr.tabIndex = 0;
      const label = el("td", "nowrap", undefined, el("b", null, "v" + v.version));
      if (v.version === rules.version) label.appendChild(el("span", "in-force small", "in force"));
      const sha = el("td", "mono", shortSha(v.sha256));
      sha.title = v.sha256;
      tr.append(label, el("td", "nowrap", utc(v.applied_at, true)), el("td", null, how(v)), sha);
      tr.addEventListener("click", () => select(v.version));
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") select(v.version); });
      body.appendChild(tr);
    }
    loaded += page.items.length;
    more.hidden = loaded >= total;
    count.textContent = total + " version" + (total === 1 ? "" : "s") + " applied, newest first"
      + (loaded < total ? " (showing " + loaded + ")" : "");
  };
  more.addEventListener("click", () => loadPage().catch(() => {}));
  await loadPage();
  const list = card("Version history", "rules-history-card", count, table, more,
    el("div", "sub-figure", "Select a version to see what changed between it and the rules in force."));
  return { list, panel };
}

async function fillTop(slots, rules, me) {
  const { list, panel } = await historyCard(rules);
  slots.banner.replaceChildren(...(rules.last_error ? [errorBanner(rules, me)] : []));
  slots.left.replaceChildren(statusCard(rules), list);
  slots.right.replaceChildren(panel, textCard(rules));
}

function changed(a, b) {
  const errAt = (r) => (r.last_error ? r.last_error.at : null);
  return a.sha256 !== b.sha256 || a.version !== b.version || errAt(a) !== errAt(b);
}

async function update(rules) {
  if (!view) return;
  const previous = view.rules;
  view.rules = rules;
  await fillTop(view.slots, rules, view.me);
  view.editor.rulesChanged(previous, rules);
}

async function poll() {
  const loggedIn = !document.getElementById("main").hidden;
  if (polling || !view || view.section.hidden || !loggedIn || !window.riskstream.ready) return;
  polling = true;
  try {
    const rules = await window.riskstream.api("/api/rules");
    if (view && changed(view.rules, rules)) await update(rules);
  } catch (err) {
    // the header's feed pill already says when the server is unreachable
  } finally {
    polling = false;
  }
}

export async function renderRules(section) {
  const { api, user } = window.riskstream;
  const rules = await api("/api/rules");
  const me = user();
  const head = el("div", "page-head", undefined, el("h2", null, "Rules"),
    el("span", "sub", "what raises every alert, for all portfolios · times in UTC"));
  const slots = { banner: el("div", "banner-slot"), left: el("div", "rules-left"), right: el("div", "rules-right") };
  const shown = { section, rules, slots, me, editor: null };
  shown.editor = dryRunCard({ rules: () => shown.rules, me, applied: (next) => update(next) });
  await fillTop(slots, rules, me);
  view = shown;
  section.replaceChildren(head, slots.banner, el("div", "grid-rules", undefined, slots.left, slots.right), shown.editor.node);
}

setInterval(poll, POLL_MS);
