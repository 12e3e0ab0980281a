// The rules editor on the Rules page: edit a copy of the rules in force, dry-run it
// against the last days of stored telemetry (POST /api/rules/dry-run) and compare the
// alerts; risk admins apply it (PUT /api/rules) after a confirmation.

import { diffLines, diffStats } from "./diff.js";
import { duration, el, kindLabel, num, severityBadge, utc } from "./format.js";

const SEVERITIES = ["critical", "warning", "info"];
// the edited text survives a visit to another page (not a log-out)
let draft = null; // {user, text}
const LIST_ROWS = 100;

const plural = (n, word) => num(n) + " " + word + (n === 1 ? "" : "s");

function lineCount(text) {
  return text.replace(/\n$/, "").split("\n").length;
}

// The 400 body of the rules API: {detail, file, line, field, reason}.
function errorBox(box, body, text) {
  const lines = text.split("\n");
  const where = body.line ? "Line " + body.line : "The text";
  box.replaceChildren(
    el("b", null, "Not valid: nothing was " + (box.dataset.action === "apply" ? "applied" : "run")),
    el("div", "where", where + (body.field ? " · field " + body.field : "")),
    el("div", "reason", body.reason || body.detail),
  );
  if (body.line && lines[body.line - 1] !== undefined) {
    box.appendChild(el("pre", "quoted", body.line + " │ " + lines[body.line - 1]));
  }
  box.hidden = false;
}

function countsTable(result) {
  const cur = result.current;
  const pro = result.proposed;
  const kinds = [...new Set([...Object.keys(cur.by_kind), ...Object.keys(pro.by_kind)])].sort();
  const table = el("table", "data inner counts");
  table.id = "dry-run-counts";
  const group = el("tr", null, undefined, el("th", null, ""),
    el("th", "group", "rules in force (v" + result.current_version + ")"), el("th", "group", "proposed rules"), el("th", ""));
  group.children[1].colSpan = 4;
  group.children[2].colSpan = 4;
  const cols = el("tr", null, undefined, el("th", null, "kind"));
  for (let k = 0; k < 2; k++) {
    for (const s of SEVERITIES) cols.appendChild(el("th", "num", s));
    cols.appendChild(el("th", "num total", "total"));
  }
  cols.appendChild(el("th", "num", "change"));
  table.appendChild(el("thead", null, undefined, group, cols));
  const body = el("tbody");
  const row = (label, get) => {
    const tr = el("tr", null, undefined, el("td", null, label));
    let a = 0;
    let b = 0;
    for (const [counts, side] of [[cur, "cur"], [pro, "pro"]]) {
      let sum = 0;
      for (const s of SEVERITIES) {
        const n = get(counts, s);
        sum += n;
        const other = get(side === "cur" ? pro : cur, s);
        tr.appendChild(el("td", "num" + (n ? " sev-count " + s : " zero") + (side === "pro" && n !== other ? " differs" : ""),
          n ? String(n) : "–"));
      }
      tr.appendChild(el("td", "num total", String(sum)));
      if (side === "cur") a = sum; else b = sum;
    }
    const delta = b - a;
    tr.appendChild(el("td", "num delta " + (delta > 0 ? "up" : delta < 0 ? "down" : "same"),
      delta === 0 ? "±0" : (delta > 0 ? "+" : "−") + Math.abs(delta)));
    return tr;
  };
  for (const kind of kinds) {
    body.appendChild(row(kindLabel(kind), (c, s) => (c.by_kind_severity[kind] || {})[s] || 0));
  }
  const foot = el("tfoot", null, undefined, row("all kinds", (c, s) => c.by_severity[s] || 0));
  table.append(body, foot);
  if (!kinds.length) body.appendChild(el("tr", null, undefined, el("td", "muted", "no alerts under either rules")));
  return table;
}

