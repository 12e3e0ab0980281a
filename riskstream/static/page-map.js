// Map: vehicles and yards with their geofence and last positions, one small map per
// site (each fitted to its own bounds, so a truck 500 km away does not shrink the rest).

import { duration, el, utc } from "./format.js";
import { inside, siteMap } from "./map.js";

function status(site) {
  const fixes = site.tracks.flatMap((t) => t.positions);
  if (!fixes.length) return { text: "no position reported", cls: "muted" };
  const last = fixes.reduce((a, b) => (b.ts > a.ts ? b : a));
  if (!site.site.geofence) return { text: "last fix " + utc(last.ts) + " UTC", cls: "", last };
  const ok = inside(last.lat, last.lon, site.site.geofence);
  return { text: (ok ? "inside" : "OUTSIDE") + " its geofence at " + utc(last.ts) + " UTC", cls: ok ? "ok" : "bad", last };
}

function siteCard(s, eventTime) {
  const st = status(s);
  const box = el("section", "card map-card");
  box.dataset.site = s.site.id;
  const link = el("a", null, s.borrower_id);
  link.href = "#/borrower/" + encodeURIComponent(s.borrower_id);
  const title = el("h3", null, (s.site.name || s.site.id) + " ");
  title.appendChild(el("span", "muted", s.site.kind + " · " + s.site.id));
  const meta = el("div", "map-meta");
  meta.append(el("span", null, "borrower "), link);
  meta.appendChild(el("span", null, " · lots " + (s.collateral_ids.join(", ") || "none")));
  if (s.open_alerts) meta.appendChild(el("span", "count-badge critical", s.open_alerts + " open alerts"));
  const fixes = s.tracks.reduce((n, t) => n + t.positions.length, 0);
  const age = st.last && eventTime ? " · " + duration(Math.max(0, eventTime - st.last.ts)) + " before event time" : "";
  const caption = el("div", "map-status " + st.cls, st.text + age);
  const note = el("div", "sub-figure", fixes + " GPS fixes shown (newest: large dot), geofence shaded; " +
    (st.last ? "last position lat " + st.last.lat.toFixed(5) + "°, lon " + st.last.lon.toFixed(5) + "°" : ""));
  box.append(title, meta, siteMap({ geofence: s.site.geofence, location: s.site.location, tracks: s.tracks }), caption, note);
  return box;
}

export async function renderMap(section, _arg, params) {
  const { api } = window.riskstream;
  const borrower = params.get("borrower");
  const q = new URLSearchParams({ positions: 50 });
  if (borrower) q.set("borrower", borrower);
  const [data, stats] = await Promise.all([api("/api/map?" + q), api("/api/stats")]);
  const head = el("div", "page-head", undefined, el("h2", null, "Vehicles and yards"),
    el("span", "sub", data.sites.length + " sites" + (borrower ? " of borrower " + borrower : "") +
      " · last 50 positions per tracker · event time " + utc(stats.event_time) + " UTC"));
  if (borrower) {
    const all = el("a", "button-link", "all borrowers");
    all.href = "#/map";
    head.appendChild(all);
  }
  const grid = el("div", "map-grid");
  grid.id = "map-grid";
  const sorted = [...data.sites].sort((a, b) => b.open_alerts - a.open_alerts || a.site.id.localeCompare(b.site.id));
  grid.append(...sorted.map((s) => siteCard(s, stats.event_time)));
  if (!sorted.length) grid.appendChild(el("p", "muted", "No vehicles or yards in your portfolio."));
  section.replaceChildren(head, grid);
}
