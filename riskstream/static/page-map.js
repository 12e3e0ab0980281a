// Map: vehicles and yards with their geofence and last positions, one small map per
// site (each fitted to its own bounds, so a truck 500 km away does not shrink the rest).

import { coordinate, duration, el, num, utc } from "./format.js";
import { inside, siteMap } from "./map.js";

function status(site) {
  const fixes = site.tracks.flatMap((t) => t.positions);
  if (!fixes.length) return { text: "no position reported", cls: "muted" };
  const last = fixes.reduce((a, b) => (b.ts > a.ts ? b : a));
  if (!site.site.geofence) return { text: "last fix " + utc(last.ts) + " UTC", cls: "", last };
  const ok = inside(last.lat, last.lon, site.site.geofence);
  return { text: (ok ? "inside" : "OUTSIDE") + " its geofence at " + utc(last.ts) + " UTC", cls: ok ? "ok" : "bad", last };
}

// the API's states (riskstream/api/map_state.py), in the order of attention
const STATES = [
  ["outside_fence", "outside fence"], ["moving", "moving"], ["parked", "parked"], ["no_position", "no position"],
];
const STATE_LABEL = Object.fromEntries(STATES);

function stateBadge(s) {
  const speed = s.speed_kmh !== null && s.state !== "no_position" ? " · " + num(s.speed_kmh, 0) + " km/h" : "";
  return el("span", "state-badge " + s.state, STATE_LABEL[s.state] + speed);
}

function siteCard(s, eventTime) {
  const st = status(s);
  const box = el("section", "card map-card");
  box.dataset.site = s.site.id;
  box.dataset.state = s.state;
  box.dataset.borrower = s.borrower_id;
  const link = el("a", null, s.borrower_id);
  link.href = "#/borrower/" + encodeURIComponent(s.borrower_id);
  const title = el("h3", null, (s.site.name || s.site.id) + " ");
  title.appendChild(el("span", "muted", s.site.kind + " · " + s.site.id));
  const meta = el("div", "map-meta");
  meta.append(stateBadge(s), el("span", null, " borrower "), link);
  meta.appendChild(el("span", null, " · lots " + (s.collateral_ids.join(", ") || "none")));
  if (s.open_alerts) meta.appendChild(el("span", "count-badge critical", s.open_alerts + (s.open_alerts === 1 ? " open alert" : " open alerts")));
  const fixes = s.tracks.reduce((n, t) => n + t.positions.length, 0);
  const age = st.last && eventTime ? " · " + duration(Math.max(0, eventTime - st.last.ts)) + " before event time" : "";
  const caption = el("div", "map-status " + st.cls, st.text + age);
  const note = el("div", "sub-figure", fixes + " GPS fixes shown (newest: large dot), geofence shaded; " +
    (st.last ? "last position lat " + coordinate(st.last.lat) + ", lon " + coordinate(st.last.lon) : ""));
  box.append(title, meta, siteMap({ geofence: s.site.geofence, location: s.site.location, tracks: s.tracks }), caption, note);
  return box;
}

function select(id, label, options, value) {
  const sel = el("select");
  sel.id = id;
  for (const [v, text] of options) {
    const opt = el("option", null, text);
    opt.value = v;
    sel.appendChild(opt);
  }
  sel.value = options.some(([v]) => v === value) ? value : "";
  return [el("label", null, label + " ", sel), sel];
}

// The map lists every vehicle and yard of the user's scope, those that need attention
// first (the API's order); ?borrower= and ?state= filter it, here in the page.
export async function renderMap(section, _arg, params) {
  const { api } = window.riskstream;
  const [data, stats] = await Promise.all([api("/api/map?positions=50"), api("/api/stats")]);
  const borrowers = [...new Set(data.sites.map((s) => s.borrower_id))].sort();
  const [borrowerLabel, borrowerSelect] = select("map-borrower", "Borrower",
    [["", "all borrowers"], ...borrowers.map((b) => [b, b])], params.get("borrower") || "");
  const [stateLabel, stateSelect] = select("map-state", "State",
    [["", "any state"], ...STATES.map(([v, text]) => [v, text])], params.get("state") || "");
  const filters = el("div", "map-filters", undefined, borrowerLabel, stateLabel);
  filters.id = "map-filters";
  const sub = el("span", "sub");
  const head = el("div", "page-head", undefined, el("h2", null, "Vehicles and yards"), sub);
  const order = el("p", "footnote", "Those that need attention first: outside their fence, then moving with open alerts, " +
    "moving, open alerts, parked, no position. Last 50 positions per tracker; event time " + utc(stats.event_time) + " UTC.");
  const grid = el("div", "map-grid");
  grid.id = "map-grid";

  const show = () => {
    const borrower = borrowerSelect.value;
    const state = stateSelect.value;
    const ofBorrower = data.sites.filter((s) => !borrower || s.borrower_id === borrower);
    const shown = ofBorrower.filter((s) => !state || s.state === state);
    // how many of the borrower's sites are in each state
    for (const opt of stateSelect.options) {
      if (opt.value) opt.textContent = STATE_LABEL[opt.value] + " (" + ofBorrower.filter((s) => s.state === opt.value).length + ")";
    }
    sub.textContent = shown.length + " of " + data.sites.length + " sites" + (borrower ? " of borrower " + borrower : "") +
      (state ? ", " + STATE_LABEL[state] : "");
    grid.replaceChildren(...shown.map((s) => siteCard(s, stats.event_time)));
    if (!shown.length) {
      grid.appendChild(el("p", "muted", data.sites.length ? "No vehicle or yard matches these filters." : "No vehicles or yards in your portfolio."));
    }
    const q = new URLSearchParams();
    if (borrower) q.set("borrower", borrower);
    if (state) q.set("state", state);
    const hash = "#/map" + (q.toString() ? "?" + q : "");
    if (location.hash !== hash) history.replaceState(null, "", hash);
  };
  borrowerSelect.addEventListener("change", show);
  stateSelect.addEventListener("change", show);
  show();
  section.replaceChildren(head, filters, order, grid);
}