function alertTable(id, alerts, withChange) {
  const table = el("table", "data inner alert-list");
  table.id = id;
  const heads = ["severity", "borrower", "kind", "subject", "opened (UTC)", "reason"];
  if (withChange) heads.splice(1, 0, "in force");
  table.appendChild(el("thead", null, undefined, el("tr", null, undefined, ...heads.map((h) => el("th", null, h)))));
  const body = el("tbody");
  for (const a of alerts.slice(0, LIST_ROWS)) {
    const tr = el("tr", null, undefined, el("td", null, undefined, severityBadge(a.severity)));
    tr.dataset.borrower = a.borrower_id;
    tr.dataset.kind = a.kind;
    if (withChange) tr.appendChild(el("td", null, undefined, severityBadge(a.current_severity)));
    const link = el("a", null, a.borrower_id);
    link.href = "#/borrower/" + encodeURIComponent(a.borrower_id);
    tr.append(el("td", null, undefined, link), el("td", null, kindLabel(a.kind)), el("td", "nowrap", a.subject),
      el("td", "nowrap", utc(a.opened_at)), el("td", "reason", a.reasons[0] || ""));
    body.appendChild(tr);
  }
  table.appendChild(body);
  return table;
}

function listBlock(title, note, id, alerts, withChange) {
  const box = el("div", "dry-run-list");
  box.appendChild(el("h4", null, title + " (" + plural(alerts.length, "alert") + ")"));
  if (note) box.appendChild(el("div", "sub-figure", note));
  if (!alerts.length) {
    box.appendChild(el("p", "muted", "none"));
    return box;
  }
  box.appendChild(alertTable(id, alerts, withChange));
  if (alerts.length > LIST_ROWS) box.appendChild(el("div", "sub-figure", "and " + (alerts.length - LIST_ROWS) + " more"));
  return box;
}

function tile(label, value, note, cls) {
  return el("div", "tile" + (cls ? " " + cls : ""), undefined,
    el("span", "label", label), el("span", "value", value), note ? el("span", "note", note) : null);
}

function renderResult(box, result, sameText, me) {
  const w = result.window;
  const changedSeverity = result.alerts.filter((a) => a.in_current && a.current_severity !== a.severity);
  const summary = el("p", "dry-run-summary",
    "Replayed " + plural(result.readings, "reading") + " of " + (me.role === "loan_officer" ? "your portfolio" : "all borrowers")
    + ", event time " + utc(w.start) + " – " + utc(w.end) + " UTC (" + num(w.days, 1) + " days), under both rule sets in "
    + num(result.seconds, 1) + " s.");
  const delta = result.proposed.total - result.current.total;
  const tiles = el("div", "tiles flush", undefined,
    tile("rules in force (v" + result.current_version + ")", plural(result.current.total, "alert"), "raised over the window"),
    tile("proposed rules", plural(result.proposed.total, "alert"),
      delta === 0 ? "same number" : (delta > 0 ? "+" : "−") + plural(Math.abs(delta), "alert") + " against v" + result.current_version,
      delta > 0 ? "warn" : ""),
    tile("new", plural(result.new, "alert"), "only the proposed rules raise", result.new ? "warn" : ""),
    tile("dropped", plural(result.dropped, "alert"), "only the rules in force raise", result.dropped ? "crit" : ""),
    tile("severity changed", plural(changedSeverity.length, "alert"), "raised by both, other severity"),
  );
  tiles.id = "dry-run-tiles";
  const parts = [el("h4", null, "Dry-run result"), summary];
  if (sameText) parts.push(el("p", "note-box", "This text is the rules in force: both sides are the same."));
  if (result.readings === 0) parts.push(el("p", "note-box", "No telemetry is stored for this window: nothing to compare."));
  parts.push(tiles, el("h4", null, "Alerts by kind and severity (number of alerts)"), countsTable(result));
  parts.push(
    listBlock("New alerts", "raised by the proposed rules only", "dry-run-new", result.alerts.filter((a) => !a.in_current), false),
    listBlock("Dropped alerts", "raised by the rules in force only", "dry-run-dropped", result.only_current, false),
  );
  if (changedSeverity.length) {
    parts.push(listBlock("Severity changed", "raised by both; left the severity in force, then the proposed one",
      "dry-run-severity", changedSeverity, true));
  }
  if (result.truncated) parts.push(el("p", "sub-figure", "Lists cut to the first 500 alerts; the counts are complete."));
  box.replaceChildren(...parts);
  box.hidden = false;
}

/** ctx: {rules(): rules in force, me: the user, applied(rules): after a PUT}. */
export function dryRunCard(ctx) {
  const { api } = window.riskstream;
  const admin = ctx.me.role === "risk_admin";
  const textarea = el("textarea", "editor");
  textarea.id = "rules-editor";
  textarea.spellcheck = false;
  textarea.wrap = "off";
  textarea.setAttribute("aria-label", "proposed rules (TOML)");
  textarea.value = draft && draft.user === ctx.me.username ? draft.text : ctx.rules().text;
  const gutter = el("div", "gutter");
  gutter.setAttribute("aria-hidden", "true");
  const editorWrap = el("div", "editor-wrap", undefined, gutter, textarea);
  const diffNote = el("div", "sub-figure edit-state");
  diffNote.id = "rules-edit-state";
  const errors = el("div", "editor-error");
  errors.id = "rules-editor-error";
  errors.setAttribute("role", "alert");
  errors.hidden = true;
  const days = el("input");
  days.id = "dry-run-days";
  days.type = "number";
  days.min = "0.1";
  days.max = "90";
  days.step = "any";
  days.value = "7";
  const run = el("button", "primary", "Dry run");
  run.id = "dry-run";
  const reset = el("button", "secondary", "Reset to the rules in force");
  const apply = el("button", "danger", "Apply…");
  apply.id = "rules-apply";
  const progress = el("div", "sub-figure progress");
  progress.id = "dry-run-progress";
  const result = el("div", "dry-run-result");
  result.id = "dry-run-result";
  result.hidden = true;
  let errorLine = null;
  let lastRun = null; // {text, result}

  const drawGutter = () => {
    const n = lineCount(textarea.value + "\n");
    const nodes = [];
    for (let i = 1; i <= n; i++) nodes.push(el("div", i === errorLine ? "bad" : null, String(i)));
    gutter.replaceChildren(...nodes);
    gutter.scrollTop = textarea.scrollTop;
  };
  const editState = () => {
    const current = ctx.rules();
    const stats = diffStats(diffLines(current.text.replace(/\n$/, "").split("\n"), textarea.value.replace(/\n$/, "").split("\n")));
    const same = stats.added + stats.removed === 0;
    diffNote.textContent = same
      ? "Unchanged: this is version " + current.version + ", in force."
      : "Edited: " + stats.removed + " line" + (stats.removed === 1 ? "" : "s") + " removed, " + stats.added + " added against version " + current.version + ".";
    diffNote.classList.toggle("edited", !same);
    apply.disabled = same;
    return same;
  };
  let editTimer = null;
  textarea.addEventListener("input", () => {
    draft = { user: ctx.me.username, text: textarea.value };
    errorLine = null;
    drawGutter();
    clearTimeout(editTimer);
    editTimer = setTimeout(editState, 250);
  });
  textarea.addEventListener("scroll", () => { gutter.scrollTop = textarea.scrollTop; });
  const showError = (err, action) => {
    if (err.status === 400 && err.body && err.body.reason) {
      errors.dataset.action = action;
      errorBox(errors, err.body, textarea.value);
      errorLine = err.body.line || null;
      drawGutter();
      if (errorLine) {
        // put the caret on the line and scroll it into view
        const start = textarea.value.split("\n").slice(0, errorLine - 1).join("\n").length + (errorLine > 1 ? 1 : 0);
        textarea.setSelectionRange(start, start);
        const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 18;
        textarea.scrollTop = Math.max(0, (errorLine - 4) * lineHeight);
      }
    } else {
      errors.replaceChildren(el("b", null, "Could not " + (action === "apply" ? "apply" : "dry-run") + ": "), el("span", null, err.message));
      errors.hidden = false;
    }
  };
  const busy = (on, text) => {
    run.disabled = on;
    apply.disabled = on || editState();
    progress.textContent = text || "";
  };

  run.addEventListener("click", async () => {
    const d = Number(days.value);
    if (!(d > 0 && d <= 90)) {
      errors.replaceChildren(el("b", null, "Days: "), el("span", null, "give a window between 0.1 and 90 days."));
      errors.hidden = false;
      return;
    }
    errors.hidden = true;
    errorLine = null;
    drawGutter();
    const text = textarea.value;
    busy(true, "replaying the last " + num(d, d % 1 ? 1 : 0) + " days of telemetry under both rule sets…");
    const began = performance.now();
    try {
      const body = await api("/api/rules/dry-run", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text, days: d, limit: 500 }),
      });
      lastRun = { text, result: body };
      renderResult(result, body, text === ctx.rules().text, ctx.me);
      busy(false, "dry run done in " + duration((performance.now() - began) / 1000) + "; nothing was changed.");
    } catch (err) {
      busy(false, "");
      showError(err, "run");
    }
  });
  reset.addEventListener("click", () => {
    draft = null;
    textarea.value = ctx.rules().text;
    errors.hidden = true;
    errorLine = null;
    drawGutter();
    editState();
  });
  apply.addEventListener("click", async () => {
    const current = ctx.rules();
    const text = textarea.value;
    const tried = lastRun && lastRun.text === text
      ? "Dry run over the last " + num(lastRun.result.window.days, 1) + " days: " + plural(lastRun.result.new, "new alert")
        + ", " + plural(lastRun.result.dropped, "dropped alert") + "."
      : "You have not dry-run this text.";
    const question = "Apply these rules to every portfolio now?\n\nVersion " + current.version
      + " (in force) will be replaced by version " + (current.version + 1) + ". " + tried
      + "\n\nThe change is written to " + current.path + " and to the audit log.";
    if (!window.confirm(question)) return;
    errors.hidden = true;
    busy(true, "applying…");
    try {
      const next = await api("/api/rules", {
        method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }),
      });
      draft = null;
      await ctx.applied(next);
      busy(false, "");
      progress.replaceChildren(el("span", "ok", "Version " + next.version + " applied at " + utc(next.applied_at, true) + " UTC."));
    } catch (err) {
      busy(false, "");
      showError(err, "apply");
    }
  });

  const controls = el("div", "editor-side", undefined,
    el("label", "days-label", "Telemetry window",
      el("span", "days-row", undefined, days, el("span", "unit", "days, up to the latest event time"))),
    el("div", "buttons", undefined, run, reset),
    progress, errors);
  const rules = ctx.rules();
  if (admin && rules.editable) {
    controls.appendChild(el("div", "apply-box", undefined, apply,
      el("div", "sub-figure", "Puts the edited text in force for every portfolio, after a confirmation.")));
  } else {
    controls.appendChild(el("p", "note-box read-only",
      admin ? "The service runs on its built-in rules: start it with --rules FILE to apply changes."
        : "Read-only: only risk admins apply rules. A dry run changes nothing"
          + (ctx.me.role === "loan_officer" ? " and covers your portfolio only." : ".")));
  }
  const node = el("section", "card", undefined,
    el("h3", null, "Try a change"),
    el("p", "sub-figure", "Edit a copy of the rules and replay stored telemetry with it and with the rules in force. "
      + "Nothing changes until " + (admin ? "you apply it." : "a risk admin applies it.")),
    el("div", "editor-grid", undefined, el("div", null, undefined, editorWrap, diffNote), controls),
    result);
  node.id = "rules-dry-run";
  drawGutter();
  editState();
  return {
    node,
    // the rules in force changed (applied here, or the file was edited): follow them
    // when the editor still holds the old text
    rulesChanged(previous, next) {
      if (textarea.value === previous.text) {
        textarea.value = next.text;
        drawGutter();
      }
      editState();
    },
  };
}
